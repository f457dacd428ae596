"""Verification: long-term validation offline, --at after expiry, TSA failures, revocation,
tampering with signflow's own agreement, and the public attack corpus."""

from __future__ import annotations

import datetime as dt
import glob
import http.server
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from .conftest import add_annotation, append_change, open_credential, sign_all


def _find_corpus() -> Path:
    """../shared/attack-corpus next to the checkout (wherever CI clones it), or
    $SIGNFLOW_ATTACK_CORPUS."""
    import os

    if os.environ.get("SIGNFLOW_ATTACK_CORPUS"):
        return Path(os.environ["SIGNFLOW_ATTACK_CORPUS"])
    here = Path(__file__).resolve()
    for folder in [*here.parents, Path("/work")]:
        candidate = folder / "shared" / "attack-corpus"
        if candidate.is_dir():
            return candidate
    return here.parents[2] / "shared" / "attack-corpus"


CORPUS = _find_corpus()


def copy(src: Path, dst: Path) -> Path:
    shutil.copyfile(src, dst)
    dst.chmod(0o644)
    return dst


def verify_json(cli, *args) -> tuple[int, object]:
    result = cli("verify", *args, "--json")
    return result.code, json.loads(result.out)


SIGNATURE_KEYS = {"field", "signer", "member", "role", "intact", "valid", "trusted", "revoked",
                  "coverage", "modifications", "signing_time", "timestamp", "level", "ok",
                  "problems"}


def test_lta_agreement_verifies_offline(cli, lta_agreement, demo_pki):
    code, report = verify_json(cli, lta_agreement, "--roster", demo_pki.roster_path,
                               "--trust", demo_pki.root_pem)
    assert code == 0, report
    assert report["ok"] is True and report["complete"] is True and report["missing"] == []
    assert set(report) >= {"file", "ok", "complete", "missing", "problems", "signatures"}
    people = [s for s in report["signatures"] if not s["is_timestamp"]]
    assert len(people) == 18
    for s in people:
        assert set(s) >= SIGNATURE_KEYS
        assert s["intact"] and s["valid"] and s["trusted"] and s["ok"], s
        assert s["revoked"] is False
        assert s["level"] == "B-LTA"
        assert s["timestamp"] and s["timestamp"].endswith("+07:00")
        assert s["modifications"] in ("form_filling", "lta_updates")
        assert s["member"] and s["role"] in ("head", "seal")
    assert any(s["is_timestamp"] for s in report["signatures"])
    # the terminal table speaks Vietnamese and fits long timestamp field names
    table = cli("verify", lta_agreement, "--roster", demo_pki.roster_path, "--trust",
                demo_pki.root_pem)
    assert table.code == 0, table.out
    assert "chữ ký sau" in table.out and "form_filling" not in table.out
    assert "hợp lệ" in table.out and "Ninh Bình (người đứng đầu)" in table.out
    assert max(len(line) for line in table.out.splitlines()) <= 100
    # every signature's revocation status is known from the embedded data: no note
    assert "Chưa biết tình trạng thu hồi" not in table.out, table.out
    wide = cli("verify", lta_agreement, "--roster", demo_pki.roster_path, "--trust",
               demo_pki.root_pem, "--wide")  # every check in its own column
    assert wide.code == 0 and "Chưa bị thu hồi" in wide.out, wide.out


def test_b_b_offline_says_the_revocation_status_is_not_known(cli, signed_agreement,
                                                             demo_pki, tmp_path):
    """A B-B agreement verified offline is valid, but nothing about revocation was checked:
    the table and the report say so (the JSON has `revoked: null`), and what to do."""
    report = tmp_path / "r.html"
    table = cli("verify", signed_agreement, "--roster", demo_pki.roster_path, "--trust",
                demo_pki.root_pem, "--report", report)
    assert table.code == 0, table.out
    note = "Chưa biết tình trạng thu hồi của 18 chữ ký"
    assert note in table.out and "--online" in table.out, table.out
    assert note in report.read_text(encoding="utf-8")
    code, data = verify_json(cli, signed_agreement, "--roster", demo_pki.roster_path,
                             "--trust", demo_pki.root_pem)
    assert code == 0 and all(s["revoked"] is None for s in data["signatures"]), data


def test_lta_agreement_verifies_a_year_after_the_certificates_expire(cli, lta_agreement,
                                                                     demo_pki, tmp_path):
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(
        demo_pki.credential("quang-ninh", "head").cert_pem.read_bytes())
    at = cert.not_valid_after_utc + dt.timedelta(days=365)
    code, report = verify_json(cli, lta_agreement, "--roster", demo_pki.roster_path,
                               "--trust", demo_pki.root_pem, "--at", at.isoformat())
    assert code == 0, report
    assert report["ok"] and report["complete"]
    # the same signatures without the archive's proof do not stand after expiry
    from signflow.pdf.reader import revision_ends

    data = lta_agreement.read_bytes()
    unarchived = tmp_path / "unarchived.pdf"
    unarchived.write_bytes(data[:revision_ends(data)[-3]])  # before the DSS and timestamp
    code, plain = verify_json(cli, unarchived, "--trust", demo_pki.root_pem, "--at",
                              at.isoformat())
    assert code == 1, plain
    assert not any(s["trusted"] for s in plain["signatures"]), plain
    assert all(any("không dẫn về chứng thư gốc tin cậy" in p for p in s["problems"])
               for s in plain["signatures"]), plain


def test_sign_at_b_lta_directly(cli, pdf_pack, demo_pki, tmp_path):
    from signflow.demo.services import serve_pki

    member = "hai-duong"
    pdf = copy(pdf_pack / member / f"ke-hoach-phat-dong-{member}-2019.pdf", tmp_path / "kh.pdf")
    with serve_pki(demo_pki):
        for role in ("head", "seal"):
            if role == "seal":  # the clerical office's number and date come first
                numbered = cli("number", pdf, "--roster", demo_pki.roster_path)
                assert numbered.code == 0, numbered.err
            cred = demo_pki.credential(member, role)
            result = cli("sign", pdf, "--roster", demo_pki.roster_path, "--member", member,
                         "--role", role, "--pkcs12", cred.p12, "--passphrase-file",
                         cred.passphrase_file, "--level", "B-LTA", "--tsa", demo_pki.tsa_url,
                         "--trust", demo_pki.root_pem)
            assert result.code == 0, result.err
    code, report = verify_json(cli, pdf, "--roster", demo_pki.roster_path, "--trust",
                               demo_pki.root_pem)
    assert code == 0, report
    assert [s["level"] for s in report["signatures"] if not s["is_timestamp"]] == ["B-LTA"] * 2


class _Garbage(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server API
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/timestamp-reply")
        self.end_headers()
        self.wfile.write(b"\x30\x03\x02\x01\x05 this is not a timestamp")

    def log_message(self, *args):
        pass


def test_a_failing_or_garbage_tsa_is_an_error_and_the_file_is_unchanged(cli, pdf_pack,
                                                                        demo_pki, tmp_path):
    member = "vinh-phuc"
    pdf = copy(pdf_pack / member / f"dang-ky-thi-dua-{member}-2019.pdf", tmp_path / "dk.pdf")
    before = pdf.read_bytes()
    cred = demo_pki.credential(member, "head")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{sock.getsockname()[1]}/tsa"
    sock.close()  # nothing listens there now
    server = http.server.HTTPServer(("127.0.0.1", 0), _Garbage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    garbage = f"http://127.0.0.1:{server.server_address[1]}/tsa"
    try:
        for url in (dead, garbage):
            result = cli("sign", pdf, "--roster", demo_pki.roster_path, "--member", member,
                         "--pkcs12", cred.p12, "--passphrase-file", cred.passphrase_file,
                         "--level", "B-T", "--tsa", url)
            assert result.code == 2, (url, result.out, result.err)
            assert "Traceback" not in result.err
            # says what it means, in Vietnamese, before the technical detail
            assert "dịch vụ cấp dấu thời gian" in result.err, result.err
            assert pdf.read_bytes() == before
    finally:
        server.shutdown()


def test_revoked_signer_is_reported_as_revoked(cli, pdf_pack, demo_pki, tmp_path):
    from signflow.demo.services import serve_pki
    from signflow.roster import load_roster
    from signflow.signing.signer import sign_documents

    revoked = demo_pki.credential("revoked", "extra")
    # a roster in which Hà Nam's head is expected to hold the (now revoked) certificate
    text = demo_pki.roster_path.read_text(encoding="utf-8")
    ha_nam_head = demo_pki.credential("ha-nam", "head").sha256
    text = text.replace(ha_nam_head, revoked.sha256)
    path = demo_pki.roster_path.with_name(f"roster-revoked-{tmp_path.name}.toml")
    path.write_text(text, encoding="utf-8")
    roster = load_roster(path)
    pdf = copy(pdf_pack / "ha-nam" / "ke-hoach-phat-dong-ha-nam-2019.pdf", tmp_path / "kh.pdf")
    with open_credential(demo_pki, "revoked", "extra") as cred:
        sign_documents([pdf], roster, "ha-nam", "head", cred)
    with serve_pki(demo_pki):
        code, report = verify_json(cli, pdf, "--trust", demo_pki.root_pem, "--online")
    assert code == 1, report
    sig = report["signatures"][0]
    assert sig["revoked"] is True and not sig["ok"], sig
    assert any("đã bị thu hồi" in p for p in sig["problems"]), sig["problems"]


# --- tampering with signflow's own signed agreement ------------------------------------


def _flag(cli, pdf: Path, demo_pki, reason: str | None = None) -> dict:
    """verify says exit 1, not ok, and (given) ``reason`` among the problems."""
    code, report = verify_json(cli, pdf, "--roster", demo_pki.roster_path, "--trust",
                               demo_pki.root_pem)
    assert code == 1, report
    assert report["ok"] is False, report
    if reason is not None:
        problems = _all_problems(report)
        assert any(reason in p for p in problems), (reason, problems)
    return report


def _all_problems(report: dict) -> list[str]:
    return [*report["problems"], *(p for s in report["signatures"] for p in s["problems"])]


def test_untouched_copy_is_ok(cli, signed_agreement, demo_pki):
    code, report = verify_json(cli, signed_agreement, "--roster", demo_pki.roster_path,
                               "--trust", demo_pki.root_pem)
    assert code == 0, report
    assert all(s["level"] == "B-B" for s in report["signatures"])


def test_tamper_byte_inside_signed_range(cli, signed_agreement, demo_pki, tmp_path):
    pdf = copy(signed_agreement, tmp_path / "t.pdf")
    data = bytearray(pdf.read_bytes())
    at = data.find(b"stream", 2000) + 40  # inside the first page's content stream
    data[at] ^= 0x01
    pdf.write_bytes(bytes(data))
    report = _flag(cli, pdf, demo_pki, "nội dung đã ký bị thay đổi")
    assert not any(s["intact"] for s in report["signatures"]), report


def test_tamper_appended_page_content(cli, signed_agreement, demo_pki, tmp_path):
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name

    pdf = copy(signed_agreement, tmp_path / "t.pdf")

    def replace_content(writer):
        page_ref, _res = writer.find_page_for_modification(0)
        page = page_ref.get_object()
        stream = generic.StreamObject(stream_data=b"BT /F1 24 Tf 100 700 Td (Gia mao) Tj ET")
        page[pdf_name("/Contents")] = writer.add_object(stream)
        writer.update_container(page)

    append_change(pdf, replace_content)
    report = _flag(cli, pdf, demo_pki, "một trang bị thay đổi: /Contents")
    assert all(s["modifications"] == "other" for s in report["signatures"]), report


def test_tamper_appended_annotation(cli, signed_agreement, demo_pki, tmp_path):
    pdf = copy(signed_agreement, tmp_path / "t.pdf")
    append_change(pdf, lambda writer: add_annotation(
        writer, "/FreeText", (72, 600, 300, 640), "Chỉ tiêu 85% sửa thành 50%",
        DA="/Helv 12 Tf 0 g"))
    report = _flag(cli, pdf, demo_pki, "trang 1 bị thêm chú thích")
    assert all(s["problems"] for s in report["signatures"]), report


def test_tamper_appended_form_value(cli, signed_agreement, demo_pki, tmp_path):
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name

    pdf = copy(signed_agreement, tmp_path / "t.pdf")

    def add_text_field(writer):
        page_ref, _res = writer.find_page_for_modification(0)
        field = writer.add_object(generic.DictionaryObject({
            pdf_name("/FT"): pdf_name("/Tx"), pdf_name("/T"): generic.TextStringObject("ghichu"),
            pdf_name("/V"): generic.TextStringObject("Đã hủy giao ước"),
            pdf_name("/Type"): pdf_name("/Annot"), pdf_name("/Subtype"): pdf_name("/Widget"),
            pdf_name("/Rect"): generic.ArrayObject([generic.FloatObject(v)
                                                    for v in (72, 500, 300, 520)]),
            pdf_name("/P"): page_ref,
        }))
        acroform = writer.root["/AcroForm"]
        acroform["/Fields"].append(field)
        writer.update_container(acroform["/Fields"])
        writer.register_annotation(page_ref, field)

    append_change(pdf, add_text_field)
    _flag(cli, pdf, demo_pki, "trường biểu mẫu mới 'ghichu'")


def test_tamper_signature_field_retargeted(cli, signed_agreement, demo_pki, tmp_path):
    from pyhanko.pdf_utils import generic
    from pyhanko.sign.fields import enumerate_sig_fields

    pdf = copy(signed_agreement, tmp_path / "t.pdf")

    def retarget(writer):
        for name, _value, ref in enumerate_sig_fields(writer.prev):
            if name == "sf-head-ninh-binh":
                field = writer.get_object(ref.reference)
                field["/Rect"] = generic.ArrayObject([generic.FloatObject(v)
                                                      for v in (0, 0, 1, 1)])
                writer.update_container(field)

    append_change(pdf, retarget)
    report = _flag(cli, pdf, demo_pki, "ô 'sf-head-ninh-binh' bị di chuyển hoặc thay đổi")
    assert any(s["problems"] for s in report["signatures"]), report


def test_tamper_signature_by_certificate_outside_the_roster(cli, pdf_pack, demo_pki,
                                                            pki_roster, tmp_path):
    """Bypassing signflow's own checks (pyHanko directly), an outsider signs Hà Nam's field."""
    import asyncio

    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import SigSeedSubFilter

    pdf = copy(pdf_pack / "ha-nam" / "ke-hoach-phat-dong-ha-nam-2019.pdf", tmp_path / "t.pdf")
    with open_credential(demo_pki, "outsider", "extra") as cred:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf.read_bytes()))
        out = io.BytesIO()
        asyncio.run(signers.PdfSigner(
            signers.PdfSignatureMetadata(field_name="sf-head-ha-nam",
                                         subfilter=SigSeedSubFilter.PADES),
            signer=cred.signer).async_sign_pdf(writer, output=out))
        pdf.write_bytes(out.getvalue())
    sign_all(pdf, demo_pki, pki_roster, members=set())  # nothing: keep the outsider alone
    report = _flag(cli, pdf, demo_pki)
    assert "sf-head-ha-nam" in [s["field"] for s in report["signatures"]], report
    assert any("không phải của ha-nam (người đứng đầu) theo danh sách thành viên" in p
               for p in report["signatures"][0]["problems"]), report["signatures"][0]
    # without a roster it is a valid signature by a trusted certificate
    code, plain = verify_json(cli, pdf, "--trust", demo_pki.root_pem)
    assert plain["signatures"][0]["trusted"] and plain["complete"] is None


def test_tamper_last_revision_cut_off(cli, signed_agreement, demo_pki, tmp_path):
    from signflow.pdf.reader import revision_ends

    data = signed_agreement.read_bytes()
    ends = revision_ends(data)
    pdf = tmp_path / "t.pdf"
    pdf.write_bytes(data[:ends[-2]])
    report = _flag(cli, pdf, demo_pki)
    assert report["complete"] is False, report
    assert {"member": "quang-ninh", "role": "seal"} in report["missing"], report["missing"]


# --- files that cannot be read, several files, report ----------------------------------


def test_a_trust_root_without_a_certificate_is_an_error(cli, signed_agreement, demo_pki,
                                                        tmp_path):
    """A private key (or any file without a certificate) given as --trust would trust
    nothing and call every signature untrusted: say what is wrong instead, exit 2."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = tmp_path / "root.key.pem"
    key.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    for flag, reason in (([], "không chứa chứng thư"), (["--lang", "en"], "holds no certificate")):
        result = cli("verify", signed_agreement, "--trust", key, *flag)
        assert result.code == 2 and not result.out, (result.out, result.err)
        assert "root.key.pem" in result.err and len(result.err.strip().splitlines()) == 1, \
            result.err
        assert reason in result.err, result.err
    for level in ("B-LT", "B-LTA"):
        before = signed_agreement.read_bytes()
        member = "quang-ninh"
        cred = demo_pki.credential(member, "seal")
        result = cli("sign", signed_agreement, "--roster", demo_pki.roster_path, "--member",
                     member, "--role", "seal", "--pkcs12", cred.p12, "--passphrase-file",
                     cred.passphrase_file, "--level", level, "--tsa", "http://127.0.0.1:9/",
                     "--trust", key)
        assert result.code == 2 and "root.key.pem" in result.err, (level, result.err)
        assert "không chứa chứng thư" in result.err, (level, result.err)
        assert signed_agreement.read_bytes() == before


def test_unreadable_files_exit_2_and_the_run_goes_on(cli, signed_agreement, demo_pki,
                                                     tmp_path):
    not_pdf = tmp_path / "note.pdf"
    not_pdf.write_text("không phải PDF", encoding="utf-8")
    truncated = tmp_path / "truncated.pdf"
    truncated.write_bytes(signed_agreement.read_bytes()[:1500])
    encrypted = tmp_path / "encrypted.pdf"
    subprocess.run(["qpdf", "--encrypt", "user-pw", "owner-pw", "256", "--",
                    str(signed_agreement), str(encrypted)], check=True)
    result = cli("verify", not_pdf, signed_agreement, truncated, encrypted, "--trust",
                 demo_pki.root_pem, "--json")
    assert result.code == 2, result.err
    reports = json.loads(result.out)
    assert [r["readable"] for r in reports] == [False, True, False, False], reports
    assert reports[1]["ok"] is True, reports[1]
    # each unreadable file with its own reason
    for report, reason in ((reports[0], "note.pdf: không phải tệp PDF"),
                           (reports[2], "truncated.pdf: không đọc được tệp PDF"),
                           (reports[3], "encrypted.pdf: tệp PDF đã bị mã hóa")):
        assert any(reason in p for p in report["problems"]), (reason, report["problems"])
    text = cli("verify", not_pdf, signed_agreement, "--trust", demo_pki.root_pem)
    assert text.code == 2 and "Traceback" not in text.out + text.err, text.err
    assert "note.pdf: không phải tệp PDF" in text.out, text.out


def test_html_report(cli, lta_agreement, demo_pki, tmp_path):
    report = tmp_path / "bien-ban.html"
    result = cli("verify", lta_agreement, "--roster", demo_pki.roster_path, "--trust",
                 demo_pki.root_pem, "--report", report)
    assert result.code == 0, result.err
    html = report.read_text(encoding="utf-8")
    assert "Nguyễn Thị Ngọc Ánh" in html and "Cụm Thi đua số 2" in html
    assert "<script" not in html


# --- the public attack corpus ----------------------------------------------------------


def _corpus(patterns: list[str], exclude: str | None = None) -> list[str]:
    files = sorted({p for pat in patterns for p in glob.glob(str(CORPUS / pat), recursive=True)})
    return [str(Path(p).relative_to(CORPUS)) for p in files if not exclude or exclude not in p]


MUST_FLAG = _corpus([
    "rub-nds-pdf-attacker/shadow-demo-exploits/*/**/4_*.pdf",
    "pdf-insecurity-shadow-examples_via_mkl-testarea-itext7/*-signed*.pdf",
    "rub-nds-pdf-tester-history/certification-2020/examples/*/03_*.pdf",
    "rub-nds-pdf-tester-history/certification-2020/examples/*/04_*.pdf",
    "rub-nds-pdf-tester-history/PDFDocs/minimal_cert_invalid.pdf",
    "pyhanko-testdata/pdf/coverage-anomalies/*.pdf",
    "pyhanko-testdata/pdf/form-update-*sneaky*.pdf",
    "pyhanko-testdata/pdf/pdf-sig-with-econtent.pdf",
], exclude="coverage-anomalies/base.pdf")
MUST_PASS = _corpus([
    "rub-nds-pdf-attacker/shadow-demo-exploits/*/**/3_*.pdf",
    "pyhanko-testdata/pdf/form-update-*.pdf",
    "pyhanko-testdata/pdf/minimal-signed-twice-*.pdf",
    "pyhanko-testdata/pdf/minimal-two-fields-signed-twice.pdf",
    "pyhanko-testdata/pdf/pades-lta-*.pdf",
    "pyhanko-testdata/pdf/certified-with-indirect-refs-in-dir.pdf",
    "rub-nds-pdf-tester-history/PDFDocs/minimal_cert.pdf",
    "rub-nds-pdf-tester-history/PDFSigner/*.pdf",
], exclude="sneaky")
# honest but dated (SHA-1; the second signer's viewer edited the locked field's dictionary)
EITHER_WAY = _corpus(["rub-nds-pdf-tester-history/certification-2020/examples/*/01_*.pdf",
                      "rub-nds-pdf-tester-history/certification-2020/examples/*/02_*.pdf"])
UNSIGNED = _corpus(["rub-nds-pdf-attacker/shadow-demo-exploits/*/**/1_*.pdf",
                    "rub-nds-pdf-attacker/shadow-demo-exploits/*/**/2_*.pdf",
                    "pdf-insecurity-shadow-examples_via_mkl-testarea-itext7/*-shadow-file.pdf"])


@pytest.fixture(scope="module")
def corpus_policy():
    from signflow.validation.verify import VerifyPolicy

    if not CORPUS.is_dir():
        pytest.fail(f"the attack corpus is missing: {CORPUS}")
    trust = (CORPUS / "trust-anchors" / "ALL-anchors.pem",
             *sorted((CORPUS / "pyhanko-testdata" / "trust").glob("*.pem")))
    policy = VerifyPolicy(trust_roots=trust, at=dt.datetime(2020, 12, 1, tzinfo=dt.UTC))
    return policy, policy.load_roots()


def test_corpus_lists_are_not_empty():
    assert CORPUS.is_dir(), f"the attack corpus is missing: {CORPUS} (set SIGNFLOW_ATTACK_CORPUS)"
    assert len(MUST_FLAG) >= 20 and len(MUST_PASS) >= 15 and len(UNSIGNED) >= 5


@pytest.mark.parametrize("name", MUST_FLAG)
def test_corpus_must_flag(name, corpus_policy):
    from signflow.validation.verify import verify_file

    policy, roots = corpus_policy
    verdict = verify_file(CORPUS / name, policy, roots)
    reasons = [*verdict.problems, *(p for s in verdict.signatures for p in s.problems)]
    assert not verdict.ok, (name, reasons)
    assert reasons, f"{name}: not ok without a reason"


@pytest.mark.parametrize("name", MUST_PASS)
def test_corpus_must_pass_integrity_and_modifications(name, corpus_policy):
    from signflow.validation.verify import verify_file

    policy, roots = corpus_policy
    verdict = verify_file(CORPUS / name, policy, roots)
    assert verdict.readable and verdict.signatures, name
    for s in verdict.signatures:
        assert s.intact and s.valid, (name, s.field)
        assert s.coverage in ("entire_file", "entire_revision"), (name, s.field)
        assert s.modifications in ("none", "lta_updates", "form_filling"), (name, s.field)
        # the only acceptable complaints are about trust (test certificates, old hashes)
        assert not [p for p in s.problems if not any(
            word in p for word in ("chain", "dẫn về", "trusted timestamp", "tin cậy"))], \
            (name, s.problems)
    assert not verdict.problems, (name, verdict.problems)


@pytest.mark.parametrize("name", UNSIGNED)
def test_corpus_unsigned_files_are_not_valid(name, corpus_policy):
    from signflow.validation.verify import verify_file

    policy, roots = corpus_policy
    verdict = verify_file(CORPUS / name, policy, roots)
    assert not verdict.ok and not [s for s in verdict.signatures if not s.is_timestamp], \
        (name, verdict.problems, [s.field for s in verdict.signatures])


@pytest.mark.parametrize("name", EITHER_WAY)
def test_corpus_either_way_files_get_a_reasoned_verdict(name, corpus_policy):
    """Our verdict on the "either way" files: every signature's bytes are intact, and where
    a later revision edits what the first signature locked (the 02_ files), the strict
    workflow policy reports the change on that signature instead of calling it form filling."""
    from signflow.validation.verify import verify_file

    policy, roots = corpus_policy
    verdict = verify_file(CORPUS / name, policy, roots)
    assert verdict.readable and verdict.signatures, name
    assert all(s.intact for s in verdict.signatures), name
    reasons = [*verdict.problems, *(p for s in verdict.signatures for p in s.problems)]
    assert verdict.ok or reasons, f"{name}: not ok without a reason"
    if Path(name).name.startswith("02_"):
        first = verdict.signatures[0]
        assert not verdict.ok and first.modifications == "other", (name, first.modifications)
        assert first.problems, name


def test_library_log_lines_stay_off_the_terminal(tmp_path):
    """pyHanko logs English warnings about odd files; users see the verdict, not those
    (they appear with --debug)."""
    name = "rub-nds-pdf-tester-history/certification-2020/examples/2/01_NDA_cert_p2_original.pdf"
    args = [sys.executable, "-m", "signflow", "verify", str(CORPUS / name),
            "--trust", str(CORPUS / "trust-anchors" / "ALL-anchors.pem"),
            "--at", "2020-12-01T00:00:00Z"]
    env = {**os.environ, "SIGNFLOW_LANG": "vi"}
    quiet = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert quiet.returncode == 1, quiet.stderr
    assert "Signature4" in quiet.stdout, quiet.stdout
    assert "Could not find object" not in quiet.stderr + quiet.stdout
    loud = subprocess.run([*args, "--debug"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert "Could not find object" in loud.stderr


# --- the signature timestamp, outside what the signer signed ------------------------------


def _tamper_signature_timestamp(pdf: Path) -> None:
    """Change one digit of the time in the last signature's timestamp token, in place. The
    token is an unsigned attribute of the CMS, and the CMS sits in the /Contents gap that no
    byte range covers: the signer's signature still verifies, only the token's own does
    not."""
    import binascii
    import re

    from asn1crypto import cms as asn1_cms

    from signflow.validation.revisions import read_history

    data = bytearray(pdf.read_bytes())
    start, first, second_start, _second = (
        int(x) for x in read_history(pdf).signatures[-1].embedded.byte_range)
    assert start == 0 and data[first:first + 1] == b"<"
    digits = bytes(data[first + 1:second_start - 1])
    cms = bytearray(binascii.unhexlify(digits))
    info = asn1_cms.ContentInfo.load(bytes(cms), strict=False)  # (zero padding after it)
    [token] = [attr["values"][0] for attr in info["content"]["signer_infos"][0]["unsigned_attrs"]
               if attr["type"].native == "signature_time_stamp_token"]
    tst_info = token["content"]["encap_content_info"]["content"].contents
    assert bytes(cms).count(tst_info) == 1
    # its genTime: the TSTInfo's only GeneralizedTime (tag 0x18, 15 bytes: ...HHMMSSZ)
    times = [m.start() for m in re.finditer(rb"\x18\x0f\d{14}Z", tst_info)]
    assert len(times) == 1, f"expected one GeneralizedTime in the TSTInfo: {len(times)}"
    second_digit = bytes(cms).find(tst_info) + times[0] + 2 + 13
    cms[second_digit] = ord("0") + (cms[second_digit] - ord("0") + 1) % 10
    data[first + 1:second_start - 1] = binascii.hexlify(bytes(cms)).ljust(len(digits), b"0")
    pdf.write_bytes(bytes(data))


@pytest.mark.parametrize("split", [False, True], ids=["alone", "shared with a child"])
def test_a_tampered_signature_timestamp_proves_no_time(pdf_pack, demo_pki, pki_roster,
                                                       tmp_path, split):
    from signflow.demo.services import serve_pki
    from signflow.i18n import _
    from signflow.signing.signer import SignSettings, sign_documents
    from signflow.validation.verify import VerifyPolicy, verify_file

    member = "vinh-phuc"
    pdf = copy(pdf_pack / member / f"dang-ky-thi-dua-{member}-2019.pdf", tmp_path / "dk.pdf")
    with serve_pki(demo_pki), open_credential(demo_pki, member, "head") as cred:
        sign_documents([pdf], pki_roster, member, "head", cred,
                       SignSettings(level="B-T", tsa_url=demo_pki.tsa_url))
    policy = VerifyPolicy(trust_roots=(demo_pki.root_pem,), roster=pki_roster)
    [honest] = verify_file(pdf, policy, split=split).signatures
    assert honest.level == "B-T" and honest.timestamp and not honest.problems, honest

    _tamper_signature_timestamp(pdf)
    verdict = verify_file(pdf, policy, split=split)
    [signature] = verdict.signatures
    # the signer's own signature is untouched ...
    assert signature.intact and signature.valid and signature.trusted, signature
    # ... but the token's time proves nothing, and that is said
    assert signature.problems == [_("the signature timestamp is not valid")], signature
    assert signature.level == "B-B" and signature.timestamp is None, signature
    assert not signature.ok and not verdict.ok
