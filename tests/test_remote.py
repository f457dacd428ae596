"""Remote signing through the Cloud Signature Consortium API (CSC v1), against a real CSC
service on 127.0.0.1: certomancer-csc-dummy (the server pyHanko's own CSC tests use),
serving the demo PKI's keys over loopback HTTP.

What the dummy does by itself: ``credentials/list`` (every certificate of the certomancer
configuration, as ``<architecture>/<certificate label>``), ``credentials/info`` (the
certificate and its chain, the key's algorithms, SCAL, ``authMode: implicit``),
``credentials/authorize`` (a SAD, an HMAC over the credential and, at SCAL2, the hashes
it may sign) and ``signatures/signHash`` (which refuses a SAD that is forged, or bound to
other hashes or another credential). It authenticates nobody and asks the user for
nothing: it says ``implicit``, the mode where a provider asks the user itself (its phone
app), and grants every authorisation.

What is simulated, and why: a real provider checks the user's PIN and one-time password
in ``credentials/authorize`` and its access token on every request, which the dummy does
not do. ``Provider`` below adds exactly that, as an aiohttp middleware on the dummy's own
application (still over real HTTP): it describes the credential as ``explicit`` with a
PIN (and, when asked, an online OTP, "sent" by ``credentials/sendOTP`` as the next code
of a test SMS gateway), and refuses a wrong PIN or OTP with the CSC error codes
``invalid_pin`` / ``invalid_otp`` (HTTP 400), a missing token with HTTP 401. Everything
else (certificates, SAD, hash pinning, the signatures) is the dummy's.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")

MEMBER = "ha-nam"
DOCUMENT = (MEMBER, f"dang-ky-thi-dua-{MEMBER}-2019.pdf")  # head and seal sign it
PIN = "258013"
OTP = "731946"
TOKEN = "access-token-for-tests-5f1c9e"
RSA_ENCRYPTION = "1.2.840.113549.1.1.1"


@dataclass
class Provider:
    """What a real provider adds to the dummy: the user's PIN and OTP, its access token."""

    pin: str | None = PIN
    otp: bool = False  # an online OTP, sent by credentials/sendOTP
    token: str | None = None
    only_rsa_encryption: bool = False  # lists rsaEncryption alone, as the CSC examples do
    corrupt_signatures: bool = False  # a faulty service: signatures with a byte changed
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    sent_otps: list[str] = field(default_factory=list)
    next_otp: str = OTP

    def install(self, app: Any) -> None:
        from aiohttp import web

        @web.middleware
        async def check(request: web.Request, handler: Any) -> web.StreamResponse:
            endpoint = request.path.removeprefix("/csc/v1/")
            body = await request.json() if request.can_read_body else {}
            self.requests.append((endpoint, body))
            if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
                return web.json_response({"error": "invalid_token",
                                          "error_description": "Invalid access token"},
                                         status=401)
            if endpoint == "credentials/authorize":
                if self.pin is not None and body.get("PIN") != self.pin:
                    return web.json_response({"error": "invalid_pin",
                                              "error_description": "The PIN is invalid"},
                                             status=400)
                if self.otp and (not self.sent_otps or body.get("OTP") != self.sent_otps[-1]):
                    return web.json_response({"error": "invalid_otp",
                                              "error_description": "The OTP is invalid"},
                                             status=400)
                if self.otp:
                    self.sent_otps[-1] = "(used)"
            response = await handler(request)
            if endpoint == "credentials/info" and isinstance(response, web.Response):
                info = json.loads(response.body)  # type: ignore[arg-type]
                info["authMode"] = "explicit"
                if self.pin is not None:
                    info["PIN"] = {"presence": "true", "format": "N", "label": "PIN"}
                if self.otp:
                    info["OTP"] = {"presence": "true", "type": "online", "format": "N",
                                   "label": "SMS OTP"}
                if self.only_rsa_encryption:
                    info["key"]["algo"] = [RSA_ENCRYPTION]
                return web.json_response(info)
            if endpoint == "signatures/signHash" and self.corrupt_signatures:
                answer = json.loads(response.body)  # type: ignore[arg-type]
                raw = [bytearray(base64.b64decode(s)) for s in answer["signatures"]]
                for signature in raw:
                    signature[-1] ^= 1
                answer["signatures"] = [base64.b64encode(bytes(s)).decode() for s in raw]
                return web.json_response(answer)
            return response

        async def send_otp(request: web.Request) -> web.StreamResponse:
            self.sent_otps.append(self.next_otp)
            return web.Response(status=204)

        app.middlewares.append(check)
        app.router.add_post("/csc/v1/credentials/sendOTP", send_otp)

    def authorisations(self) -> list[dict[str, Any]]:
        return [body for endpoint, body in self.requests if endpoint == "credentials/authorize"]


@contextlib.contextmanager
def csc_service(pki: Any, scal: int = 2, provider: Provider | None = None) -> Iterator[str]:
    """certomancer-csc-dummy over the demo PKI on 127.0.0.1 (a free port), in a thread of
    its own; yields its base URL."""
    from aiohttp import web
    from certomancer.registry import CertomancerConfig
    from csc_dummy.csc_dummy_server import CSCWithCertomancer, DummyServiceParams

    service = CSCWithCertomancer(
        CertomancerConfig.from_file(str(pki.config_path)),
        service_params=DummyServiceParams(hash_pinning_required=scal == 2))
    service.register_routes()
    if provider is not None:
        provider.install(service.app)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(service.app, access_log=None)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.run_until_complete(runner.cleanup())
        loop.close()


def credential_id(pki: Any, member: str, role: str = "head") -> str:
    return f"{pki.arch}/{pki.credential(member, role).label}"


@pytest.fixture
def document(pdf_pack, tmp_path) -> Path:
    """The member's registration form: its head signs, then its seal."""
    target = tmp_path / "dang-ky.pdf"
    shutil.copyfile(pdf_pack.joinpath(*DOCUMENT), target)
    return target


def sign_args(pdf: Path, pki: Any, url: str, *extra: str) -> list[str]:
    return ["sign", str(pdf), "--roster", str(pki.roster_path), "--member", MEMBER,
            "--csc-url", url, "--ledger", str(pdf.parent / "ledger.sqlite"), *extra]


def verdict_of(pdf: Path, pki: Any, roster: Any) -> Any:
    from signflow.validation.verify import VerifyPolicy, verify_file

    return verify_file(pdf, VerifyPolicy(trust_roots=(pki.root_pem,), roster=roster))


def the_signature(verdict: Any, role: str = "head") -> Any:
    (signature,) = [s for s in verdict.signatures if s.member == MEMBER and s.role == role]
    return signature


def test_signed_through_the_csc_service_verifies_with_the_roster(
        cli, document, demo_pki, pki_roster, monkeypatch):
    """Done-when: a document signed through the CSC service verifies ok with the roster:
    the member's head, then its seal, both remote, the document complete. Each credential
    is found by its certificate (no --csc-credential); the dummy's own implicit mode: the
    provider confirms with the user, signflow says so and waits."""
    monkeypatch.delenv("SIGNFLOW_CSC_TOKEN", raising=False)
    with csc_service(demo_pki, scal=2) as url:
        head = cli(*sign_args(document, demo_pki, url))
        # the clerical office numbers the document between the head and the seal
        numbered = cli("number", document, "--roster", demo_pki.roster_path, "--ledger",
                       document.parent / "ledger.sqlite")
        assert numbered.code == 0, numbered.err
        seal = cli(*sign_args(document, demo_pki, url, "--role", "seal"))
    assert head.code == 0, head.err
    assert seal.code == 0, seal.err
    assert "ứng dụng" in head.err, head.err  # "confirm in the provider's app"
    verdict = verdict_of(document, demo_pki, pki_roster)
    assert verdict.ok and verdict.complete, verdict.problems
    for role in ("head", "seal"):
        signature = the_signature(verdict, role)
        assert signature.ok and signature.valid and signature.trusted and signature.intact
        assert signature.certificate_sha256 == demo_pki.credential(MEMBER, role).sha256
        assert signature.identity == "sha256"  # the roster's pin, not just the name


@pytest.mark.parametrize("scal", [1, 2])
def test_one_pin_entry_for_several_documents(scal, document, demo_pki, pki_roster, tmp_path):
    """Through the library: a PIN credential signs two documents with one PIN entry. At
    SCAL1 one authorisation covers both (numSignatures 2, no hashes); at SCAL2 each
    signature has its own, bound to its hash. A provider that lists only rsaEncryption
    gets signAlgo rsaEncryption with hashAlgo SHA-256."""
    from signflow.signing.credentials import CscAuthData, open_csc
    from signflow.signing.signer import sign_documents

    second = tmp_path / "second.pdf"
    shutil.copyfile(document, second)
    provider = Provider(only_rsa_encryption=True)
    asked = []

    def answer(request):
        asked.append(request)
        return CscAuthData(pin=PIN)

    with csc_service(demo_pki, scal=scal, provider=provider) as url, open_csc(
            url, credential_id=credential_id(demo_pki, MEMBER), authorize=answer,
            signatures=2) as cred:
        assert cred.source.startswith("CSC 127.0.0.1:")
        sign_documents([document, second], pki_roster, MEMBER, "head", cred)
    assert [(r.pin, r.otp) for r in asked] == [(True, False)]
    authorisations = provider.authorisations()
    assert {a["PIN"] for a in authorisations} == {PIN}
    if scal == 1:
        assert [(a["numSignatures"], "hash" in a) for a in authorisations] == [(2, False)]
    else:
        assert [(a["numSignatures"], len(a["hash"])) for a in authorisations] == [(1, 1)] * 2
    sign_hash = [b for e, b in provider.requests if e == "signatures/signHash"]
    assert len(sign_hash) == 2 and {b["signAlgo"] for b in sign_hash} == {RSA_ENCRYPTION}
    assert {b["hashAlgo"] for b in sign_hash} == {"2.16.840.1.101.3.4.2.1"}
    for pdf in (document, second):
        verdict = verdict_of(pdf, demo_pki, pki_roster)
        assert the_signature(verdict).ok, verdict
        assert verdict.missing == [{"member": MEMBER, "role": "seal"}], verdict.missing


def test_a_refused_authorisation_leaves_the_file_unchanged(
        cli, document, demo_pki, tmp_path, monkeypatch):
    """Done-when: a refused authorisation leaves the file unchanged. The provider layer
    (see the module's docstring) refuses the wrong PIN with invalid_pin, as a real
    provider does; exit 2, one Vietnamese line, the file byte for byte as it was, and the
    PIN typed appears nowhere (even with --debug)."""
    wrong = "999999"
    (tmp_path / "pin").write_text(wrong + "\n", encoding="utf-8")
    before = document.read_bytes()
    provider = Provider()
    with csc_service(demo_pki, scal=2, provider=provider) as url:
        result = cli(*sign_args(document, demo_pki, url, "--csc-pin-file",
                                str(tmp_path / "pin")))
        debug = cli("--debug", *sign_args(document, demo_pki, url, "--csc-pin-file",
                                          str(tmp_path / "pin")))
    assert result.code == 2, result.out + result.err
    assert document.read_bytes() == before
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert "từ chối xác thực" in lines[0] and "mã PIN không đúng" in lines[0], lines[0]
    assert "không thay đổi" in lines[0], lines[0]
    assert debug.code == 2
    # the service did get the PIN (so it was really refused), and nothing shows it
    assert [a.get("PIN") for a in provider.authorisations()] == [wrong, wrong]
    for text in (result.out, result.err, debug.out, debug.err):
        assert wrong not in text
    assert not any(e == "signatures/signHash" for e, _b in provider.requests)


def test_right_pin_and_online_otp_with_an_access_token(
        cli, document, demo_pki, pki_roster, tmp_path, monkeypatch):
    """PIN and an SMS OTP (sent by credentials/sendOTP before the user is asked), the
    access token from the environment: signed; neither secret in the output."""
    provider = Provider(otp=True, token=TOKEN)
    monkeypatch.setenv("SIGNFLOW_CSC_TOKEN", TOKEN)
    monkeypatch.setenv("SIGNFLOW_CSC_PIN", PIN)
    monkeypatch.setenv("SIGNFLOW_CSC_OTP", OTP)
    with csc_service(demo_pki, scal=2, provider=provider) as url:
        result = cli(*sign_args(document, demo_pki, url, "--csc-credential",
                                credential_id(demo_pki, MEMBER)))
    assert result.code == 0, result.err
    endpoints = [e for e, _b in provider.requests]
    assert endpoints.index("credentials/sendOTP") < endpoints.index("credentials/authorize")
    (authorisation,) = provider.authorisations()
    assert authorisation["PIN"] == PIN and authorisation["OTP"] == OTP
    assert len(authorisation["hash"]) == 1 and authorisation["numSignatures"] == 1  # SCAL2
    for secret in (PIN, OTP, TOKEN):
        assert secret not in result.out + result.err
    assert the_signature(verdict_of(document, demo_pki, pki_roster)).ok


def test_wrong_otp_and_missing_token_are_refused(cli, document, demo_pki, tmp_path,
                                                  monkeypatch):
    before = document.read_bytes()
    monkeypatch.setenv("SIGNFLOW_CSC_PIN", PIN)
    monkeypatch.setenv("SIGNFLOW_CSC_OTP", "000000")
    monkeypatch.delenv("SIGNFLOW_CSC_TOKEN", raising=False)
    with csc_service(demo_pki, provider=Provider(otp=True)) as url:
        result = cli(*sign_args(document, demo_pki, url))
    assert result.code == 2 and "OTP không đúng" in result.err, result.err
    assert "000000" not in result.err and PIN not in result.err
    with csc_service(demo_pki, provider=Provider(token=TOKEN)) as url:
        result = cli(*sign_args(document, demo_pki, url))
    assert result.code == 2 and "HTTP 401" in result.err, result.err
    assert "--csc-token-file" in result.err
    assert document.read_bytes() == before


def test_another_members_credential_is_refused_by_the_roster(
        cli, document, demo_pki, monkeypatch):
    """The same roster checks as for files and tokens: a CSC credential holding another
    member's certificate (Nam Định's head) cannot sign as Hà Nam; refused before any
    authorisation is asked for, the file unchanged."""
    before = document.read_bytes()
    provider = Provider()
    monkeypatch.setenv("SIGNFLOW_CSC_PIN", PIN)
    with csc_service(demo_pki, provider=provider) as url:
        result = cli(*sign_args(document, demo_pki, url, "--csc-credential",
                                credential_id(demo_pki, "nam-dinh")))
    assert result.code == 2, result.out + result.err
    assert "từ chối ký" in result.err and "không phải chứng thư số của" in result.err, \
        result.err
    assert document.read_bytes() == before
    assert provider.authorisations() == []  # nobody was asked for anything


def test_unknown_credential_and_unreachable_service(cli, document, demo_pki, tmp_path):
    """A credential id the service does not know, and a service that is not running:
    each a one-line error, the file unchanged."""
    before = document.read_bytes()
    with csc_service(demo_pki) as url:
        unknown = cli(*sign_args(document, demo_pki, url, "--csc-credential",
                                 f"{demo_pki.arch}/no-such-label"))
    gone = cli(*sign_args(document, demo_pki, url))  # the service has stopped
    assert unknown.code == 2 and "HTTP 404" in unknown.err, unknown.err
    assert gone.code == 2 and "không kết nối được" in gone.err, gone.err
    assert document.read_bytes() == before


def test_key_source_and_url_checks(cli, document, demo_pki, tmp_path):
    cred = demo_pki.credential(MEMBER, "head")
    both = cli(*sign_args(document, demo_pki, "https://ky-so.example.vn"), "--pkcs12",
               str(cred.p12))
    assert both.code == 2 and "--csc-url" in both.err, both.err
    plain = cli(*sign_args(document, demo_pki, "http://ky-so.example.vn"))
    assert plain.code == 2 and "https://" in plain.err, plain.err
    userinfo = cli(*sign_args(document, demo_pki, "https://user:secret@ky-so.example.vn"))
    assert userinfo.code == 2 and "secret" not in userinfo.err, userinfo.err


def test_roster_pin_reads_the_certificate_from_the_service(cli, demo_pki, tmp_path):
    """Pinning needs the certificate only: no authorisation is asked for."""
    roster = tmp_path / "roster.toml"
    shutil.copyfile(demo_pki.roster_path, roster)
    for image in ("images",):
        shutil.copytree(demo_pki.roster_path.parent / image, tmp_path / image)
    provider = Provider()
    with csc_service(demo_pki, provider=provider) as url:
        result = cli("roster", "pin", roster, "--member", MEMBER, "--csc-url", url,
                     "--csc-credential", credential_id(demo_pki, MEMBER), "--yes")
    assert result.code == 0, result.err
    assert demo_pki.credential(MEMBER, "head").sha256 in result.out
    assert provider.authorisations() == []


def test_a_remote_signer_never_goes_to_other_processes(demo_pki, monkeypatch):
    """Bulk signing shares work between forked processes only for keys held in memory;
    a CSC signer (an HTTP client with the user's authorisation) stays in this one."""
    import os

    from signflow.signing.credentials import open_csc, open_pkcs12
    from signflow.signing.signer import BULK_MINIMUM, _bulk_workers

    # as if this process had no other thread (the service's, pytest's): only the kind of
    # key decides
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    prepared = [(Path(f"{i}.pdf"), b"", "field") for i in range(4 * BULK_MINIMUM)]
    with csc_service(demo_pki) as url, open_csc(
            url, credential_id=credential_id(demo_pki, MEMBER)) as remote:
        assert _bulk_workers(prepared, remote) == 1
    files = demo_pki.credential(MEMBER, "head")
    in_memory = open_pkcs12(files.p12, files.passphrase().encode())
    assert _bulk_workers(prepared, in_memory) == min(os.cpu_count() or 1, 8)


def test_a_signature_the_certificate_does_not_verify_is_not_written(
        cli, document, demo_pki, monkeypatch):
    """A faulty service (simulated: the provider layer changes a byte of each signature
    signHash returns) is caught before the file is written."""
    before = document.read_bytes()
    monkeypatch.setenv("SIGNFLOW_CSC_PIN", PIN)
    with csc_service(demo_pki, provider=Provider(corrupt_signatures=True)) as url:
        result = cli(*sign_args(document, demo_pki, url))
    assert result.code == 2 and "không khớp với chứng thư số" in result.err, result.err
    assert document.read_bytes() == before


def test_signature_timestamp_with_a_remote_key(cli, document, demo_pki, pki_roster):
    """B-T: the demo TSA stamps the signature the CSC service made (pyHanko sizes it with
    a dry run, which never reaches the service)."""
    from signflow.demo.services import serve_pki

    with serve_pki(demo_pki), csc_service(demo_pki) as url:
        result = cli(*sign_args(document, demo_pki, url, "--level", "B-T", "--tsa",
                                demo_pki.tsa_url))
    assert result.code == 0, result.err
    signature = the_signature(verdict_of(document, demo_pki, pki_roster))
    assert signature.ok and signature.level == "B-T" and signature.timestamp, signature
