"""Hand-off through any channel (issue 16.1): `signflow send` writes a package per office,
each office signs its part wherever it is, and `signflow receive` takes the file back only
when it strictly continues the newest file the ledger knows. The whole round is played
offline on the 2019 agreement with real signatures: nine offices, two of them racing, one
returning a stale copy, tampered files, a file of another document.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from .conftest import append_change, fresh_agreement_folder, open_credential
from .test_attacks import overlay_page_one

AGREEMENT = "giao-uoc-thi-dua-2019.pdf"


class Secretariat:
    """The cluster's secretariat: its copy of the agreement, its ledger, the CLI."""

    def __init__(self, cli, pki, pdf_pack: Path, folder: Path, tsa: str | None = None):
        from signflow.ledger import Ledger

        self.cli, self.pki, self.tsa = cli, pki, tsa
        self.pdf, self.ledger = fresh_agreement_folder(pdf_pack / "cluster" / AGREEMENT, folder)
        with Ledger(self.ledger) as ledger:  # generate registers the pack the same way
            ledger.observe(self.pdf, self.pdf.read_bytes())
        self.mail = folder.parent / "mail"
        self.sent = 0

    def send(self, member: str, *extra: str) -> Path:
        """A package for ``member`` (a new folder each time); returns the PDF in it."""
        self.sent += 1
        out = self.mail / f"{self.sent:02d}-{member}"
        result = self.cli("send", self.pdf, "--member", member, "--out", out, "--roster",
                          self.pki.roster_path, "--trust", self.pki.root_pem, "--ledger",
                          self.ledger, *extra)
        assert result.code == 0, result
        return out / self.pdf.name

    def receive(self, *files: Path, json_out: bool = False):
        args = ["receive", *files, "--roster", self.pki.roster_path, "--trust",
                self.pki.root_pem, "--ledger", self.ledger]
        if self.tsa:
            args += ["--tsa", self.tsa]
        result = self.cli(*args, *(["--json"] if json_out else []))
        assert "Traceback" not in result.err, result.err
        return result


def office_signs(pdf: Path, pki, member: str, roles=("head", "seal"), settings=None) -> Path:
    """The office signs its copy with the roster it was sent (only its own images)."""
    from signflow.roster import load_roster
    from signflow.signing.signer import sign_documents

    roster = load_roster(pdf.parent / "roster.toml")
    for role in roles:
        with open_credential(pki, member, role) as cred:
            sign_documents([pdf], roster, member, role, cred, settings)
    return pdf


def office_signs_by_cli(cli, pdf: Path, pki, member: str) -> Path:
    """The same with the command lines of the instruction sheet (a PKCS#12 file)."""
    for role in ("head", "seal"):
        cred = pki.credential(member, role)
        result = cli("sign", pdf, "--roster", pdf.parent / "roster.toml", "--member", member,
                     "--role", role, "--pkcs12", cred.p12, "--passphrase-file",
                     cred.passphrase_file)
        assert result.code == 0, result
    return pdf


def sign_with_extra_content(pdf: Path, field: str, credential) -> None:
    """A signature whose own revision also draws over page 1: what a member (or someone
    with a member's key) can try, since it writes that revision."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import SigSeedSubFilter

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf.read_bytes()), strict=False)
    overlay_page_one(writer)
    meta = signers.PdfSignatureMetadata(field_name=field, md_algorithm="sha256",
                                        subfilter=SigSeedSubFilter.PADES)
    out = io.BytesIO()
    signers.PdfSigner(meta, signer=credential.signer).sign_pdf(writer, output=out)
    pdf.write_bytes(out.getvalue())


def revisions(pdf: Path) -> int:
    from signflow.pdf.reader import revision_ends

    return len(revision_ends(pdf.read_bytes()))


def test_a_round_by_any_channel(cli, pdf_pack, demo_pki, pki_roster, tmp_path, monkeypatch):
    from signflow.demo.services import serve_pki
    from signflow.identity import load_trust_roots
    from signflow.ledger import Ledger
    from signflow.ledger_audit import audit_ledger
    from signflow.signing.signer import SignSettings
    from signflow.validation.verify import VerifyPolicy, verify_file

    monkeypatch.chdir(tmp_path)
    with serve_pki(demo_pki):  # only to timestamp the ledger: every check is offline
        office = Secretariat(cli, demo_pki, pdf_pack, tmp_path / "secretariat",
                             tsa=demo_pki.tsa_url)
        assert revisions(office.pdf) == 2

        # 1. the leader's office signs and sends the file back
        copy = office_signs(office.send("ninh-binh"), demo_pki, "ninh-binh")
        result = office.receive(copy)
        assert result.code == 0, result
        assert "đã nhận: lần cập nhật 3-4" in result.out, result.out
        assert "đã ký: Ninh Bình (người đứng đầu), Đinh Văn Hùng; Ninh Bình (con dấu)" \
            in result.out, result.out
        assert "tiếp theo: người đứng đầu ký: Nam Định, Hà Nam" in result.out, result.out
        assert office.pdf.read_bytes() == copy.read_bytes()
        first_state = copy
        early_hung_yen = office.send("hung-yen")  # signed much later: a stale copy

        # 2. two offices sent the same revision both sign it: the first one back wins
        nam_dinh = office_signs(office.send("nam-dinh"), demo_pki, "nam-dinh")
        ha_nam = office_signs(office.send("ha-nam"), demo_pki, "ha-nam")
        assert office.receive(nam_dinh).code == 0
        newest = office.pdf.read_bytes()
        returned = ha_nam.read_bytes()
        result = office.receive(ha_nam)
        assert result.code == 1, result
        out = result.out
        assert "BỊ TỪ CHỐI: bản cũ" in out and "hai nhánh tách nhau sau lần cập nhật 4" in out, out
        assert f"nhánh bản mới nhất ({office.pdf}), lần cập nhật 5-6: Nam Định (người đứng " \
            "đầu), Trần Quốc Việt; Nam Định (con dấu)" in out, out
        assert "nhánh bản gửi về, lần cập nhật 5-6: Hà Nam (người đứng đầu)" in out, out
        assert "nếu nhận bản này, các chữ ký sau sẽ bị mất: Nam Định (người đứng đầu)" in out, out
        assert "phải ký lại trên bản mới nhất: Hà Nam (người đứng đầu), Lê Thị Thu Hường; " \
            "Hà Nam (con dấu)" in out, out
        assert "không tệp nào bị ghi đè" in out, out
        assert office.pdf.read_bytes() == newest  # nothing overwritten
        assert ha_nam.read_bytes() == returned  # the file received is never touched
        # the office signs the newest file again, and it is accepted
        again = office_signs(office.send("ha-nam"), demo_pki, "ha-nam")
        assert office.receive(again).code == 0

        # 3. an ordinary return, signed with signature timestamps (B-T)
        b_t = SignSettings(level="B-T", tsa_url=demo_pki.tsa_url)
        assert office.receive(office_signs(office.send("thai-binh"), demo_pki, "thai-binh",
                                           settings=b_t)).code == 0

        # 4. a stale copy: the package sent after the first signatures, signed now
        office_signs(early_hung_yen, demo_pki, "hung-yen")
        newest = office.pdf.read_bytes()
        result = office.receive(early_hung_yen, json_out=True)
        assert result.code == 1, result
        (stale,) = json.loads(result.out)["files"]
        assert stale["result"] == "stale" and stale["forked_after"] == 4, stale
        assert stale["newest"] == 10 and stale["revisions"] == 6, stale
        lost = [(n["member"], n["role"]) for n in stale["lost"]]
        assert lost == [(m, r) for m in ("nam-dinh", "ha-nam", "thai-binh")
                        for r in ("head", "seal")], lost
        assert [(n["member"], n["role"]) for n in stale["redo"]] == [
            ("hung-yen", "head"), ("hung-yen", "seal")], stale
        assert office.pdf.read_bytes() == newest
        assert office.receive(office_signs(office.send("hung-yen"), demo_pki,
                                           "hung-yen")).code == 0

        # 5. tampered: the head's own signing revision also draws over page 1
        tampered = office.send("hai-duong")
        with open_credential(demo_pki, "hai-duong", "head") as cred:
            sign_with_extra_content(tampered, "sf-head-hai-duong", cred)
        newest = office.pdf.read_bytes()
        result = office.receive(tampered)
        assert result.code == 1, result
        assert "BỊ TỪ CHỐI: không phải phần nối tiếp hợp lệ" in result.out, result.out
        assert "lần cập nhật 13: một trang bị thay đổi: /Contents" in result.out, result.out
        assert office.pdf.read_bytes() == newest
        # ... and a genuine signing followed by a revision that changes the page
        tampered = office_signs(office.send("hai-duong"), demo_pki, "hai-duong")
        append_change(tampered, overlay_page_one)
        result = office.receive(tampered)
        assert result.code == 1, result
        assert "lần cập nhật 15: một trang bị thay đổi: /Contents" in result.out, result.out
        assert office.pdf.read_bytes() == newest
        assert office.receive(office_signs(office.send("hai-duong"), demo_pki,
                                           "hai-duong")).code == 0

        # 6. a file of another document
        other = pdf_pack / "ninh-binh" / "ke-hoach-phat-dong-ninh-binh-2019.pdf"
        result = office.receive(other)
        assert result.code == 1, result
        assert "BỊ TỪ CHỐI: sổ ghi không có văn bản này" in result.out, result.out
        assert "lưu lại bằng chương trình khác" in result.out, result.out

        # 7. the last three, one with the command lines of the instruction sheet
        assert office.receive(office_signs_by_cli(cli, office.send("bac-ninh"), demo_pki,
                                                  "bac-ninh")).code == 0
        assert office.receive(office_signs(office.send("vinh-phuc"), demo_pki, "vinh-phuc",
                                           settings=b_t)).code == 0
        last = office_signs(office.send("quang-ninh"), demo_pki, "quang-ninh")
        result = office.receive(last)
        assert result.code == 0, result
        assert "đã đủ mọi chữ ký: văn bản hoàn tất" in result.out, result.out

    # the same file again, and an older state: nothing new, nothing written
    newest = office.pdf.read_bytes()
    result = office.receive(last)
    assert result.code == 0 and "không có gì mới: đây đúng là bản mới nhất" in result.out, result
    result = office.receive(first_state)
    assert result.code == 0 and "không có gì mới: một bản cũ hơn" in result.out, result
    assert "(lần cập nhật 4/" in result.out, result.out
    assert office.pdf.read_bytes() == newest

    # every member signed, the agreement verifies complete, the ledger's audit is clean
    verdict = verify_file(office.pdf, VerifyPolicy(trust_roots=(demo_pki.root_pem,),
                                                   roster=pki_roster))
    assert verdict.ok and verdict.complete, (verdict.problems, verdict.missing)
    assert len([s for s in verdict.signatures if not s.is_timestamp]) == 18
    with Ledger(office.ledger, read_only=True) as ledger:
        audit = audit_ledger(ledger, load_trust_roots([demo_pki.root_pem]))
        events = ledger.events()
    assert audit.problems == [], audit.problems
    assert audit.documents_compared == 1
    received = [e for e in events if e.action == "received"]
    refused = [e for e in events if e.action == "receive-refused"]
    assert len(received) == 9  # each member once: refused copies were signed again
    assert len(refused) == 5, [e.details for e in refused]
    assert all(e.path == "giao-uoc.pdf" for e in received), received
    result = cli("log", "--ledger", office.ledger, "--verify", "--trust", demo_pki.root_pem)
    assert result.code == 0, result
    assert "nhận bản đã ký" in result.out and "từ chối bản gửi về" in result.out, result.out


def test_a_tampered_first_signature_is_refused(cli, pdf_pack, demo_pki, tmp_path):
    """The first signature's own revision is judged against the prepared document the
    ledger knows (nothing else judges it: it defines what later signatures are compared
    with)."""
    office = Secretariat(cli, demo_pki, pdf_pack, tmp_path / "secretariat")
    copy = office.send("ninh-binh")
    with open_credential(demo_pki, "ninh-binh", "head") as cred:
        sign_with_extra_content(copy, "sf-head-ninh-binh", cred)
    before = office.pdf.read_bytes()
    result = office.receive(copy)
    assert result.code == 1, result
    assert "lần cập nhật 3: một trang bị thay đổi: /Contents" in result.out, result.out
    assert office.pdf.read_bytes() == before


def test_a_signature_made_with_another_certificate_is_refused(cli, pdf_pack, demo_pki,
                                                              tmp_path):
    """A member's field signed with a certificate the roster does not expect (another
    person's, from the same CA)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import SigSeedSubFilter

    from signflow.signing.credentials import open_pkcs12

    office = Secretariat(cli, demo_pki, pdf_pack, tmp_path / "secretariat")
    copy = office.send("nam-dinh")
    outsider = demo_pki.credential("outsider")
    cred = open_pkcs12(outsider.p12, outsider.passphrase().encode())
    writer = IncrementalPdfFileWriter(io.BytesIO(copy.read_bytes()), strict=False)
    out = io.BytesIO()
    signers.PdfSigner(signers.PdfSignatureMetadata(
        field_name="sf-head-nam-dinh", md_algorithm="sha256",
        subfilter=SigSeedSubFilter.PADES), signer=cred.signer).sign_pdf(writer, output=out)
    copy.write_bytes(out.getvalue())
    result = office.receive(copy)
    assert result.code == 1, result
    assert "sf-head-nam-dinh (Người Ngoài Cụm)" in result.out, result.out
    assert "chứng thư" in result.out, result.out


def test_send_writes_the_package_for_one_office(cli, pdf_pack, demo_pki, tmp_path):
    from signflow.roster import load_roster

    office = Secretariat(cli, demo_pki, pdf_pack, tmp_path / "secretariat")
    pdf = office.send("ha-nam", "--zip", "--contact", "vanphong.cum2@example.vn")
    folder = pdf.parent
    assert pdf.read_bytes() == office.pdf.read_bytes()
    # the roster: every member, with its pins and comments, but only this office's images
    text = (folder / "roster.toml").read_text(encoding="utf-8")
    assert "# Roster of Cụm Thi đua số 2" in text
    images = [line.split("=", 1)[1].strip() for line in text.splitlines()
              if line.startswith(("signature_image", "seal_image"))]
    assert images == ['"images/ha-nam-signature.png"', '"images/ha-nam-seal.png"'], images
    roster = load_roster(folder / "roster.toml")
    assert len(roster.members) == 9
    for member in roster.members:
        if member.id == "ha-nam":
            assert member.signature_image == folder / "images" / "ha-nam-signature.png"
            assert member.signature_image.is_file() and member.seal_image.is_file()
        else:
            assert member.signature_image is None and member.seal_image is None, member.id
        assert member.head.certificate is not None  # the pins travel: verify works there
    assert sorted(p.name for p in (folder / "images").iterdir()) == [
        "ha-nam-seal.png", "ha-nam-signature.png"]
    assert (folder / "trust" / "root.pem").read_bytes() == demo_pki.root_pem.read_bytes()
    # the instruction sheet, in Vietnamese, for Notepad
    raw = (folder / "HUONG-DAN.txt").read_bytes()
    assert raw.startswith("\ufeff".encode()) and b"\r\n" in raw
    sheet = raw.decode("utf-8-sig")
    assert sheet.startswith("HƯỚNG DẪN KÝ SỐ")
    assert "Gửi: Thanh tra tỉnh Hà Nam (ha-nam)" in sheet
    assert "chữ ký của Chánh Thanh tra Lê Thị Thu Hường" in sheet
    assert ('signflow sign "giao-uoc.pdf" --roster roster.toml --member ha-nam --role head '
            "--pkcs11-lib THƯ-VIỆN-TOKEN") in sheet
    assert "--role seal" in sheet
    assert 'signflow verify "giao-uoc.pdf" --roster roster.toml --trust trust/root.pem' in sheet
    assert "cho văn phòng Cụm (Thanh tra tỉnh Ninh Bình)" in sheet
    assert "Liên hệ: vanphong.cum2@example.vn" in sheet
    assert "không mở rồi lưu lại tệp bằng chương trình khác" in sheet
    # the zip holds the same
    with zipfile.ZipFile(folder.parent / f"{folder.name}.zip") as zf:
        names = set(zf.namelist())
    assert {f"{folder.name}/giao-uoc.pdf", f"{folder.name}/roster.toml",
            f"{folder.name}/HUONG-DAN.txt", f"{folder.name}/images/ha-nam-seal.png",
            f"{folder.name}/trust/root.pem"} <= names, names
    # the office signs there with what it was sent, and verifies it there
    office_signs(pdf, demo_pki, "ha-nam")
    result = cli("verify", pdf, "--roster", folder / "roster.toml", "--trust",
                 folder / "trust" / "root.pem")
    assert result.code == 1 and "Hà Nam" in result.out, result  # incomplete, signed ok
    # the sending is in the ledger
    result = cli("log", "--ledger", office.ledger)
    assert "gửi đi ký" in result.out and "ha-nam" in result.out, result.out


def test_send_refuses_what_would_come_back_stale_or_has_nothing_to_sign(
        cli, pdf_pack, demo_pki, tmp_path):
    office = Secretariat(cli, demo_pki, pdf_pack, tmp_path / "secretariat")
    signed = office_signs(office.send("ninh-binh"), demo_pki, "ninh-binh")
    # an older file than the ledger's newest cannot be sent
    assert office.receive(signed).code == 0
    old = tmp_path / "old.pdf"
    old.write_bytes(office.pdf.read_bytes()[:_end(office.pdf, 2)])
    result = cli("send", old, "--member", "nam-dinh", "--out", tmp_path / "x", "--roster",
                 demo_pki.roster_path, "--ledger", office.ledger)
    assert result.code == 2, result
    assert "không phải bản mới nhất sổ ghi biết" in result.err, result.err
    assert not (tmp_path / "x").exists()
    # a member who has signed all it has to
    result = cli("send", office.pdf, "--member", "ninh-binh", "--out", tmp_path / "y",
                 "--roster", demo_pki.roster_path, "--ledger", office.ledger)
    assert result.code == 2 and "đã ký đủ" in result.err, result


def _end(pdf: Path, revision: int) -> int:
    from signflow.pdf.reader import revision_ends

    return revision_ends(pdf.read_bytes())[revision - 1]


def test_receive_cannot_do_its_job(cli, pdf_pack, demo_pki, tmp_path):
    office = Secretariat(cli, demo_pki, pdf_pack, tmp_path / "secretariat")
    copy = office_signs(office.send("ninh-binh"), demo_pki, "ninh-binh")
    base = ["--roster", demo_pki.roster_path, "--trust", demo_pki.root_pem]
    # no ledger, no trust roots, an unreadable file: exit 2, nothing written
    result = cli("receive", copy, *base, "--ledger", tmp_path / "none.sqlite")
    assert result.code == 2 and "không tìm thấy sổ ghi ký số" in result.err, result
    assert not (tmp_path / "none.sqlite").exists()
    result = cli("receive", copy, "--roster", demo_pki.roster_path, "--ledger", office.ledger)
    assert result.code == 2 and "--trust" in result.err, result
    garbage = tmp_path / "garbage.pdf"
    garbage.write_bytes(b"not a pdf at all")
    result = office.receive(garbage)
    assert result.code == 2 and "không phải tệp PDF" in result.err, result
    # the secretariat's file was changed behind the ledger's back: never written over
    before = office.pdf.read_bytes()
    append_change(office.pdf, overlay_page_one)  # a revision the ledger never saw
    changed = office.pdf.read_bytes()
    result = office.receive(copy)
    assert result.code == 2, result
    assert "có những lần cập nhật sổ ghi chưa ghi nhận" in result.err, result.err
    assert office.pdf.read_bytes() == changed
    office.pdf.write_bytes(before[:-40] + b" " * 40)  # its last revision rewritten
    result = office.receive(copy)
    assert result.code == 2, result
    assert "tệp của văn phòng Cụm" in result.err and "không phải bản mới nhất" in result.err, \
        result.err
    office.pdf.write_bytes(before)
    assert office.receive(copy).code == 0


@pytest.mark.parametrize(("junk", "code", "said"), [
    (b"\n% appended after signing\n", 1, "có thêm dữ liệu không phải là một lần cập nhật"),
    (b"%%EOF\n", 2, "không đọc được tệp PDF"),  # no longer a PDF pyHanko reads
])
def test_bytes_appended_after_the_newest_revision(cli, pdf_pack, demo_pki, tmp_path, junk,
                                                  code, said):
    office = Secretariat(cli, demo_pki, pdf_pack, tmp_path / "secretariat")
    copy = office_signs(office.send("ninh-binh"), demo_pki, "ninh-binh")
    assert office.receive(copy).code == 0
    copy.write_bytes(copy.read_bytes() + junk)
    before = office.pdf.read_bytes()
    result = office.receive(copy)
    assert result.code == code, result
    assert said in result.out + result.err, result
    assert office.pdf.read_bytes() == before


def test_send_and_receive_take_the_workspace_settings(cli, pdf_pack, demo_pki, tmp_path,
                                                      monkeypatch):
    """Inside a workspace the roster, trust roots and ledger come from signflow.toml."""
    office = Secretariat(cli, demo_pki, pdf_pack, tmp_path / "secretariat")
    folder = office.pdf.parent
    (folder / "signflow.toml").write_text(
        "[workspace]\n"
        f'roster = "{demo_pki.roster_path}"\n'
        f'trust = ["{demo_pki.root_pem}"]\n'
        'ledger = "ledger.sqlite"\n', encoding="utf-8")
    monkeypatch.chdir(folder)
    result = cli("send", "giao-uoc.pdf", "--member", "bac-ninh", "--out", tmp_path / "bn")
    assert result.code == 0, result
    assert (tmp_path / "bn" / "trust" / "root.pem").is_file()
    copy = office_signs(tmp_path / "bn" / "giao-uoc.pdf", demo_pki, "bac-ninh", ("head",))
    result = cli("receive", copy)
    assert result.code == 0, result
    assert "tiếp theo: người đứng đầu ký: Ninh Bình" in result.out, result.out
    assert "đóng dấu: Bắc Ninh" in result.out, result.out
