from pathlib import Path

import pytest
from PIL import Image

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
signature_image = "."

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
    assert all(d.startswith(f"{path}: ") for d in details), text
    assert "cluster.date" in text and "'2019-02-30'" in text, text  # 30 February
    assert "cluster.leader" in text and "ha-noi" in text, text
    assert "cluster.colour" in text, text  # unknown key (typo guard)
    # members counted from 1, with the id written there ("thành viên thứ 1 (ninh-binh)")
    assert "members[" not in text, text
    assert " 1 (ninh-binh), signature_image" in text, text  # a folder, not an image
    assert " 2 (ninh-binh), head.certificate.sha256" in text, text
    assert " 3 (Hà Nam), id" in text and "'Hà Nam'" in text, text  # not a slug
    assert " 3 (Hà Nam), parent" in text, text  # missing
    assert " 3 (Hà Nam), symbol" in text, text
    assert len(details) >= 8, text


def test_duplicate_ids(tmp_path: Path):
    text = BROKEN.replace('head.certificate = { sha256 = "abc" }', "")
    path = tmp_path / "roster.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RosterError) as info:
        load_roster(path)
    assert any(" 2 (ninh-binh), id" in d and "'ninh-binh'" in d and " 1 (ninh-binh))" in d
               for d in info.value.details), info.value.details


def test_relative_image_paths_resolve_next_to_roster(tmp_path: Path):
    (tmp_path / "img").mkdir()
    Image.new("RGBA", (40, 20)).save(tmp_path / "img" / "sig.png")
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
    assert result.code == 2, result.err
    assert "lỗi" in result.err, result.err
    assert "cluster.leader" in result.err, result.err
    assert "Traceback" not in result.err, result.err
    assert not (tmp_path / "out").exists()


# --- signflow roster pin ---------------------------------------------------------------


def test_roster_pin_from_a_certificate_a_pkcs12_file_and_a_token(cli, demo_pki, tmp_path):
    import shutil

    from signflow.demo.softhsm import activate_softhsm

    roster_path = tmp_path / "roster.toml"
    shutil.copyfile(ROSTER, roster_path)
    comments = [line for line in ROSTER.read_text(encoding="utf-8").splitlines()
                if line.startswith("#")]
    head = demo_pki.credential("ninh-binh", "head")
    result = cli("roster", "pin", roster_path, "--member", "ninh-binh", "--cert",
                 head.cert_pem, "--yes")
    assert result.code == 0, result.err
    assert head.sha256 in result.out and "Đinh Văn Hùng" in result.out
    seal = demo_pki.credential("ha-nam", "seal")
    result = cli("roster", "pin", roster_path, "--member", "ha-nam", "--role", "seal",
                 "--pkcs12", seal.p12, "--passphrase-file", seal.passphrase_file, "--yes")
    assert result.code == 0, result.err
    assert seal.passphrase() not in result.out + result.err
    activate_softhsm(demo_pki.softhsm)
    token = demo_pki.credential("quang-ninh", "head")
    result = cli("roster", "pin", roster_path, "--member", "quang-ninh",
                 "--pkcs11-lib", demo_pki.softhsm.module, "--token-label",
                 demo_pki.softhsm.token_label, "--key-label", "quang-ninh-head",
                 "--pin-file", demo_pki.softhsm.pin_file, "--yes")
    assert result.code == 0, result.err
    roster = load_roster(roster_path)
    pinned = roster.member("ninh-binh").head.certificate
    assert pinned is not None and pinned.sha256 == head.sha256 and "Đinh Văn Hùng" in (
        pinned.subject or "")
    assert roster.member("ha-nam").seal_certificate.sha256 == seal.sha256
    assert roster.member("quang-ninh").head.certificate.sha256 == token.sha256
    assert roster.member("nam-dinh").head.certificate is None  # the others untouched
    text = roster_path.read_text(encoding="utf-8")
    assert all(line in text for line in comments), "the roster's comments are kept"


def test_a_pinned_roster_refuses_a_namesake_and_the_pin_checks_both(cli, demo_pki,
                                                                     pki_roster, tmp_path):
    import shutil

    from signflow.identity import match_certificate
    from signflow.roster import pin_certificate

    roster_path = tmp_path / "roster.toml"
    shutil.copyfile(ROSTER, roster_path)
    head = demo_pki.credential("ninh-binh", "head")
    namesake = demo_pki.credential("namesake")
    roster = pin_certificate(roster_path, "ninh-binh", "head", head.sha256, head.subject)
    member = roster.member("ninh-binh")

    def cert(c):
        from asn1crypto import pem, x509
        return x509.Certificate.load(pem.unarmor(c.cert_pem.read_bytes())[2])

    assert match_certificate(cert(head), member, "head").matches
    assert not match_certificate(cert(namesake), member, "head").matches
    # a fingerprint with a subject that does not agree: both must hold
    wrong = pin_certificate(roster_path, "ninh-binh", "head", head.sha256,
                            "CN=Đinh Văn Hùng, O=Thanh tra tỉnh Hòa Bình")
    assert not match_certificate(cert(head), wrong.member("ninh-binh"), "head").matches


def test_roster_pin_bad_input_is_one_line_and_leaves_the_roster(cli, demo_pki, tmp_path):
    import shutil

    roster_path = tmp_path / "roster.toml"
    shutil.copyfile(ROSTER, roster_path)
    before = roster_path.read_bytes()
    head = demo_pki.credential("ninh-binh", "head")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate", encoding="utf-8")
    for args, reason in (
        (("--member", "ninh-binh", "--cert", head.cert_pem), "--yes"),  # no terminal to ask
        (("--member", "ninh-binh", "--cert", head.cert_pem, "--pkcs12", head.p12, "--yes"),
         "chọn một nguồn chứng thư số"),
        (("--member", "ninh-binh", "--yes"), "chọn một nguồn chứng thư số"),
        (("--member", "ha-noi", "--cert", head.cert_pem, "--yes"), "mã 'ha-noi'"),
        (("--member", "ninh-binh", "--cert", junk, "--yes"),
         f"không đọc được chứng thư số {junk}"),
        (("--member", "ninh-binh", "--cert", tmp_path / "missing.pem", "--yes"),
         f"không đọc được chứng thư số {tmp_path / 'missing.pem'}"),
    ):
        result = cli("roster", "pin", roster_path, *args)
        assert result.code == 2, (args, result)
        lines = [line for line in result.err.splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in result.err, (args, result.err)
        assert reason in lines[0], (reason, result.err)
        assert roster_path.read_bytes() == before, args
    # a certificate that does not name the member is pinned only with a warning
    other = demo_pki.credential("nam-dinh", "head")
    result = cli("roster", "pin", roster_path, "--member", "ninh-binh", "--cert",
                 other.cert_pem, "--yes")
    assert result.code == 0 and "Đinh Văn Hùng" in result.err, result.err


def test_other_members_missing_images_do_not_stop_an_office(cli, tmp_path, pdf_pack):
    """An office receives the agreement and a roster without the other members' images:
    the roster loads; only signing as a member whose own image is missing fails, naming
    the file."""
    text = ROSTER.read_text(encoding="utf-8").replace(
        'head.name = "Bùi Thị Yến"', 'head.name = "Bùi Thị Yến"\nsignature_image = "anh/bty.png"')
    roster_path = tmp_path / "roster.toml"
    roster_path.write_text(text, encoding="utf-8")
    roster = load_roster(roster_path)
    assert roster.member("quang-ninh").signature_image == tmp_path / "anh" / "bty.png"
    import shutil

    pdf = tmp_path / "a.pdf"
    shutil.copyfile(pdf_pack / "cluster" / "giao-uoc-thi-dua-2019.pdf", pdf)
    (tmp_path / "pw").write_text("x")
    result = cli("sign", pdf, "--roster", roster_path, "--member", "quang-ninh",
                 "--pkcs12", tmp_path / "none.p12", "--passphrase-file", tmp_path / "pw")
    assert result.code == 2, result
    assert "anh/bty.png" in result.err and "quang-ninh" in result.err, result.err
