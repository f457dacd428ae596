"""Signing: fields, PKCS#12 and a real SoftHSM2 token, refusals, atomicity, appearances."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from signflow.demo.services import serve_pki
from signflow.documents.fields import signature_fields
from signflow.errors import SigningError
from signflow.pdf.anchors import find_anchors
from signflow.signing.signer import sign_documents

from .conftest import (
    HSM_MEMBERS,
    ROOT,
    add_annotation,
    append_change,
    open_credential,
    require_tool,
    sign_all,
    sign_departments,
)


def copy(src: Path, dst: Path) -> Path:
    shutil.copyfile(src, dst)
    dst.chmod(0o644)
    return dst


@pytest.fixture
def vietnamese(monkeypatch):
    """Messages in Vietnamese, whatever language an earlier test left set."""
    from signflow import i18n

    monkeypatch.setattr(i18n, "_language", "vi")


def fresh_agreement(pdf_pack: Path, tmp_path: Path) -> Path:
    return copy(pdf_pack / "cluster" / "giao-uoc-thi-dua-2019.pdf", tmp_path / "agreement.pdf")


def test_prepared_pack_has_one_field_per_member_and_role(pdf_pack, pki_roster):
    fields = signature_fields(pdf_pack / "cluster" / "giao-uoc-thi-dua-2019.pdf")
    expected = {f"sf-{role}-{m.id}" for m in pki_roster.members for role in ("head", "seal")}
    assert set(fields) == expected and not any(fields.values())
    member_doc = signature_fields(pdf_pack / "ha-nam" / "ke-hoach-phat-dong-ha-nam-2019.pdf")
    assert set(member_doc) == {"sf-head-ha-nam", "sf-seal-ha-nam"}


def test_eighteen_signatures_validate_in_pyhanko(signed_agreement, demo_pki):
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.diff_analysis import ModificationLevel
    from pyhanko.sign.general import load_cert_from_pemder
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    root = load_cert_from_pemder(str(demo_pki.root_pem))
    with signed_agreement.open("rb") as f:
        reader = PdfFileReader(f)
        sigs = reader.embedded_signatures
        assert len(sigs) == 18
        for i, sig in enumerate(sigs):
            vc = ValidationContext(trust_roots=[root], allow_fetching=False,
                                   revocation_mode="soft-fail")
            status = validate_pdf_signature(sig, vc)
            assert status.intact and status.valid, sig.field_name
            assert status.trusted, (sig.field_name, status.trust_problem_indic)
            assert sig.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
            assert status.md_algorithm == "sha256"
            expected = ModificationLevel.NONE if i == len(sigs) - 1 else \
                ModificationLevel.FORM_FILLING
            assert status.modification_level == expected, sig.field_name


def test_pdfsig_calls_every_signature_valid(signed_agreement):
    pdfsig = require_tool("pdfsig")
    out = subprocess.run([pdfsig, str(signed_agreement)], capture_output=True, text=True).stdout
    assert out.count("Signature is Valid") == 18, out
    assert "ETSI.CAdES.detached" in out


def test_signed_pdf_keeps_pdfa_metadata_consistent(signed_agreement):
    from signflow.documents.convert import pdf_facts

    assert pdf_facts(signed_agreement).pdfa == "2b"
    meta = subprocess.run(["pdfinfo", "-meta", str(signed_agreement)], capture_output=True,
                          text=True).stdout
    info = subprocess.run(["pdfinfo", str(signed_agreement)], capture_output=True,
                          text=True).stdout
    xmp_producer = re.search(r'pdf:Producer(?:="|>)([^"<]*)', meta).group(1)
    info_producer = re.search(r"Producer:\s+(.*)", info).group(1).strip()
    assert xmp_producer == info_producer
    fonts = subprocess.run(["pdffonts", str(signed_agreement)], capture_output=True,
                           text=True).stdout.splitlines()[2:]
    assert fonts and all(line.split()[-5] == "yes" for line in fonts), fonts


def test_appearances_placed_as_the_decree_says(signed_agreement, artefacts):
    """Blue signature inside the head's box; red seal over its left third."""
    from PIL import Image

    require_tool("pdftoppm")
    anchors = {(a.member, a.role): a for a in find_anchors(signed_agreement)}
    boxes = _widget_boxes(signed_agreement)
    head = boxes["sf-head-ninh-binh"]
    seal = boxes["sf-seal-ninh-binh"]
    page = anchors[("ninh-binh", "head")].page
    dpi = 100
    out = artefacts / "signed-agreement-signatures"
    subprocess.run(["pdftoppm", "-r", str(dpi), "-f", str(page + 1), "-l", str(page + 1),
                    "-png", "-singlefile", str(signed_agreement), str(out)], check=True)
    img = Image.open(f"{out}.png").convert("RGB")
    height_pt = img.height * 72 / dpi

    def region(box):
        x0, y0, x1, y1 = box
        s = dpi / 72
        return img.crop((int(x0 * s), int((height_pt - y1) * s), int(x1 * s),
                         int((height_pt - y0) * s)))

    def count(im, pred):
        raw = im.tobytes()
        return sum(1 for i in range(0, len(raw), 3) if pred(raw[i], raw[i + 1], raw[i + 2]))

    blue = lambda r, g, b: b > 120 and b > r + 50 and b > g + 30  # noqa: E731
    red = lambda r, g, b: r > 150 and r > g + 80 and r > b + 80  # noqa: E731
    head_img = region(head)
    right_two_thirds = region((head[0] + (head[2] - head[0]) / 3, head[1], head[2], head[3]))
    assert count(right_two_thirds, blue) > 200, "no blue signature in the head's box"
    assert count(region(seal), red) > 500, "no red seal in the seal's box"
    assert count(head_img, red) > 50, "the seal does not overlap the signature"
    # the seal covers the left third of the signature, not its right part
    assert seal[2] <= head[0] + (head[2] - head[0]) / 3 + 1
    seal_mm = (seal[2] - seal[0]) * 25.4 / 72
    assert abs(seal_mm - 34) < 0.5  # real size


def _widget_boxes(pdf: Path) -> dict[str, tuple[float, ...]]:
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.fields import enumerate_sig_fields

    with pdf.open("rb") as f:
        reader = PdfFileReader(f)
        return {name: tuple(float(c) for c in ref.get_object()["/Rect"])
                for name, _v, ref in enumerate_sig_fields(reader)}


def test_text_appearance_without_images(pdf_pack, demo_pki, pki_roster, tmp_path):
    """A member without configured images gets name, unit and +07:00 time as text."""
    from signflow.roster import load_roster

    text = demo_pki.roster_path.read_text(encoding="utf-8")
    text = re.sub(r'(?m)^(signature_image|seal_image) = .*\n', "", text)
    roster_path = tmp_path / "roster.toml"
    roster_path.write_text(text, encoding="utf-8")
    roster = load_roster(roster_path)
    assert roster.member("ha-nam").signature_image is None
    pdf = copy(pdf_pack / "ha-nam" / "ke-hoach-phat-dong-ha-nam-2019.pdf", tmp_path / "kh.pdf")
    sign_all(pdf, demo_pki, roster, members={"ha-nam"})
    out = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    assert "Lê Thị Thu Hường" in out
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00", out)
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True).stdout
    assert all(line.split()[-5] == "yes" for line in fonts.splitlines()[2:])


def _refused(pdf: Path, fn, reason: str) -> SigningError:
    """``fn`` refuses to sign, with ``reason`` in its message or one of its details, and
    leaves ``pdf`` unchanged."""
    before = pdf.read_bytes()
    with pytest.raises(SigningError) as info:
        fn()
    assert pdf.read_bytes() == before, "a refused signature changed the file"
    said = [info.value.message, *info.value.details]
    assert any(reason in line for line in said), (reason, said)
    return info.value


def test_refusals_leave_the_file_unchanged(pdf_pack, demo_pki, pki_roster, tmp_path,
                                           vietnamese):
    pdf = fresh_agreement(pdf_pack, tmp_path)

    def sign(owner, role, member=None, target_role=None, roster=pki_roster):
        with open_credential(demo_pki, owner, role) as cred:
            sign_documents([pdf], roster, member or owner, target_role or role, cred)

    # someone else's certificate, in Hà Nam's head field
    _refused(pdf, lambda: sign("outsider", "extra", "ha-nam", "head"),
             "chứng thư số của Người Ngoài Cụm không phải chứng thư")
    # Nam Định's head trying to sign as Hà Nam's head
    _refused(pdf, lambda: sign("nam-dinh", "head", "ha-nam", "head"),
             "chứng thư số của Trần Quốc Việt không phải chứng thư")
    # an expired certificate
    _refused(pdf, lambda: sign("expired", "extra", "ha-nam", "head"),
             "chứng thư số của Trần Thị Hết Hạn đã hết hạn")
    # a seal before its head
    _refused(pdf, lambda: sign("ha-nam", "seal"), "Điều 32")
    sign("ha-nam", "head")
    # the same field twice
    _refused(pdf, lambda: sign("ha-nam", "head"), "đã được ký (bởi Lê Thị Thu Hường)")


def test_fixed_roster_order(pdf_pack, demo_pki, tmp_path, vietnamese):
    from signflow.roster import load_roster

    text = demo_pki.roster_path.read_text(encoding="utf-8").replace(
        'signing_order = "any"', 'signing_order = "roster"')
    assert 'signing_order = "roster"' in text
    # next to the demo roster: its image paths are relative to it
    path = demo_pki.roster_path.with_name(f"roster-ordered-{tmp_path.name}.toml")
    path.write_text(text, encoding="utf-8")
    roster = load_roster(path)
    pdf = fresh_agreement(pdf_pack, tmp_path)
    with open_credential(demo_pki, "ha-nam", "head") as cred:
        _refused(pdf, lambda: sign_documents([pdf], roster, "ha-nam", "head", cred),
                 "ký theo thứ tự: ninh-binh chưa ký")
    sign_all(pdf, demo_pki, roster, members={"ninh-binh", "nam-dinh"})
    with open_credential(demo_pki, "ha-nam", "head") as cred:
        sign_documents([pdf], roster, "ha-nam", "head", cred)


def test_refused_after_a_change_that_is_not_a_signature(pdf_pack, demo_pki, pki_roster,
                                                        tmp_path, vietnamese):
    pdf = fresh_agreement(pdf_pack, tmp_path)
    sign_all(pdf, demo_pki, pki_roster, members={"ninh-binh"})
    append_change(pdf, lambda writer: add_annotation(writer, "/Text", (100, 100, 120, 120),
                                                     "ghi chú chen vào"))
    with open_credential(demo_pki, "nam-dinh", "head") as cred:
        # the note is named as what it is: an annotation added to page 1
        _refused(pdf, lambda: sign_documents([pdf], pki_roster, "nam-dinh", "head", cred),
                 "trang 1 bị thêm chú thích")


def test_several_documents_one_login(pdf_pack, demo_pki, pki_roster, tmp_path, monkeypatch):
    """Three documents with one PKCS#11 session (one PIN entry)."""
    from pyhanko.sign import pkcs11 as hanko_p11

    opened = []
    real = hanko_p11.open_pkcs11_session

    def counting(*args, **kwargs):
        opened.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(hanko_p11, "open_pkcs11_session", counting)
    member = HSM_MEMBERS[0]
    docs = [copy(p, tmp_path / p.name) for p in sorted((pdf_pack / member).glob("*.pdf"))]
    assert len(docs) == 3
    sign_departments(docs, demo_pki, pki_roster, member)  # the internal pledge's first
    with open_credential(demo_pki, member, "head") as cred:
        outcomes = sign_documents(docs, pki_roster, member, "head", cred)
    assert len(outcomes) == 3 and len(opened) == 1
    for doc in docs:
        assert signature_fields(doc)[f"sf-head-{member}"]


def test_cli_sign_with_token_and_pkcs12(cli, pdf_pack, demo_pki, pki_roster, tmp_path,
                                        monkeypatch):
    from signflow.demo.softhsm import activate_softhsm

    member = HSM_MEMBERS[1]
    pdf = copy(pdf_pack / member / f"dang-ky-thi-dua-{member}-2019.pdf", tmp_path / "dk.pdf")
    activate_softhsm(demo_pki.softhsm)
    monkeypatch.setenv("SIGNFLOW_PIN", demo_pki.softhsm.pin())
    result = cli("sign", pdf, "--roster", demo_pki.roster_path, "--member", member,
                 "--pkcs11-lib", demo_pki.softhsm.module, "--token-label",
                 demo_pki.softhsm.token_label, "--key-label", f"{member}-head")
    assert result.code == 0, result.err
    assert demo_pki.softhsm.pin() not in result.out + result.err
    key_id = demo_pki.credential(member, "seal").key_id
    numbered = cli("number", pdf, "--roster", demo_pki.roster_path)  # before the seal
    assert numbered.code == 0, numbered.err
    result = cli("sign", pdf, "--roster", demo_pki.roster_path, "--member", member,
                 "--role", "seal", "--pkcs11-lib", demo_pki.softhsm.module, "--token-label",
                 demo_pki.softhsm.token_label, "--key-id", key_id)
    assert result.code == 0, result.err
    # PKCS#12 with the passphrase from a file
    other = "ninh-binh"
    pdf2 = copy(pdf_pack / other / f"dang-ky-thi-dua-{other}-2019.pdf", tmp_path / "dk2.pdf")
    cred = demo_pki.credential(other, "head")
    result = cli("sign", pdf2, "--roster", demo_pki.roster_path, "--member", other,
                 "--pkcs12", cred.p12, "--passphrase-file", cred.passphrase_file)
    assert result.code == 0, result.err
    # a wrong passphrase: one line, exit 2, file unchanged
    monkeypatch.setenv("SIGNFLOW_PASSPHRASE", "P@ss-khong-dung-7391")
    before = pdf2.read_bytes()
    result = cli("sign", pdf2, "--roster", demo_pki.roster_path, "--member", other,
                 "--role", "seal", "--pkcs12", demo_pki.credential(other, "seal").p12)
    assert result.code == 2 and "P@ss-khong-dung-7391" not in result.err, result.err
    assert "ninh-binh-seal.p12: không mở được tệp PKCS#12" in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1, result.err
    assert pdf2.read_bytes() == before
    # no secret on the command line: there is no option for it
    result = cli("sign", pdf2, "--roster", demo_pki.roster_path, "--member", other,
                 "--pkcs12", cred.p12, "--passphrase", "x")
    assert result.code == 2, result.err
    assert "Không có tùy chọn '--passphrase'" in result.err, result.err


def test_status_and_log(cli, pdf_pack, demo_pki, pki_roster, tmp_path):
    import json

    pdf = fresh_agreement(pdf_pack, tmp_path)
    ledger = tmp_path / "ledger.sqlite"
    for member in ("ninh-binh", "nam-dinh"):
        cred = demo_pki.credential(member, "head")
        result = cli("sign", pdf, "--roster", demo_pki.roster_path, "--member", member,
                     "--pkcs12", cred.p12, "--passphrase-file", cred.passphrase_file,
                     "--ledger", ledger)
        assert result.code == 0, result.err
    result = cli("status", pdf, "--roster", demo_pki.roster_path, "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)["documents"][0]
    assert doc["signed"] == 2 and doc["total"] == 18 and not doc["complete"]
    signed = {(f["member"], f["role"]) for f in doc["fields"] if f["signed"]}
    assert signed == {("ninh-binh", "head"), ("nam-dinh", "head")}
    nxt = {(n["member"], n["role"]) for n in doc["next"]}
    assert ("ninh-binh", "seal") in nxt and ("ha-nam", "head") in nxt
    assert ("ha-nam", "seal") not in nxt  # a seal waits for its head
    result = cli("status", pdf, "--roster", demo_pki.roster_path)
    assert "2/18" in result.out and "Ninh Bình" in result.out, result.out  # provinces
    result = cli("log", "--ledger", ledger, "--verify", "--trust", demo_pki.root_pem)
    assert result.code == 1, f"signings no timestamp covers must be reported: {result.err}"
    assert "chưa được gắn dấu thời gian" in result.err and "--anchor" in result.err, \
        result.err
    with serve_pki(demo_pki):
        assert cli("log", "--ledger", ledger, "--anchor", "--tsa", demo_pki.tsa_url).code == 0
    result = cli("log", "--ledger", ledger, "--verify", "--trust", demo_pki.root_pem)
    assert result.code == 0, result.err
    assert result.out.count(" ký số ") == 2
    # tampering with the audit trail is detected
    import sqlite3

    db = sqlite3.connect(ledger)
    db.execute("DROP TRIGGER events_no_update")
    db.execute("UPDATE events SET details = '{}' WHERE action = 'signed'")
    db.commit()
    db.close()
    result = cli("log", "--ledger", ledger, "--verify")
    assert result.code == 1, result.err
    # the edited events are named (the anchor's check needs --trust, not given here)
    assert "sự kiện 3 đã bị sửa" in result.err, result.err


def test_ledger_records_files_signed_elsewhere_and_refuses_rewritten_history(
        cli, pdf_pack, demo_pki, pki_roster, tmp_path, vietnamese):
    from signflow.ledger import Ledger

    pdf = fresh_agreement(pdf_pack, tmp_path)
    ledger_path = tmp_path / "ledger.sqlite"
    with Ledger(ledger_path) as ledger, open_credential(demo_pki, "ninh-binh", "head") as cred:
        sign_documents([pdf], pki_roster, "ninh-binh", "head", cred, ledger=ledger)
    original = pdf.read_bytes()
    # signed elsewhere (another laptop, another ledger) and brought back
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    away = copy(pdf, elsewhere / "agreement.pdf")
    with open_credential(demo_pki, "nam-dinh", "head") as cred:
        sign_documents([away], pki_roster, "nam-dinh", "head", cred)
    shutil.copyfile(away, pdf)
    with Ledger(ledger_path) as ledger:
        with open_credential(demo_pki, "bac-ninh", "head") as cred:
            sign_documents([pdf], pki_roster, "bac-ninh", "head", cred, ledger=ledger)
        actions = [e.action for e in ledger.events()]
    assert "revisions-added" in actions
    # a file whose recorded history was rewritten: back to the first signature, then a
    # different second signature in place of the recorded one
    pdf.write_bytes(original)
    with open_credential(demo_pki, "vinh-phuc", "head") as cred:
        sign_documents([pdf], pki_roster, "vinh-phuc", "head", cred)
    with Ledger(ledger_path) as ledger:
        with open_credential(demo_pki, "hung-yen", "head") as cred:
            _refused(pdf, lambda: sign_documents([pdf], pki_roster, "hung-yen", "head", cred,
                                                 ledger=ledger),
                     "lịch sử của tệp đã bị viết lại")
        assert ledger.events()[-1].action == "history-conflict"
        assert not ledger.verify_chain()


def test_a_file_named_twice_is_signed_once_and_copies_are_refused_up_front(
        pdf_pack, demo_pki, pki_roster, tmp_path, vietnamese):
    """`sign a.pdf a.pdf` (overlapping globs) signs a.pdf once. With a ledger, two copies of
    one document in one call would fork its history: refused before anything is written."""
    from signflow.ledger import Ledger

    member = "thai-binh"
    source = pdf_pack / member / f"ke-hoach-phat-dong-{member}-2019.pdf"
    pdf = copy(source, tmp_path / "plan.pdf")
    with open_credential(demo_pki, member, "head") as cred:
        outcomes = sign_documents([pdf, tmp_path / "." / "plan.pdf", pdf], pki_roster, member,
                                  "head", cred)
    assert len(outcomes) == 1
    assert len([s for s in signature_fields(pdf).values() if s]) == 1
    _check_signature_intact(pdf)

    first, second = (copy(source, tmp_path / name) for name in ("a.pdf", "b.pdf"))
    with open_credential(demo_pki, member, "head") as cred, \
            Ledger(tmp_path / "ledger.sqlite") as ledger:
        err = _refused(second, lambda: sign_documents([first, second], pki_roster, member,
                                                      "head", cred, ledger=ledger),
                       "là bản sao của")
        assert first.read_bytes() == source.read_bytes()
        assert any("b.pdf là bản sao của" in d and "a.pdf" in d for d in err.details), \
            err.details
        assert not any(e.action == "signed" for e in ledger.events())


def test_revision_ends_remembered_while_signing_match_a_fresh_parse(
        pdf_pack, demo_pki, pki_roster, tmp_path):
    """Signing remembers the new file's revision ends without parsing it again; what the
    ledger recorded must equal what a fresh parse finds (else it would later cry
    "history rewritten")."""
    import signflow.ledger as ledgers
    import signflow.pdf.reader as pdf_reader

    pdf = fresh_agreement(pdf_pack, tmp_path)
    with ledgers.Ledger(tmp_path / "ledger.sqlite") as ledger:
        for member in ("ha-nam", "thai-binh"):
            with open_credential(demo_pki, member, "head") as cred:
                sign_documents([pdf], pki_roster, member, "head", cred, ledger=ledger)
        recorded = [size for (size,) in ledger.db.execute(
            "SELECT size FROM revisions ORDER BY number")]
        pdf_reader._LOCATIONS.clear()
        data = pdf.read_bytes()
        assert recorded == pdf_reader.revision_ends(data)
        assert len(recorded) == 4  # conversion, fields, two signatures
        ledger.observe(pdf, data)  # no conflict with a fresh parse
        assert not any(e.action == "history-conflict" for e in ledger.events())


def test_too_little_room_for_the_signature_falls_back_to_pyhankos_estimate(
        pdf_pack, demo_pki, pki_roster, tmp_path, monkeypatch):
    """A B-B signature's room is computed from the certificates; should a signer ever need
    more (huge certificates, exotic attributes), pyHanko measures it instead."""
    import signflow.signing.signer as signing

    member = "hung-yen"
    pdf = copy(pdf_pack / member / f"dang-ky-thi-dua-{member}-2019.pdf", tmp_path / "d.pdf")
    monkeypatch.setattr(signing, "_reservation", lambda credential: 64)
    with open_credential(demo_pki, member, "head") as cred:
        sign_documents([pdf], pki_roster, member, "head", cred)
    _check_signature_intact(pdf)


@pytest.mark.slow
def test_killing_the_signer_never_leaves_a_broken_file(pdf_pack, demo_pki, tmp_path):
    """Kill `signflow sign` at different moments: each time the file is either the old one
    or a complete signed one, never anything in between."""
    pdf = fresh_agreement(pdf_pack, tmp_path)
    original = pdf.read_bytes()
    cred = demo_pki.credential("ninh-binh", "head")
    cmd = [str(ROOT / ".venv" / "bin" / "signflow"), "sign", str(pdf), "--roster",
           str(demo_pki.roster_path), "--member", "ninh-binh", "--pkcs12", str(cred.p12),
           "--passphrase-file", str(cred.passphrase_file), "--ledger",
           str(tmp_path / "l.sqlite")]
    outcomes = set()
    for delay in (0.3, 0.6, 0.8, 0.9, 1.0, 1.1, 1.2, 1.4, 1.7, 2.5, 8.0):
        pdf.write_bytes(original)
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        time.sleep(delay)
        with __import__("contextlib").suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        data = pdf.read_bytes()
        if data == original:
            outcomes.add("old")
        else:
            assert data.startswith(original), "the original bytes were not kept"
            assert signature_fields(pdf)["sf-head-ninh-binh"], "new file without signature"
            _check_signature_intact(pdf)
            outcomes.add("new")
        leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        assert not leftovers or all(p.startswith(".") for p in leftovers)
    # killed before and after the rename both happened (the last run always finishes)
    assert outcomes == {"old", "new"}, outcomes


def _check_signature_intact(pdf: Path) -> None:
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation.generic_cms import validate_sig_integrity

    with pdf.open("rb") as f:
        sig = PdfFileReader(f).embedded_signatures[-1]
        intact, valid = validate_sig_integrity(sig.signer_info, sig.signer_cert, "data",
                                               sig.compute_digest())
        assert intact and valid, f"{pdf}: intact {intact}, valid {valid}"


def test_bulk_signing_shares_the_work(pdf_pack, demo_pki, pki_roster, tmp_path):
    """Ten documents with one PKCS#12 key: checked together, signed by two processes
    (the parsed key inherited, never read again), outcomes in the order given."""
    import threading

    from signflow.signing.signer import _bulk_workers

    member = "bac-ninh"
    source = pdf_pack / member / f"ke-hoach-phat-dong-{member}-2019.pdf"
    docs = [copy(source, tmp_path / f"d{i:02d}.pdf") for i in range(10)]
    with open_credential(demo_pki, member, "head") as cred:
        prepared = [(d, d.read_bytes(), "sf-head-bac-ninh") for d in docs]
        # two processes, unless other threads run (forking then could deadlock a child)
        threads = threading.active_count()
        assert _bulk_workers(prepared, cred) == (2 if threads == 1 else 1), \
            f"{threads} threads: {threading.enumerate()}"
        outcomes = sign_documents(docs, pki_roster, member, "head", cred)
    assert [o.path for o in outcomes] == docs
    for doc in docs:
        assert signature_fields(doc)["sf-head-bac-ninh"]
        _check_signature_intact(doc)


def test_bulk_signing_in_parallel_keeps_the_ledger(pdf_pack, demo_pki, pki_roster, tmp_path,
                                                   monkeypatch):
    """The same with the ledger (three distinct documents, two processes): every event is
    recorded once and the hash chain stays intact with two writers."""
    import threading

    import signflow.signing.signer as signing
    from signflow.ledger import Ledger

    monkeypatch.setattr(signing, "BULK_MINIMUM", 2)
    member = "bac-ninh"
    docs = [copy(p, tmp_path / p.name) for p in sorted((pdf_pack / member).glob("*.pdf"))]
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        sign_departments(docs, demo_pki, pki_roster, member, ledger=ledger)
    with open_credential(demo_pki, member, "head") as cred, \
            Ledger(tmp_path / "ledger.sqlite") as ledger:
        prepared = [(d, d.read_bytes(), "sf-head-bac-ninh") for d in docs]
        # two processes, unless other threads run (forking then could deadlock a child)
        threads = threading.active_count()
        assert signing._bulk_workers(prepared, cred) == (2 if threads == 1 else 1), \
            f"{threads} threads: {threading.enumerate()}"
        outcomes = sign_documents(docs, pki_roster, member, "head", cred, ledger=ledger)
        assert [o.path for o in outcomes] == docs
        assert sum(1 for e in ledger.events() if e.action == "signed"
                   and e.details.get("member") == member) == 3
        assert not ledger.verify_chain()
