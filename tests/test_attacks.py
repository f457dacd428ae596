"""An attacker with nothing but the file: the classes of issue 11, rebuilt on the agreement
signflow itself produces (every fixture made at run time).

Each attack must end as the threat model in docs/security.md promises: verify exit 1 with
the reason named in Vietnamese, sign exit 2 with the file byte-for-byte unchanged, prepare
refusing fields it did not make.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import re
import shutil
from pathlib import Path

import pytest

from .conftest import ROSTER, append_change, minimal_pdf, open_credential, with_object_revision

VIETNAMESE = re.compile("[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]")
FIRST = "ninh-binh"  # the first member in the roster's order
LAST = "quang-ninh"  # the last one


def copy(src: Path, dst: Path) -> Path:
    shutil.copyfile(src, dst)
    dst.chmod(0o644)
    return dst


def verify_json(cli, pdf: Path, *args) -> tuple[int, dict]:
    result = cli("verify", pdf, *args, "--json")
    assert "Traceback" not in result.err, result.err
    assert result.out.strip(), f"exit {result.code}, no report: {result.err}"
    return result.code, json.loads(result.out)


def flagged(cli, pdf: Path, demo_pki, roster: Path | None = None) -> dict:
    """verify says exit 1, not ok, and every reason it gives is in Vietnamese."""
    code, report = verify_json(cli, pdf, "--roster", roster or demo_pki.roster_path,
                               "--trust", demo_pki.root_pem)
    assert code == 1, report
    assert report["ok"] is False, report
    reasons = all_problems(report)
    assert reasons, f"not ok without a reason: {report}"
    assert all(VIETNAMESE.search(r) or "sf-" in r for r in reasons), reasons
    return report


def all_problems(report: dict) -> list[str]:
    return [*report["problems"], *(p for s in report["signatures"] for p in s["problems"])]


def unsigned_agreement(pdf_pack: Path, tmp_path: Path) -> Path:
    return copy(pdf_pack / "cluster" / "giao-uoc-thi-dua-2019.pdf", tmp_path / "a.pdf")


def revisions(pdf: Path) -> list[int]:
    from signflow.pdf.reader import revision_ends

    return revision_ends(pdf.read_bytes())


def recreate_fields(writer, drop: tuple[str, ...] = ()) -> None:
    """Case 1: every sf-* field becomes a new object (same entries), /AcroForm /Fields and
    the pages' /Annots point at the copies; fields named in ``drop`` disappear."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name

    acroform = writer.root["/AcroForm"]
    moved: dict = {}
    fields = generic.ArrayObject()
    for ref in acroform.raw_get("/Fields"):
        old = ref.get_object()
        name = str(old.get("/T", ""))
        if not name.startswith("sf-"):
            fields.append(ref)
            continue
        if name in drop:
            moved[ref.reference] = None
            continue
        new = writer.add_object(generic.DictionaryObject(dict(old.items())))
        moved[ref.reference] = new
        fields.append(new)
    acroform[pdf_name("/Fields")] = fields
    if acroform.container_ref is not None:
        writer.update_container(acroform)
    writer.update_root()
    for index in range(len(writer.root["/Pages"]["/Kids"])):
        page_ref, _res = writer.find_page_for_modification(index)
        page = page_ref.get_object()
        if "/Annots" not in page:
            continue
        annots = generic.ArrayObject()
        for ref in page.raw_get("/Annots"):
            target = moved.get(getattr(ref, "reference", None), ref)
            if target is not None:
                annots.append(target)
        page[pdf_name("/Annots")] = annots
        writer.update_container(page)


def overlay_page_one(writer, text: bytes = b"85%") -> None:
    """New content drawn over page 1: a white box and other words on top of it."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name

    page_ref, _res = writer.find_page_for_modification(0)
    page = page_ref.get_object()
    contents = page.raw_get("/Contents")
    old = list(contents) if isinstance(contents, generic.ArrayObject) else [contents]
    stream = writer.add_object(generic.StreamObject(stream_data=(
        b"q 1 1 1 rg 60 560 480 40 re f Q BT /Helv 14 Tf 70 575 Td (" + text + b") Tj ET")))
    page[pdf_name("/Contents")] = generic.ArrayObject([*old, stream])
    writer.update_container(page)


# --- 1-3: the workflow check cannot be moved; a missing signer cannot be hidden ----------


def test_case_1_recreated_fields_and_overlaid_text(cli, signed_agreement, demo_pki, tmp_path):
    pdf = copy(signed_agreement, tmp_path / "t.pdf")

    def attack(writer):
        recreate_fields(writer)
        overlay_page_one(writer)

    append_change(pdf, attack)
    report = flagged(cli, pdf, demo_pki)
    people = [s for s in report["signatures"] if not s["is_timestamp"]]
    assert len(people) == 18
    for s in people:
        assert not s["ok"], s
        assert s["problems"], s
    # the reason is the rewritten document, said in words
    assert any("bị ghi đè" in p or "thay đổi" in p for p in all_problems(report)), report


def test_case_1_recreated_fields_alone(cli, signed_agreement, demo_pki, tmp_path):
    """Even without touching the content: the fields are not the ones the first signature
    covered."""
    pdf = copy(signed_agreement, tmp_path / "t.pdf")
    append_change(pdf, recreate_fields)
    report = flagged(cli, pdf, demo_pki)
    assert not any(s["ok"] for s in report["signatures"]), report
    assert any("18 ô bị tạo lại thành đối tượng mới" in p for p in all_problems(report)), \
        all_problems(report)


def test_case_2_missing_signer_hidden_by_recreated_fields(cli, signed_agreement, demo_pki,
                                                          tmp_path):
    pdf = tmp_path / "t.pdf"
    pdf.write_bytes(signed_agreement.read_bytes()[:revisions(signed_agreement)[-2]])

    def attack(writer):
        recreate_fields(writer, drop=(f"sf-seal-{LAST}",))
        overlay_page_one(writer, b"")  # blank the anchor area as well

    append_change(pdf, attack)
    report = flagged(cli, pdf, demo_pki)
    assert report["complete"] is False, report
    assert {"member": LAST, "role": "seal"} in report["missing"], report["missing"]
    assert any(f"ô chữ ký 'sf-seal-{LAST}' bị xóa" in p for p in all_problems(report)), \
        all_problems(report)


def test_case_3_next_signer_refuses_the_forgery(cli, signed_agreement, demo_pki, tmp_path):
    def attack(writer):
        recreate_fields(writer)
        overlay_page_one(writer)

    result = refused_hand_over(cli, signed_agreement, demo_pki, tmp_path, attack, "tạo lại")
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert lines[0] == "signflow: lỗi: từ chối ký; không văn bản nào bị thay đổi", result.err
    assert len(lines) <= 8, "a forged file has many problems; the first few say enough"


def test_sign_refuses_a_hand_over_with_an_overlay(cli, signed_agreement, demo_pki, tmp_path):
    refused_hand_over(cli, signed_agreement, demo_pki, tmp_path, overlay_page_one,
                      "một trang bị thay đổi: /Contents")


def refused_hand_over(cli, signed_agreement, demo_pki, tmp_path, attack, reason: str):
    """The file handed to the last member with ``attack`` appended: signing it is refused,
    exit 2, with ``reason`` among the lines that say why, the file byte-for-byte
    unchanged."""
    pdf = tmp_path / "t.pdf"
    pdf.write_bytes(signed_agreement.read_bytes()[:revisions(signed_agreement)[-3]])
    append_change(pdf, attack)
    before = pdf.read_bytes()
    cred = demo_pki.credential(LAST, "head")
    result = cli("sign", pdf, "--roster", demo_pki.roster_path, "--member", LAST,
                 "--pkcs12", cred.p12, "--passphrase-file", cred.passphrase_file)
    assert result.code == 2, result
    assert "từ chối ký" in result.err and reason in result.err, (reason, result.err)
    assert pdf.read_bytes() == before
    return result


# --- 4: signature timestamps count only from a trusted TSA -------------------------------


def _self_made_tsa(tmp_path: Path):
    """A TSA nobody trusts: a self-signed certificate with the time-stamping purpose."""
    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Máy chủ thời gian tự dựng")])
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=3650)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=7300))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]),
                           critical=True)
            .sign(key, hashes.SHA256()))
    der_key = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return (asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
            asn1_keys.PrivateKeyInfo.load(der_key))


def _pyhanko_sign(pdf: Path, field: str, signer, timestamper=None) -> None:
    """Sign as an attacker would: pyHanko directly, none of signflow's checks."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import SigSeedSubFilter

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf.read_bytes()))
    out = io.BytesIO()
    asyncio.run(signers.PdfSigner(
        signers.PdfSignatureMetadata(field_name=field, subfilter=SigSeedSubFilter.PADES),
        signer=signer, timestamper=timestamper).async_sign_pdf(writer, output=out))
    pdf.write_bytes(out.getvalue())


def test_case_4_expired_key_with_back_dated_token_and_a_genuine_archive(
        cli, signed_agreement, demo_pki, tmp_path):
    from cryptography import x509
    from pyhanko.sign.timestamps import DummyTimeStamper

    from signflow.demo.services import serve_pki

    expired = demo_pki.credential("expired")
    cert = x509.load_pem_x509_certificate(expired.cert_pem.read_bytes())
    back_then = cert.not_valid_before_utc + dt.timedelta(days=10)
    tsa_cert, tsa_key = _self_made_tsa(tmp_path)
    back_dated = DummyTimeStamper(tsa_cert=tsa_cert, tsa_key=tsa_key, fixed_dt=back_then)
    # the roster is even pinned to the expired key: only its time can be wrong
    roster = demo_pki.roster_path.with_name("roster-pinned-to-the-expired-key.toml")
    text = demo_pki.roster_path.read_text(encoding="utf-8")
    genuine = demo_pki.credential(LAST, "head").sha256
    assert genuine in text
    roster.write_text(text.replace(genuine, expired.sha256), encoding="utf-8")

    pdf = tmp_path / "t.pdf"
    pdf.write_bytes(signed_agreement.read_bytes()[:revisions(signed_agreement)[-3]])
    with open_credential(demo_pki, "expired", "extra") as key:
        _pyhanko_sign(pdf, f"sf-head-{LAST}", key.signer, back_dated)
    with open_credential(demo_pki, LAST, "seal") as seal:
        # a legitimate key with the same untrusted token: its time does not count either
        _pyhanko_sign(pdf, f"sf-seal-{LAST}", seal.signer, back_dated)
    with serve_pki(demo_pki):
        from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
        from pyhanko.sign import signers as s
        from pyhanko.sign.timestamps import HTTPTimeStamper

        writer = IncrementalPdfFileWriter(io.BytesIO(pdf.read_bytes()))
        out = io.BytesIO()
        s.PdfTimeStamper(HTTPTimeStamper(demo_pki.tsa_url)).timestamp_pdf(
            writer, "sha256", output=out)
        pdf.write_bytes(out.getvalue())

    report = flagged(cli, pdf, demo_pki, roster)
    by_field = {s["field"]: s for s in report["signatures"]}
    head, seal = by_field[f"sf-head-{LAST}"], by_field[f"sf-seal-{LAST}"]
    assert not head["ok"] and not head["trusted"], head
    for s in (head, seal):
        # the back-dated time is not taken for the signature's time
        assert not (s["timestamp"] or "").startswith(back_then.date().isoformat()), s
        assert any("không được dùng" in p or "tin cậy" in p for p in s["problems"]), s
    # every other signature is untouched and still stands
    others = [s for s in report["signatures"]
              if not s["is_timestamp"] and s["member"] != LAST]
    assert len(others) == 16 and all(s["ok"] for s in others), others


# --- 5: geometry of fields prepared elsewhere ---------------------------------------------


def _prepared_elsewhere(pdf_pack: Path, pki_roster, tmp_path: Path, name: str, how: str):
    """The converted agreement (before signflow's fields), with fields an attacker made:
    ours everywhere but one, which is zero-size, hidden, or moved onto page 1."""
    from pyhanko.pdf_utils.generic import NumberObject, pdf_name
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign.fields import SigFieldSpec, append_signature_field, ensure_sig_flags

    from signflow.documents.fields import placements
    from signflow.pdf.anchors import find_anchors

    source = unsigned_agreement(pdf_pack, tmp_path)
    bare = source.read_bytes()[:revisions(source)[0]]
    wanted = placements(find_anchors(bare), pki_roster)
    writer = IncrementalPdfFileWriter(io.BytesIO(bare))
    for p in wanted:
        page, box = p.page, tuple(round(c, 2) for c in p.box)
        if p.name == name and how == "zero":
            box = (box[0], box[1], box[0], box[1])
        if p.name == name and how == "page-1":
            page, box = 0, (72.0, 500.0, 72.0 + box[2] - box[0], 500.0 + box[3] - box[1])
        append_signature_field(writer, SigFieldSpec(sig_field_name=p.name, on_page=page,
                                                    box=box))
    if how == "hidden":
        for ref in writer.root["/AcroForm"]["/Fields"]:
            field = ref.get_object()
            if field["/T"] == name:
                field[pdf_name("/F")] = NumberObject(2 | 4)  # hidden, printed
    ensure_sig_flags(writer, lock_sig_flags=True)
    pdf = tmp_path / f"{how}.pdf"
    out = io.BytesIO()
    writer.write(out)
    pdf.write_bytes(out.getvalue())
    return pdf


# what is wrong with the field, as prepare, sign and verify say it
GEOMETRY = {"zero": "có kích thước không dùng được", "hidden": "bị ẩn hoặc không được in",
            "page-1": "nằm ở trang 1, còn mốc chữ ký của nó ở trang"}


@pytest.mark.parametrize("how", ["zero", "hidden", "page-1"])
def test_case_5_fields_made_elsewhere(cli, pdf_pack, demo_pki, pki_roster, tmp_path, how):
    name = f"sf-head-{FIRST}"
    reason = f"ô '{name}' {GEOMETRY[how]}"
    pdf = _prepared_elsewhere(pdf_pack, pki_roster, tmp_path, name, how)
    before = pdf.read_bytes()
    # prepare does not take them for its own
    result = cli("prepare", pdf, "--roster", demo_pki.roster_path)
    assert result.code == 2, result
    assert name in result.err and VIETNAMESE.search(result.err), result.err
    assert "có ô chữ ký không do signflow tạo" in result.err, result.err
    assert reason in result.err, (reason, result.err)
    assert pdf.read_bytes() == before
    # sign refuses, unchanged
    cred = demo_pki.credential(FIRST, "head")
    result = cli("sign", pdf, "--roster", demo_pki.roster_path, "--member", FIRST,
                 "--pkcs12", cred.p12, "--passphrase-file", cred.passphrase_file)
    assert result.code == 2, result
    assert name in result.err, result.err
    assert reason in result.err, (reason, result.err)
    assert pdf.read_bytes() == before
    # signed anyway (pyHanko directly): verify names the field's geometry
    with open_credential(demo_pki, FIRST, "head") as head:
        _pyhanko_sign(pdf, name, head.signer)
    report = flagged(cli, pdf, demo_pki)
    assert any(name in p for p in report["problems"]), report
    assert any(reason in p for p in report["problems"]), (reason, report["problems"])


def test_prepare_accepts_its_own_fields_again(cli, pdf_pack, demo_pki, tmp_path):
    pdf = unsigned_agreement(pdf_pack, tmp_path)
    before = pdf.read_bytes()
    result = cli("prepare", pdf, "--roster", demo_pki.roster_path)
    assert result.code == 0, result.err
    assert pdf.read_bytes() == before


# --- 7: namesakes --------------------------------------------------------------------------


@pytest.mark.parametrize("label,role", [("namesake", "head"), ("sealsake", "seal")])
def test_case_7_namesakes_do_not_sign_for_a_member(cli, pdf_pack, demo_pki, tmp_path,
                                                   label, role):
    """The shipped roster has no certificate expectations: a certificate with the head's
    name (or the unit's name) from the same CA but another organisation is not theirs."""
    pdf = unsigned_agreement(pdf_pack, tmp_path)
    cred = demo_pki.credential(label)
    before = pdf.read_bytes()
    result = cli("sign", pdf, "--roster", ROSTER, "--member", FIRST, "--role", role,
                 "--pkcs12", cred.p12, "--passphrase-file", cred.passphrase_file)
    assert result.code == 2, result
    # refused as not the member's certificate (the names are the same)
    assert "không phải chứng thư số của" in result.err, result.err
    assert f"({FIRST}, " in result.err, result.err
    assert pdf.read_bytes() == before
    with open_credential(demo_pki, label, "extra") as other:
        _pyhanko_sign(pdf, f"sf-{role}-{FIRST}", other.signer)
    report = flagged(cli, pdf, demo_pki, ROSTER)
    problems = report["signatures"][0]["problems"]
    label = {"head": "người đứng đầu", "seal": "con dấu"}[role]
    assert any(f"không phải của {FIRST} ({label}) theo danh sách thành viên" in p
               for p in problems), problems


def test_case_7_the_real_people_match_by_name_and_organisation(cli, signed_agreement,
                                                               demo_pki):
    code, report = verify_json(cli, signed_agreement, "--roster", ROSTER, "--trust",
                               demo_pki.root_pem)
    assert code == 0, report
    assert report["complete"] is True
    assert report["identities_by_name"] is True, report
    table = cli("verify", signed_agreement, "--roster", ROSTER, "--trust", demo_pki.root_pem)
    assert table.code == 0, table.out
    assert "roster pin" in table.out, table.out  # says the roster is not pinned
    code, pinned = verify_json(cli, signed_agreement, "--roster", demo_pki.roster_path,
                               "--trust", demo_pki.root_pem)
    assert code == 0 and pinned["identities_by_name"] is False, pinned


# --- 8: B-B signatures covered by a trusted document timestamp ----------------------------


@pytest.fixture(scope="module")
def archived_b_b(signed_agreement, demo_pki, tmp_path_factory):
    from signflow.demo.services import serve_pki
    from signflow.signing.archive import archive_document
    from signflow.validation.verify import VerifyPolicy

    pdf = copy(signed_agreement, tmp_path_factory.mktemp("bb") / "a.pdf")
    with serve_pki(demo_pki):
        roots = VerifyPolicy(trust_roots=(demo_pki.root_pem,)).load_roots()
        archive_document(pdf, demo_pki.tsa_url, roots)
    return pdf


@pytest.mark.parametrize("days", [1, 365, 3 * 365, 20 * 366])
def test_case_8_b_b_then_archive_verifies_later(cli, archived_b_b, demo_pki, days):
    at = dt.datetime.now(dt.UTC) + dt.timedelta(days=days)
    code, report = verify_json(cli, archived_b_b, "--roster", demo_pki.roster_path,
                               "--trust", demo_pki.root_pem, "--at", at.isoformat())
    assert code == 0, all_problems(report)
    assert report["ok"] and report["complete"], all_problems(report)
    people = [s for s in report["signatures"] if not s["is_timestamp"]]
    assert len(people) == 18 and all(s["trusted"] for s in people), people
    assert all(s["timestamp"] is None for s in people), people  # no timestamp of its own


# --- 9: fail-closed spots -------------------------------------------------------------------


def test_case_9_fields_that_are_not_a_list(cli, signed_agreement, demo_pki, tmp_path):
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name

    pdf = copy(signed_agreement, tmp_path / "t.pdf")

    def mangle(writer):
        acroform = writer.root["/AcroForm"]
        acroform[pdf_name("/Fields")] = generic.NumberObject(5)
        if acroform.container_ref is not None:
            writer.update_container(acroform)
        writer.update_root()

    append_change(pdf, mangle)
    report = flagged(cli, pdf, demo_pki)
    # without a readable field list no signature is found at all: fail closed
    assert any("không có chữ ký số nào" in p for p in all_problems(report)), \
        all_problems(report)


def test_case_9_unreadable_first_byte_range(cli, signed_agreement, demo_pki, tmp_path):
    """Without the first signature's coverage the anchors are unknown: never complete."""
    from signflow.validation.revisions import read_history

    history = read_history(signed_agreement)
    first = history.signatures[0].embedded
    data = bytearray(signed_agreement.read_bytes())
    numbers = rb"\s+".join(str(n).encode() for n in first.byte_range)
    found = re.search(rb"/ByteRange\s*\[\s*" + numbers + rb"\s*\]", bytes(data))
    assert found, "the first signature's /ByteRange"
    start, end = found.span()
    forged = b"/ByteRange[0 100 200 300"  # readable, but covering no document
    data[start:end] = forged + b" " * (end - start - len(forged) - 1) + b"]"
    pdf = tmp_path / "t.pdf"
    pdf.write_bytes(bytes(data))
    report = flagged(cli, pdf, demo_pki)
    assert report["complete"] is False, report
    assert any("không đọc được các mốc chữ ký" in p for p in all_problems(report)), \
        all_problems(report)


def test_case_9_garbage_revocation_data(cli, signed_agreement, demo_pki, tmp_path):
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name

    pdf = copy(signed_agreement, tmp_path / "t.pdf")

    def dss(writer):
        garbage = writer.add_object(generic.StreamObject(stream_data=b"not an OCSP answer"))
        writer.root[pdf_name("/DSS")] = writer.add_object(generic.DictionaryObject({
            pdf_name("/OCSPs"): generic.ArrayObject([garbage])}))
        writer.update_root()

    append_change(pdf, dss)
    report = flagged(cli, pdf, demo_pki)
    assert any("OCSP" in p or "DSS" in p for p in all_problems(report)), report


def test_case_9_circular_page_tree(cli, signed_agreement, demo_pki, tmp_path):
    pdf = copy(signed_agreement, tmp_path / "t.pdf")

    def loop(writer):
        pages = writer.root["/Pages"]
        kids = pages["/Kids"]
        kids.append(writer.root.raw_get("/Pages"))
        writer.update_container(pages)

    append_change(pdf, loop)
    result = cli("verify", pdf, "--roster", demo_pki.roster_path, "--trust", demo_pki.root_pem,
                 "--json")
    assert "RecursionError" not in result.err + result.out
    assert result.code == 1, result
    report = json.loads(result.out)
    assert report["ok"] is False, report
    assert any("không đọc được cây trang" in p for p in all_problems(report)), \
        all_problems(report)


# --- found by an attacker's review: what pyHanko and viewers read differently ---------------


class _Raw:
    """An object written as the given bytes (what pyHanko itself would never write)."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def write_to_stream(self, stream, handler=None, container_ref=None) -> None:
        stream.write(self.raw)


def _with_duplicate(obj, extra: bytes) -> _Raw:
    """``obj`` serialised with ``extra`` entries before its closing ``>>``: a key given
    twice is read by pyHanko as its first value and by pdfium, poppler and qpdf as its
    last."""
    out = io.BytesIO()
    obj.write_to_stream(out, None)
    data = out.getvalue()
    assert data.endswith(b">>")
    return _Raw(data[:-2] + b" " + extra + b" >>")


def _add_validation_data(writer, demo_pki) -> None:
    """The carrier anyone may add: a DSS with one genuine certificate."""
    from asn1crypto import pem, x509
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    der = pem.unarmor(demo_pki.root_pem.read_bytes())[2]
    DocumentSecurityStore.supply_dss_in_writer(writer, None,
                                               certs=[x509.Certificate.load(der)])


def _red_page(writer):
    from pyhanko.pdf_utils import generic

    return writer.add_object(generic.StreamObject(stream_data=b"q 1 0 0 rg 0 0 595 842 re f Q"))


def _first_page(writer):
    kids = writer.prev.root["/Pages"]["/Kids"]
    ref = kids.raw_get(0).reference
    return ref, writer.prev.get_object(ref)


def _duplicate_contents(demo_pki):
    """Page 1 rewritten with a second /Contents (a red page), carried by validation data."""
    def attack(writer):
        ref, page = _first_page(writer)
        new = _red_page(writer)
        writer.objects[(ref.generation, ref.idnum)] = _with_duplicate(
            page, b"/Contents %d 0 R" % new.idnum)
        _add_validation_data(writer, demo_pki)

    return attack


def test_duplicate_contents_key_in_a_page_carried_by_validation_data(cli, signed_agreement,
                                                                   demo_pki, tmp_path):
    pdf = copy(signed_agreement, tmp_path / "t.pdf")
    append_change(pdf, _duplicate_contents(demo_pki))
    report = flagged(cli, pdf, demo_pki)
    assert any("/Contents" in p and "hai lần" in p for p in all_problems(report)), report


def test_duplicate_root_in_the_trailer(cli, signed_agreement, demo_pki, tmp_path):
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name

    pdf = copy(signed_agreement, tmp_path / "t.pdf")
    holder: dict = {}

    def attack(writer):
        _add_validation_data(writer, demo_pki)
        catalogue = generic.DictionaryObject({k: writer.root.raw_get(k) for k in writer.root})
        catalogue[pdf_name("/OpenAction")] = generic.DictionaryObject({
            pdf_name("/S"): pdf_name("/JavaScript"),
            pdf_name("/JS"): generic.TextStringObject("app.alert('x')")})
        holder["root"] = writer.add_object(catalogue)

    append_change(pdf, attack)
    data = pdf.read_bytes()
    trailer = data.rindex(b"trailer")
    end = data.index(b">>", data.index(b"/Root", trailer))
    pdf.write_bytes(data[:end] + b" /Root %d 0 R" % holder["root"].idnum + data[end:])
    report = flagged(cli, pdf, demo_pki)
    assert any("/Root" in p for p in all_problems(report)), report


def test_duplicate_key_hand_over_is_refused_by_the_next_signer(cli, signed_agreement,
                                                               demo_pki, tmp_path):
    refused_hand_over(cli, signed_agreement, demo_pki, tmp_path, _duplicate_contents(demo_pki),
                      "khai báo /Contents hai lần")


def test_object_number_reused_with_another_generation(cli, signed_agreement, demo_pki,
                                                      tmp_path):
    """``2 1 obj`` next to the live ``2 0 obj`` (no free entry): pdfium renders the new one,
    pyHanko resolves ``2 0 R`` to the old one."""
    from pyhanko.pdf_utils import generic

    pdf = copy(signed_agreement, tmp_path / "t.pdf")

    def attack(writer):
        _ref, page = _first_page(writer)
        contents = page.raw_get("/Contents")
        target = contents[0] if isinstance(contents, generic.ArrayObject) else contents
        writer.objects[(target.generation + 1, target.idnum)] = generic.StreamObject(
            stream_data=b"q 1 0 0 rg 0 0 595 842 re f Q")
        _add_validation_data(writer, demo_pki)

    append_change(pdf, attack)
    report = flagged(cli, pdf, demo_pki)
    assert any("số hiệu" in p for p in all_problems(report)), all_problems(report)


def test_annotations_reordered_under_a_document_timestamp(cli, signed_agreement, demo_pki,
                                                          tmp_path):
    """The drawing order of a page's widgets (a seal over its head) is part of the shape:
    a timestamp revision that reverses and repeats them is caught."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.timestamps import HTTPTimeStamper

    from signflow.demo.services import serve_pki

    pdf = copy(signed_agreement, tmp_path / "t.pdf")
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf.read_bytes()))
    kids = writer.root["/Pages"]["/Kids"]
    index = max(i for i in range(len(kids)) if "/Annots" in kids[i])
    page_ref, _res = writer.find_page_for_modification(index)
    page = page_ref.get_object()
    items = list(page.raw_get("/Annots"))
    page[pdf_name("/Annots")] = generic.ArrayObject([*reversed(items), *items[:3]])
    writer.update_container(page)
    out = io.BytesIO()
    with serve_pki(demo_pki):
        signers.PdfTimeStamper(HTTPTimeStamper(demo_pki.tsa_url)).timestamp_pdf(
            writer, "sha256", output=out)
    pdf.write_bytes(out.getvalue())
    report = flagged(cli, pdf, demo_pki)
    assert any("thứ tự" in p or "lặp" in p for p in all_problems(report)), all_problems(report)


# --- indirect numbers in page boxes and field rectangles -----------------------------------


def _two_revisions_with_an_indirect_number() -> bytes:
    """A page whose /MediaBox and a signature field whose /Rect take one of their numbers
    from object 5 (792), and a second revision that rewrites object 5 (400) and nothing
    else: a field moved without touching the field's own object."""
    bodies = [b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [4 0 R] >> >>",
              b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
              b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 5 0 R] /Annots [4 0 R] >>",
              b"<< /FT /Sig /T (f) /Type /Annot /Subtype /Widget /P 3 0 R /F 4 "
              b"/Rect [10 10 5 0 R 200] >>",
              b"792"]
    return with_object_revision(minimal_pdf(*bodies), 5, b"400", size=6)


def test_indirect_numbers_are_read_as_of_each_revision_and_a_move_through_them_is_seen():
    """Every number of a page box or a field rectangle is read as of the revision being
    judged (not the newest one, which a later revision could have rewritten); moving a
    field by rewriting the number object it uses is a change of place."""
    from signflow.validation.revisions import DocumentHistory
    from signflow.validation.workflow import compare_shapes

    history = DocumentHistory(_two_revisions_with_an_indirect_number(), "indirect.pdf")
    before, after = history.shape(0), history.shape(1)
    assert not before.problems and not after.problems, (before.problems, after.problems)
    assert before.boxes == ((0.0, 0.0, 612.0, 792.0),), before.boxes
    assert before.fields["f"].rect == (10.0, 10.0, 792.0, 200.0), before.fields["f"]
    assert after.fields["f"].rect == (10.0, 10.0, 400.0, 200.0), after.fields["f"]
    assert any("'f'" in p for p in compare_shapes(before, after, set())), \
        "a field moved through its rectangle's number object went unnoticed"


# --- 10: a weak key in a certificate the roster would accept ------------------------------


def cluster_ca_certificate(demo_pki, member: str, role: str, bits: int = 1024,
                           without: tuple[type, ...] = ()):
    """What a careless (or bribed) CA issues: the member's own subject, from the demo
    PKI's intermediate, over a new RSA key of ``bits`` (1024 by default: the roster
    matches it by name and organisation, and pyHanko's chain validation alone only says
    'not trusted'), with the genuine certificate's extensions but those of the types in
    ``without``. Returns the certificate, its key and the intermediate (cryptography)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    genuine = x509.load_pem_x509_certificate(demo_pki.credential(member, role)
                                             .cert_pem.read_bytes())
    interm = x509.load_pem_x509_certificate(demo_pki.intermediate_pem.read_bytes())
    interm_key = serialization.load_pem_private_key(
        (demo_pki.dir / "private" / "interm.key.pem").read_bytes(), password=None)
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    builder = (x509.CertificateBuilder().subject_name(genuine.subject)
               .issuer_name(interm.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(genuine.not_valid_before_utc)
               .not_valid_after(genuine.not_valid_after_utc))
    for ext in genuine.extensions:
        if isinstance(ext.value, without):
            continue
        if isinstance(ext.value, x509.SubjectKeyIdentifier):
            builder = builder.add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), ext.critical)
        else:
            builder = builder.add_extension(ext.value, ext.critical)
    cert = builder.sign(interm_key, hashes.SHA256())  # type: ignore[arg-type]
    return cert, key, interm


def _simple_signer(cert, key, chain):
    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives import serialization
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    def der(c):
        return asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))

    der_key = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return signers.SimpleSigner(
        signing_cert=der(cert), signing_key=asn1_keys.PrivateKeyInfo.load(der_key),
        cert_registry=SimpleCertificateStore.from_certs([der(c) for c in chain]))


def test_case_10_a_weak_key_is_named_as_such(cli, pdf_pack, demo_pki, tmp_path):
    """A 1024-bit RSA key in a certificate with the head's own name and unit, from the
    cluster's CA: signflow's signer refuses it (the file untouched); signed with another
    tool, verify must say the key is too weak, not only that the chain is not trusted."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    cert, key, interm = cluster_ca_certificate(demo_pki, FIRST, "head")
    pdf = unsigned_agreement(pdf_pack, tmp_path)
    before = pdf.read_bytes()
    p12, passphrase = tmp_path / "weak.p12", tmp_path / "weak.passphrase"
    passphrase.write_text("mật khẩu yếu không sao", encoding="utf-8")
    p12.write_bytes(pkcs12.serialize_key_and_certificates(
        b"weak", key, cert, [interm], serialization.BestAvailableEncryption(
            passphrase.read_bytes())))
    result = cli("sign", pdf, "--roster", ROSTER, "--member", FIRST, "--role", "head",
                 "--pkcs12", p12, "--passphrase-file", passphrase)
    assert result.code == 2 and "quá yếu (RSA 1024 bit)" in result.err, result
    assert pdf.read_bytes() == before, "a refused signing changed the file"

    _pyhanko_sign(pdf, f"sf-head-{FIRST}", _simple_signer(cert, key, [interm]))
    report = flagged(cli, pdf, demo_pki, ROSTER)
    head = report["signatures"][0]
    assert head["field"] == f"sf-head-{FIRST}" and not head["ok"], head
    assert any("quá yếu (RSA 1024 bit)" in p for p in head["problems"]), head["problems"]
    # it is the member's certificate by the roster's rule: only the key is wrong
    assert not any("theo danh sách thành viên" in p for p in head["problems"]), head


def _self_signed(key):
    from asn1crypto import x509 as asn1_x509
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Khóa thử")])
    start = dt.datetime.now(dt.UTC)
    from cryptography.hazmat.primitives.asymmetric import ed25519

    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=1)).sign(key, algorithm))
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


@pytest.mark.parametrize(("make", "expected"), [
    ("rsa-1024", "quá yếu (RSA 1024 bit)"),
    ("rsa-2048", None),
    ("ec-secp192r1", "quá yếu (EC 192 bit)"),
    ("ec-secp256r1", None),
    ("ec-secp384r1", None),
    ("ed25519", None),
    ("dsa-2048", "không hỗ trợ loại khóa DSA"),
])
def test_key_strength_rule(make, expected):
    """The one rule signing and verification share (signflow.identity)."""
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa

    from signflow.identity import key_strength_problem

    kind, _, size = make.partition("-")
    key = {"rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=int(size)),
           "ec": lambda: ec.generate_private_key(getattr(ec, size.upper())()),
           "ed25519": ed25519.Ed25519PrivateKey.generate,
           "dsa": lambda: dsa.generate_private_key(int(size))}[kind]()
    problem = key_strength_problem(_self_signed(key))
    assert (problem is None) if expected is None else (expected in (problem or "")), problem
