"""`verify --online` means online: an OCSP responder or CRL distribution point that cannot
be reached (connection refused, timeout, HTTP error, garbage answer) is a problem in the
verdict, never a silent "valid"; reachable, it says valid; embedded validation data that
already proves the status still suffices. Nothing is mocked: the demo PKI's certificates
point their OCSP/CRL URLs at 127.0.0.1:<port>, where certomancer answers only inside
`serve_pki`, and where these tests put nothing, or a server of their own that answers badly.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import polib
import pytest

from .conftest import open_credential

MSGID = "the revocation status could not be checked online ({reason})"
ENGLISH = MSGID.split(" ({reason})")[0]


def _vietnamese() -> str:
    """The Vietnamese problem text (up to its reason), as the catalogue has it."""
    from signflow.i18n import catalog_path

    po = {e.msgid: e.msgstr for e in polib.pofile(str(catalog_path("vi")))}
    text = po.get(MSGID, "")
    assert "không kiểm tra được tình trạng thu hồi" in text, f"vi translation of {MSGID!r}"
    return text.split("{reason}")[0].rstrip(" (")


def _port(demo_pki) -> int:
    return urlsplit(demo_pki.url).port


def _assert_nothing_listens(demo_pki) -> None:
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", _port(demo_pki))) != 0, \
            "something answers at the demo PKI's URL outside serve_pki"


class _BadService(http.server.BaseHTTPRequestHandler):
    """Answers OCSP requests (POST) and CRL downloads (GET) badly, as ``mode`` says."""

    mode = "error"

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        if self.mode == "silent":  # accepts, then says nothing until the client gives up
            time.sleep(4)
            return
        if self.mode == "error":
            self.send_response(503)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/ocsp-response")
        self.end_headers()
        self.wfile.write(b"\x30\x03\x0a\x01\x00 this is neither OCSP nor a CRL")

    do_GET = do_POST = _answer  # noqa: N815 - http.server API

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def _bad_service(demo_pki, mode: str) -> Iterator[None]:
    """A server of our own at the demo PKI's URL (certomancer is not running)."""
    _assert_nothing_listens(demo_pki)
    handler = type(f"_Bad{mode.title()}", (_BadService,), {"mode": mode})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", _port(demo_pki)), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def _verify(cli, pdf: Path, demo_pki, *args: str) -> tuple[int, dict]:
    result = cli("--lang", "en", "verify", pdf, "--trust", demo_pki.root_pem, "--json",
                 *args)
    return result.code, json.loads(result.out)


def _people(report: dict) -> list[dict]:
    return [s for s in report["signatures"] if not s["is_timestamp"]]


def _assert_revocation_unchecked(code: int, report: dict, demo_pki) -> None:
    assert code == 1, report
    assert report["ok"] is False, report
    people = _people(report)
    assert people, report
    for s in people:
        shown = json.dumps(s, ensure_ascii=False)
        assert s["ok"] is False, shown
        # the chain itself is fine: only the revocation status is not established
        assert s["trusted"] is True and s["revoked"] is None, shown
        problems = [p for p in s["problems"] if p.startswith(ENGLISH)]
        assert problems, shown
        # the reason names the failing service
        assert any(demo_pki.url in p for p in problems), problems


@pytest.fixture(scope="module")
def one_signature(pdf_pack, demo_pki, pki_roster, tmp_path_factory) -> Path:
    """One member's registration signed by its head (B-B): its certificate names the demo
    PKI's OCSP responder and CRL; the document carries no validation data."""
    from signflow.signing.signer import sign_documents

    member = "hai-duong"
    pdf = tmp_path_factory.mktemp("online") / "dang-ky.pdf"
    shutil.copyfile(pdf_pack / member / f"dang-ky-thi-dua-{member}-2019.pdf", pdf)
    with open_credential(demo_pki, member, "head") as cred:
        sign_documents([pdf], pki_roster, member, "head", cred)
    pdf.chmod(0o444)
    return pdf


@pytest.fixture(scope="module")
def timestamped_signature(pdf_pack, demo_pki, pki_roster, tmp_path_factory) -> Path:
    """One member's registration signed by its head with a signature timestamp (B-T): the
    TSA's certificate names the demo PKI's CRL; no validation data is embedded."""
    from signflow.demo.services import serve_pki
    from signflow.signing.signer import SignSettings, sign_documents

    member = "vinh-phuc"
    pdf = tmp_path_factory.mktemp("online-bt") / "dang-ky.pdf"
    shutil.copyfile(pdf_pack / member / f"dang-ky-thi-dua-{member}-2019.pdf", pdf)
    with serve_pki(demo_pki), open_credential(demo_pki, member, "head") as cred:
        sign_documents([pdf], pki_roster, member, "head", cred,
                       SignSettings(level="B-T", tsa_url=demo_pki.tsa_url))
    pdf.chmod(0o444)
    return pdf


def test_online_with_the_revocation_services_refusing_is_not_ok(cli, signed_agreement,
                                                                  demo_pki):
    from signflow.demo.pki import load_demo_pki
    from signflow.roster import load_roster
    from signflow.validation.verify import VerifyPolicy, verify_file

    _assert_nothing_listens(demo_pki)  # connection refused at every OCSP/CRL URL
    roster = ("--roster", demo_pki.roster_path)
    # offline (the default) nothing changes: no revocation data, no fetching, valid
    code, report = _verify(cli, signed_agreement, demo_pki, *roster)
    assert code == 0 and report["ok"] is True, report
    # online: every signature's revocation status was to be checked, and could not be
    code, report = _verify(cli, signed_agreement, demo_pki, *roster, "--online")
    _assert_revocation_unchecked(code, report, demo_pki)
    assert len(_people(report)) == 18
    # in Vietnamese (the default), as a table and as JSON
    table = cli("verify", signed_agreement, "--trust", demo_pki.root_pem, *roster, "--online")
    assert table.code == 1, table.out
    assert "Traceback" not in table.err, table.err
    # the table says why: every signature's revocation status, naming the service
    assert f"18 chữ ký: {_vietnamese()}" in table.out, table.out
    assert demo_pki.url in table.out, table.out
    result = cli("verify", signed_agreement, "--trust", demo_pki.root_pem, *roster,
                 "--online", "--json")
    assert result.code == 1, result.err
    vi = json.loads(result.out)
    assert all(any(p.startswith(_vietnamese()) for p in s["problems"])
               for s in _people(vi)), vi
    # the library says the same
    pki = load_demo_pki(demo_pki.dir)
    policy = VerifyPolicy(trust_roots=(pki.root_pem,), roster=load_roster(pki.roster_path),
                          online=True)
    verdict = verify_file(signed_agreement, policy)
    assert verdict.ok is False, verdict.problems
    assert all(not s.ok and s.revoked is None for s in verdict.signatures), \
        [(s.field, s.ok, s.revoked) for s in verdict.signatures]


@pytest.mark.parametrize("mode", ["error", "garbage"])
def test_online_with_an_http_error_or_garbage_answer_is_not_ok(cli, one_signature, demo_pki,
                                                               mode):
    with _bad_service(demo_pki, mode):
        code, report = _verify(cli, one_signature, demo_pki, "--online")
    _assert_revocation_unchecked(code, report, demo_pki)
    code, report = _verify(cli, one_signature, demo_pki)  # offline: as before
    assert code == 0 and report["ok"], report


def test_online_with_a_silent_service_times_out_and_is_not_ok(cli, one_signature, demo_pki,
                                                              monkeypatch):
    from signflow.validation import verify

    monkeypatch.setattr(verify, "FETCH_TIMEOUT", 1)  # seconds per request, not 10
    started = time.monotonic()
    with _bad_service(demo_pki, "silent"):
        code, report = _verify(cli, one_signature, demo_pki, "--online")
    _assert_revocation_unchecked(code, report, demo_pki)
    assert time.monotonic() - started < 30, f"{time.monotonic() - started:.0f} s"


def test_online_the_timestamp_authority_is_checked_the_same_way(cli, timestamped_signature,
                                                                 demo_pki):
    """The signature timestamp's TSA certificate: its revocation status not established
    online, the token's time is not used (B-B, no timestamp), and the signature is not ok."""
    _assert_nothing_listens(demo_pki)
    code, report = _verify(cli, timestamped_signature, demo_pki, "--online")
    _assert_revocation_unchecked(code, report, demo_pki)
    sig = _people(report)[0]
    assert any(p.startswith(f"the signature timestamp is not used: {ENGLISH}")
               for p in sig["problems"]), sig["problems"]
    assert sig["level"] == "B-B" and sig["timestamp"] is None
    code, report = _verify(cli, timestamped_signature, demo_pki)  # offline: as before
    assert code == 0 and report["ok"], report
    assert _people(report)[0]["level"] == "B-T"


def test_online_with_the_services_up_is_valid(cli, signed_agreement, one_signature,
                                              timestamped_signature, lta_agreement, demo_pki):
    from signflow.demo.services import serve_pki

    with serve_pki(demo_pki):
        for pdf in (signed_agreement, lta_agreement):
            code, report = _verify(cli, pdf, demo_pki, "--roster", demo_pki.roster_path,
                                   "--online")
            assert code == 0, report
            assert report["ok"] is True and report["complete"] is True
            assert len(_people(report)) == 18
            for s in report["signatures"]:
                assert s["ok"] and s["trusted"] and s["revoked"] is False, s
        code, report = _verify(cli, one_signature, demo_pki, "--online")
        assert code == 0 and report["ok"], report
        assert _people(report)[0]["revoked"] is False
        code, report = _verify(cli, timestamped_signature, demo_pki, "--online")
        assert code == 0 and report["ok"], report
        sig = _people(report)[0]
        assert sig["revoked"] is False and sig["level"] == "B-T" and sig["timestamp"]


def test_online_embedded_validation_data_suffices(cli, lta_agreement, demo_pki):
    """The archived agreement carries OCSP responses and CRLs for every certificate (DSS):
    with the services down, --online judges it on that data, as offline does."""
    _assert_nothing_listens(demo_pki)
    args = ("--roster", demo_pki.roster_path)
    code, offline = _verify(cli, lta_agreement, demo_pki, *args)
    assert code == 0 and offline["ok"], offline
    code, report = _verify(cli, lta_agreement, demo_pki, *args, "--online")
    assert code == 0, report
    assert report["ok"] is True and report["complete"] is True
    for s in _people(report):
        assert s["ok"] and s["revoked"] is False and s["level"] == "B-LTA", s
