"""`signflow init --year YYYY [--roster FILE]`: a workspace for the year asked, not a copy
of the 2019 example."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from signflow.documents.context import document_context
from signflow.documents.data import load_data
from signflow.roster import load_roster

from .conftest import ROSTER


def test_init_year_gives_a_skeleton_of_that_year(cli, tmp_path):
    ws = tmp_path / "cum-2-2027"
    result = cli("init", ws, "--year", "2027")
    assert result.code == 0, result.err
    roster_text = (ws / "roster.toml").read_text(encoding="utf-8")
    data_text = (ws / "data.toml").read_text(encoding="utf-8")
    settings = (ws / "signflow.toml").read_text(encoding="utf-8")
    for name, text in (("roster", roster_text), ("data", data_text)):
        assert "2019" not in text, f"the {name} still speaks of 2019"
        assert "@NAM@" not in text, f"the {name} kept a year placeholder"
        years = {int(y) for y in re.findall(r"\b(20\d\d)-\d\d-\d\d\b", text)}
        assert years == {2027}, f"dates of the {name} are not all in 2027: {years}"
    # comments people read are Vietnamese
    for name, text in (("roster", roster_text), ("data", data_text), ("settings", settings)):
        comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
        assert comments, name
        english = [c for c in comments if re.search(r"\b(the|of|and|with|file)\b", c)]
        assert not english, f"English comments in the {name}: {english[:3]}"
    assert "Luật Thi đua, khen thưởng ngày 15 tháng 6 năm 2022" in data_text
    assert "98/2023/NĐ-CP" in data_text
    assert "91/2017" not in data_text, "a repealed decree among the legal bases"

    roster = load_roster(ws / "roster.toml")
    assert roster.cluster.year == 2027 and len(roster.members) == 6
    assert {m.province for m in roster.members} == {
        "Ninh Bình", "Hưng Yên", "Hải Phòng", "Bắc Ninh", "Phú Thọ", "Quảng Ninh"}
    city = roster.member("hai-phong")
    assert city.locality == "thành phố" and city.locality_name == "thành phố Hải Phòng"
    assert roster.member("quang-ninh").locality == "tỉnh"


def test_data_texts_use_roster_values_so_a_city_needs_no_overrides(cli, tmp_path):
    ws = tmp_path / "ws"
    assert cli("init", ws, "--year", "2026").code == 0
    roster = load_roster(ws / "roster.toml")
    data = load_data([ws / "data.toml"])
    city = document_context(roster, data, "ke-hoach-phat-dong", "hai-phong")["content"]
    province = document_context(roster, data, "ke-hoach-phat-dong", "phu-tho")["content"]
    assert "Thanh tra thành phố Hải Phòng ban hành Kế hoạch" in city["legal_basis"]
    assert "Thanh tra tỉnh Phú Thọ ban hành Kế hoạch" in province["legal_basis"]
    assert "Ủy ban nhân dân thành phố" in city["titles"][0]
    assert "{{" not in str(city) and "{{" not in str(province)


def test_a_misspelt_roster_value_in_the_data_is_an_error_naming_the_key(cli, tmp_path):
    ws = tmp_path / "ws"
    assert cli("init", ws, "--year", "2026").code == 0
    data = load_data([ws / "data.toml"])
    data["ke-hoach-phat-dong"]["participants"] = "Cán bộ thuộc {{ member.unt }}."
    with pytest.raises(Exception) as caught:
        document_context(load_roster(ws / "roster.toml"), data, "ke-hoach-phat-dong",
                         "hai-phong")
    message = str(caught.value)
    assert "ke-hoach-phat-dong" in message and "participants" in message, message
    assert "unt" in message, message


def test_honorifics_introduce_names_and_none_means_name_only(tmp_path):
    text = ROSTER.read_text(encoding="utf-8")
    roster = load_roster(ROSTER)
    assert roster.member("ha-nam").head.introduced == "bà Lê Thị Thu Hường"
    bare = tmp_path / "roster.toml"
    bare.write_text(text.replace('head.honorific = "bà"\n', ""), encoding="utf-8")
    plain = load_roster(bare)
    assert plain.member("ha-nam").head.introduced == "Lê Thị Thu Hường"
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('head.honorific = "bà"', 'head.honorific = "Ông/Bà"', 1),
                   encoding="utf-8")
    with pytest.raises(Exception) as caught:
        load_roster(bad)
    assert "honorific" in str(caught.value), caught.value


def test_member_numbers_are_per_member_or_blank(cli, tmp_path):
    """One number for every member is refused; without one the line is left for the
    clerical office (Decree 30/2020)."""
    ws = tmp_path / "ws"
    assert cli("init", ws, "--year", "2026").code == 0
    roster = load_roster(ws / "roster.toml")
    data = load_data([ws / "data.toml"])
    doc = document_context(roster, data, "dang-ky-thi-dua", "bac-ninh")["doc"]
    assert doc["number"] is None and doc["number_line"] == "Số:      /ĐK-TTr"
    data["members"] = {"bac-ninh": {"dang-ky-thi-dua": {"number": 4}}}
    assert document_context(roster, data, "dang-ky-thi-dua", "bac-ninh")["doc"][
        "number_line"] == "Số: 04/ĐK-TTr"
    assert document_context(roster, data, "dang-ky-thi-dua", "phu-tho")["doc"]["number"] is None
    data["dang-ky-thi-dua"]["number"] = 4
    with pytest.raises(Exception) as caught:
        document_context(roster, data, "dang-ky-thi-dua", "phu-tho")
    assert "[dang-ky-thi-dua].number" in str(caught.value), caught.value


def test_init_with_the_clusters_own_roster(cli, tmp_path):
    ws = tmp_path / "ws"
    result = cli("init", ws, "--roster", ROSTER)
    assert result.code == 0, result.err
    assert (ws / "roster.toml").read_text(encoding="utf-8") == ROSTER.read_text(encoding="utf-8")
    data_text = (ws / "data.toml").read_text(encoding="utf-8")
    assert "năm 2019" in data_text, "the data follows the roster's year"
    mismatch = cli("init", tmp_path / "other", "--roster", ROSTER, "--year", "2026")
    assert mismatch.code == 2, mismatch
    assert "2026" in mismatch.err and "2019" in mismatch.err, mismatch.err
    assert not (tmp_path / "other").exists()


def test_keys_demo_keeps_the_users_roster_comments_and_says_which_roster_is_next(cli, tmp_path):
    ws = tmp_path / "ws"
    assert cli("init", ws, "--year", "2026").code == 0
    original = (ws / "roster.toml").read_text(encoding="utf-8")
    result = cli("keys", "demo", "--roster", ws / "roster.toml", "--out", tmp_path / "pki")
    assert result.code == 0, result.err
    written = (tmp_path / "pki" / "roster.toml").read_text(encoding="utf-8")
    comments = [line for line in original.splitlines() if line.startswith("#")]
    assert comments and all(c in written for c in comments), "the user's comments were lost"
    roster = load_roster(tmp_path / "pki" / "roster.toml")
    assert all(m.head.certificate and m.seal_certificate for m in roster.members)
    assert roster.member("hai-phong").head.honorific == "ông"
    assert str(tmp_path / "pki" / "roster.toml") in result.out, result.out


def test_workspace_settings_serve_every_command(cli, tmp_path, monkeypatch):
    """Inside a workspace: templates check reads the workspace's templates, status and
    verify take the year's documents, and options signflow.toml gives are not shown as
    required."""
    ws = tmp_path / "ws"
    assert cli("init", ws, "--year", "2026").code == 0
    monkeypatch.chdir(ws)
    check = cli("templates", "check")
    assert check.code == 0, check.err
    assert str(ws / "templates") in check.out, check.out
    helped = cli("generate", "--help")
    assert "--roster" in helped.out and "bắt buộc" not in helped.out, helped.out
    none_yet = cli("status")
    assert none_yet.code == 2 and "signflow generate" in none_yet.err, none_yet.err
    assert cli("generate", "--only", "giao-uoc-thi-dua").code == 0
    status = cli("status", "--json")
    documents = json.loads(status.out)["documents"]
    assert [Path(d["file"]).name for d in documents] == ["giao-uoc-thi-dua-2026.pdf"], documents
    verify = cli("verify", "--json")
    assert verify.code == 1, verify  # nobody has signed yet: found and judged, not skipped
    assert json.loads(verify.out)["file"].endswith("giao-uoc-thi-dua-2026.pdf")
    monkeypatch.chdir(tmp_path)  # outside: required again, and files must be named
    outside = cli("generate", "--help")
    assert "bắt buộc" in outside.out, outside.out
    nothing = cli("status")
    assert nothing.code == 2 and "signflow init" in nothing.err, nothing.err
