from pathlib import Path

import pytest

from signflow.errors import InputError
from signflow.roster import RosterError, load_roster

from .conftest import ROSTER


def test_example_roster_has_nine_members():
    roster = load_roster(ROSTER)
    assert roster.cluster.name == "Cụm Thi đua số 2"
    assert roster.cluster.year == 2019
    assert len(roster.members) == 9
    assert roster.cluster.leader in roster.member_ids
    qn = roster.member("quang-ninh")
    assert qn.unit == "Thanh tra tỉnh Quảng Ninh"
    assert qn.parent == "UBND tỉnh Quảng Ninh"


BROKEN = """
[cluster]
name = "Cụm 2"
full_name = "Cụm Thi đua số 2"
year = 2019
place = "Ninh Bình"
date = "2019-02-30"
leader = "ha-noi"
colour = "blue"

[[members]]
id = "ninh-binh"
province = "Ninh Bình"
unit = "Thanh tra tỉnh Ninh Bình"
parent = "UBND tỉnh Ninh Bình"
place = "Ninh Bình"
symbol = "TTr"
head.name = "A"
head.title = "Chánh Thanh tra"
signature_image = "missing.png"

[[members]]
id = "ninh-binh"
province = "Nam Định"
unit = "Thanh tra tỉnh Nam Định"
parent = "UBND tỉnh Nam Định"
place = "Nam Định"
symbol = "TTr"
head.name = "B"
head.title = "Chánh Thanh tra"
head.certificate = { sha256 = "abc" }

[[members]]
id = "Hà Nam"
province = "Hà Nam"
unit = "Thanh tra tỉnh Hà Nam"
place = "Hà Nam"
symbol = "KH/TTr"
head.name = "C"
head.title = "Chánh Thanh tra"
"""


def test_every_problem_reported_at_once_with_file_and_key(tmp_path: Path):
    path = tmp_path / "roster.toml"
    path.write_text(BROKEN, encoding="utf-8")
    with pytest.raises(RosterError) as info:
        load_roster(path)
    details = info.value.details
    text = "\n".join(details)
    assert all(d.startswith(f"{path}: ") for d in details)
    assert "cluster.date" in text  # 30 February
    assert "cluster.leader" in text and "ha-noi" in text
    assert "cluster.colour" in text  # unknown key (typo guard)
    assert "members[0].signature_image" in text and "missing.png" in text
    assert "members[1].head.certificate.sha256" in text
    assert "members[2].id" in text  # not a slug
    assert "members[2].parent" in text  # missing
    assert "members[2].symbol" in text
    assert len(details) >= 8


def test_duplicate_ids(tmp_path: Path):
    text = BROKEN.replace('head.certificate = { sha256 = "abc" }', "")
    path = tmp_path / "roster.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RosterError) as info:
        load_roster(path)
    assert any("members[1].id" in d and "ninh-binh" in d for d in info.value.details)


def test_relative_image_paths_resolve_next_to_roster(tmp_path: Path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "sig.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    text = ROSTER.read_text(encoding="utf-8").replace(
        'head.name = "Bùi Thị Yến"', 'head.name = "Bùi Thị Yến"\nsignature_image = "img/sig.png"'
    )
    path = tmp_path / "roster.toml"
    path.write_text(text, encoding="utf-8")
    roster = load_roster(path)
    assert roster.member("quang-ninh").signature_image == tmp_path / "img" / "sig.png"


def test_not_toml(tmp_path: Path):
    path = tmp_path / "roster.toml"
    path.write_text("[cluster\nname=", encoding="utf-8")
    with pytest.raises(InputError, match="TOML"):
        load_roster(path)


def test_cli_reports_roster_problems_in_vietnamese(cli, tmp_path: Path):
    path = tmp_path / "roster.toml"
    path.write_text(BROKEN, encoding="utf-8")
    result = cli("generate", "--roster", path, "--data", path, "--out", tmp_path / "out")
    assert result.code == 2
    assert "lỗi" in result.err
    assert "cluster.leader" in result.err
    assert "Traceback" not in result.err
    assert not (tmp_path / "out").exists()
