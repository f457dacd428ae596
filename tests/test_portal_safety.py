"""The portal under abuse (issue 16, "Safe by default"): another office's link or document,
revoked and expired links, CSRF (missing, wrong, another origin), a replayed upload, a
huge upload (413 before the body is read), a non-PDF, a forged signature (a certificate
of the same CA that is not the office's), another office's signatures through a link,
path tricks in names and addresses, the per-link rate limit. Each refusal is a clear
Vietnamese message and an event in the hash chain. Also e-mail through a real SMTP server
on 127.0.0.1 (aiosmtpd), and the command's one-line errors.

Real HTTP on 127.0.0.1, real signatures (`signflow sign`, and pyHanko for the forgery);
nothing is mocked.
"""

from __future__ import annotations

import io
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from .portal_support import (
    AGREEMENT,
    form_token,
    multipart,
    request,
    sign_with_cli,
    text_of,
)

pytestmark = pytest.mark.slow

RATE = 40  # requests per link per minute on this server
PLAN = "ke-hoach-phat-dong-ninh-binh-2019.pdf"


@dataclass
class Setup:
    server: Any
    port: int
    round: Any
    docs: dict[str, Any]  # name -> Document
    links: dict[str, str]  # member -> token
    mail: list[Any]
    origin: str


@pytest.fixture(scope="module")
def smtp_server():
    from aiosmtpd.controller import Controller

    received: list[Any] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's
            received.append(envelope)
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, received
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def setup(demo_pki, pdf_pack, smtp_server, tmp_path_factory):
    from signflow.portal.config import PortalConfig, SmtpSettings
    from signflow.portal.server import PortalServer

    smtp_port, received = smtp_server
    config = PortalConfig(roster=demo_pki.roster_path, trust=(demo_pki.root_pem,),
                          data_dir=tmp_path_factory.mktemp("portal-safety"),
                          max_upload_bytes=5 * 1024 * 1024, rate_per_minute=RATE,
                          smtp=SmtpSettings(host="127.0.0.1", port=smtp_port,
                                            sender="vanphong@cum2.example.vn"),
                          emails={"nam-dinh": "thanhtra@namdinh.example.vn",
                                  "ha-nam": "thanhtra@hanam.example.vn"})
    server = PortalServer(config, port=0).start()
    portal = server.portal
    files = [(AGREEMENT, (pdf_pack / "cluster" / AGREEMENT).read_bytes()),
             # a path trick in a name given at creation: only its last part is kept
             ("..\\..\\" + PLAN, (pdf_pack / "ninh-binh" / PLAN).read_bytes())]
    round_ = portal.create_round("Thử nghiệm an toàn", files, "test")
    docs = {d.name: d for d in portal.documents(round_)}
    links = {m: portal.issue_link(round_, m, "test") for m in portal.members(round_)}
    try:
        yield Setup(server, server.port, round_, docs, links, received,
                    f"http://127.0.0.1:{server.port}")
    finally:
        server.stop()


def refusals(setup: Setup, in_round: bool = True) -> list[dict[str, Any]]:
    events, problems = setup.server.portal.audit(setup.round if in_round else None)
    assert not problems
    return [e.details for e in events if e.action == "portal-refused"]


def queue(setup: Setup, member: str) -> str:
    status, html, _h = request(setup.port, "GET", f"/m/{setup.links[member]}")
    assert status == 200, text_of(html)
    return html


def post_upload(setup: Setup, member: str, doc: str, data: bytes, token: str | None,
                name: str = AGREEMENT, origin: str | None = None) -> tuple[int, str]:
    fields = {"form_token": token} if token is not None else {}
    body, kind = multipart(fields, {"file": (name, data)})
    status, html, _h = request(
        setup.port, "POST", f"/m/{setup.links[member]}/d/{setup.docs[doc].id}", body,
        {"Content-Type": kind, "Origin": origin or setup.origin})
    return status, text_of(html)


def upload(setup: Setup, member: str, doc: str, data: bytes, **kw: Any) -> tuple[int, str]:
    token = form_token(queue(setup, member), setup.docs[doc].id)
    return post_upload(setup, member, doc, data, token, **kw)


def signed_copy(setup: Setup, demo_pki: Any, member: str, folder: Path) -> bytes:
    pdf = folder / member / AGREEMENT
    pdf.parent.mkdir(parents=True)
    pdf.write_bytes(setup.server.portal.document_path(
        setup.round, setup.docs[AGREEMENT]).read_bytes())
    for role in ("head", "seal"):
        sign_with_cli(demo_pki, pdf, member, role)
    return pdf.read_bytes()


def forged(current: bytes, demo_pki: Any, field: str) -> bytes:
    """A signature in ``field`` made with a certificate of the same CA that is not the
    member's (the namesake of another province)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import SigSeedSubFilter

    from signflow.signing.credentials import open_pkcs12

    cred = demo_pki.credential("namesake")
    credential = open_pkcs12(cred.p12, cred.passphrase().encode())
    writer = IncrementalPdfFileWriter(io.BytesIO(current), strict=False)
    meta = signers.PdfSignatureMetadata(field_name=field, md_algorithm="sha256",
                                        subfilter=SigSeedSubFilter.PADES)
    out = io.BytesIO()
    signers.PdfSigner(meta, signer=credential.signer).sign_pdf(writer, output=out)
    return out.getvalue()


def test_links_documents_and_addresses_that_are_not_yours(setup):
    portal = setup.server.portal
    # an unknown link, and a malformed one
    status, html, _h = request(setup.port, "GET", "/m/" + "x" * 43)
    assert status == 404 and "Liên kết không hợp lệ" in text_of(html)
    status, html, _h = request(setup.port, "GET", "/m/..%5C..%5Cportal.sqlite")
    assert status == 404 and "Liên kết không hợp lệ" in text_of(html)
    status, html, _h = request(setup.port, "GET", "/m/%2E%2E%2Fetc%2Fpasswd")
    assert status == 404 and "Không có trang này" in text_of(html)
    reasons = [d["reason"] for d in refusals(setup, in_round=False)]
    assert "unknown-link" in reasons and "malformed-link" in reasons
    assert all("x" * 43 not in str(d) for d in refusals(setup, in_round=False)), \
        "a link is never written into the audit trail"

    # another office's document (Ninh Bình's launch plan through Nam Định's link)
    assert PLAN in setup.docs, setup.docs  # the path trick in its name was dropped
    plan = setup.docs[PLAN]
    status, html, _h = request(setup.port, "GET",
                               f"/m/{setup.links['nam-dinh']}/d/{plan.id}")
    assert status == 404 and "không có trong danh sách việc của đơn vị" in text_of(html)
    assert refusals(setup)[-1]["reason"] == "not-this-member"
    # path tricks in the address reach no file
    for path in (f"/m/{setup.links['nam-dinh']}/d/..%2F..%2Fportal.sqlite",
                 f"/m/{setup.links['nam-dinh']}/d/../../../etc/passwd",
                 "/static/..%2F..%2Fservice.py", "/rounds/1/..%2F..%2Fportal.sqlite"):
        status, html, _h = request(setup.port, "GET", path)
        assert status in (303, 404), (path, status)
        assert "import" not in html and "SQLite" not in html, path

    # a revoked link (a newer one was issued) and an expired one
    old = setup.links["ha-nam"]
    setup.links["ha-nam"] = portal.issue_link(setup.round, "ha-nam", "test")
    status, html, _h = request(setup.port, "GET", f"/m/{old}")
    assert status == 403 and "đã bị thu hồi" in text_of(html)
    assert refusals(setup)[-1]["reason"] == "revoked-link"
    import datetime as dt

    from signflow.portal.db import Link, utcnow
    from signflow.portal.service import digest

    with portal.Session() as db:
        link = db.query(Link).filter(Link.token_hash == digest(setup.links["thai-binh"])).one()
        link.expires_at = utcnow() - dt.timedelta(minutes=1)
        db.commit()
    status, html, _h = request(setup.port, "GET", f"/m/{setup.links['thai-binh']}")
    assert status == 403 and "đã hết hạn" in text_of(html)
    assert refusals(setup)[-1]["reason"] == "expired-link"


def test_forms_uploads_and_signatures_that_are_refused(setup, demo_pki, tmp_path):
    portal = setup.server.portal
    agreement = portal.document_path(setup.round, setup.docs[AGREEMENT])
    original = agreement.read_bytes()

    # CSRF: no token, a wrong one, another site's page with a right one
    status, text = post_upload(setup, "nam-dinh", AGREEMENT, original, None)
    assert status == 403 and "Biểu mẫu này không xuất phát từ trang của cổng" in text
    assert refusals(setup)[-1]["reason"] == "csrf-missing"
    status, text = post_upload(setup, "nam-dinh", AGREEMENT, original, "A" * 32)
    assert status == 403 and refusals(setup)[-1]["reason"] == "csrf-wrong"
    token = form_token(queue(setup, "nam-dinh"), setup.docs[AGREEMENT].id)
    status, text = post_upload(setup, "nam-dinh", AGREEMENT, original, token,
                               origin="https://evil.example")
    assert status == 403 and refusals(setup)[-1]["reason"] == "csrf-wrong-origin"

    # not a PDF (with a path trick in its name): refused before anything else
    status, text = upload(setup, "nam-dinh", AGREEMENT, b"PK\x03\x04 not a pdf" * 100,
                          name="../../../../../tmp/evil.pdf")
    assert status == 415 and "không phải PDF" in text, text
    assert refusals(setup)[-1]["reason"] == "not-pdf"
    assert not Path("/tmp/evil.pdf").exists()

    # a huge upload: 413 from the headers, before the body is read
    with socket.create_connection(("127.0.0.1", setup.port), timeout=30) as sock:
        started = time.monotonic()
        sock.sendall((f"POST /m/{setup.links['nam-dinh']}/d/{setup.docs[AGREEMENT].id} "
                      f"HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; "
                      f"boundary=x\r\nContent-Length: {2 * 1024 ** 3}\r\n\r\n").encode()
                     + b"x" * 65536)
        received = b""
        while chunk := sock.recv(65536):  # the server closes the connection after it
            received += chunk
        answer = received.decode("utf-8", "replace")
        assert time.monotonic() - started < 5
    assert answer.startswith("HTTP/1.1 413"), answer[:200]
    assert "Tệp quá lớn: tối đa 5 MB" in answer
    last = refusals(setup, in_round=False)[-1]
    assert last["reason"] == "too-large" and setup.links["nam-dinh"] not in str(last)

    # Ninh Bình's signed copy sent through Nam Định's link: another office's signatures
    ninh_binh = signed_copy(setup, demo_pki, "ninh-binh", tmp_path)
    status, text = upload(setup, "nam-dinh", AGREEMENT, ninh_binh)
    assert status == 403 and "chữ ký của đơn vị khác (Ninh Bình" in text, text
    assert refusals(setup)[-1]["reason"] == "foreign-signatures"
    assert agreement.read_bytes() == original

    # through its own link it is accepted; the same request replayed is refused
    token = form_token(queue(setup, "ninh-binh"), setup.docs[AGREEMENT].id)
    status, text = post_upload(setup, "ninh-binh", AGREEMENT, ninh_binh, token)
    assert status == 200 and "Đã nhận" in text, text
    status, text = post_upload(setup, "ninh-binh", AGREEMENT, ninh_binh, token)
    assert status == 409 and "đã được gửi một lần" in text, text
    assert refusals(setup)[-1]["reason"] == "csrf-replayed"
    # the newest file sent back as it is: nothing new, nothing changed
    status, text = upload(setup, "nam-dinh", AGREEMENT, ninh_binh)
    assert status == 200 and "Không có gì mới" in text, text
    assert agreement.read_bytes() == ninh_binh

    # a forged signature: Nam Định's field signed with another official's certificate
    status, text = upload(setup, "nam-dinh", AGREEMENT,
                          forged(ninh_binh, demo_pki, "sf-head-nam-dinh"))
    assert status == 422 and "Bị từ chối" in text, text
    assert "Đinh Văn Hùng" in text or "chứng thư" in text, text
    assert agreement.read_bytes() == ninh_binh
    events, _p = portal.audit(setup.round)
    assert events[-1].action == "portal-refused" and events[-2].action == "receive-refused"

    # files are kept by generated ids only
    names = {p.name for p in (portal.round_folder(setup.round) / "docs").iterdir()}
    assert all(re.fullmatch(r"\.?[0-9a-f]{32}\.pdf(\.lock)?", n) for n in names), names
    assert not list((portal.data / "incoming").iterdir()), "uploads are not left behind"


def test_the_rate_limit_of_a_link(setup):
    token = setup.links["bac-ninh"]
    statuses = [request(setup.port, "GET", f"/m/{token}")[0] for _ in range(RATE + 3)]
    assert statuses[:RATE] == [200] * RATE and statuses[RATE:] == [429] * 3, statuses
    status, html, _h = request(setup.port, "GET", f"/m/{token}")
    assert "quá nhiều lần trong một phút" in text_of(html)
    assert refusals(setup)[-1]["reason"] == "rate-limited"
    assert request(setup.port, "GET", f"/m/{setup.links['vinh-phuc']}")[0] == 200


def login(setup: Setup) -> tuple[str, str]:
    """The secretariat's session cookie and its CSRF token, over plain HTTP."""
    password = setup.server.portal.password_file.read_text().strip()
    status, html, headers = request(
        setup.port, "POST", "/login", urlencode({"username": "vanphong", "password": "x"})
        .encode(), {"Content-Type": "application/x-www-form-urlencoded",
                    "Origin": setup.origin})
    assert status == 401 and "Sai tên đăng nhập hoặc mật khẩu" in text_of(html)
    status, html, headers = request(
        setup.port, "POST", "/login", urlencode({"username": "vanphong",
                                                 "password": password}).encode(),
        {"Content-Type": "application/x-www-form-urlencoded", "Origin": setup.origin})
    assert status == 303, text_of(html)
    cookie = headers["set-cookie"].split(";")[0]
    status, html, _h = request(setup.port, "GET", f"/rounds/{setup.round.id}/links",
                               headers={"Cookie": cookie})
    csrf = re.search(r'name="csrf" value="([^"]+)"', html)
    assert status == 200 and csrf
    return cookie, csrf.group(1)


def test_the_secretariat_csrf_and_e_mail(setup):
    cookie, csrf = login(setup)
    path = f"/rounds/{setup.round.id}/links"
    for given, reason in ((None, "csrf-missing"), ("wrong" * 8, "csrf-wrong")):
        fields = {"member": "nam-dinh", "action": "issue",
                  **({"csrf": given} if given else {})}
        status, html, _h = request(setup.port, "POST", path, urlencode(fields).encode(), {
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie,
            "Origin": setup.origin})
        assert status == 403 and "Biểu mẫu này không xuất phát" in text_of(html)
        assert refusals(setup, in_round=False)[-1]["reason"] == reason
    # a new personal link for Nam Định: shown once and e-mailed through the SMTP server
    before = len(setup.mail)
    status, html, _h = request(setup.port, "POST", path, urlencode(
        {"member": "nam-dinh", "action": "issue", "csrf": csrf}).encode(), {
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie,
        "Origin": setup.origin})
    assert status == 200 and "đã gửi thư" in text_of(html)
    link = re.search(r'data-member="nam-dinh">([^<]+)<', html).group(1)
    (mail,) = setup.mail[before:]
    assert mail.rcpt_tos == ["thanhtra@namdinh.example.vn"]
    from email import message_from_bytes
    from email.policy import default

    message = message_from_bytes(mail.content, policy=default)
    assert "Liên kết ký số" in str(message["Subject"])
    assert link in message.get_content() and "Kính gửi Thanh tra tỉnh Nam Định" in \
        message.get_content()
    # a reminder to the offices that are next (Nam Định and Hà Nam have addresses)
    status, html, headers = request(
        setup.port, "POST", f"/rounds/{setup.round.id}/do/remind",
        urlencode({"csrf": csrf}).encode(), {
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie,
            "Origin": setup.origin})
    assert status == 303 and headers["location"].endswith("done=reminded")
    reminded = {m.rcpt_tos[0] for m in setup.mail[before + 1:]}
    assert "thanhtra@namdinh.example.vn" in reminded, reminded
    events, _p = setup.server.portal.audit(setup.round)
    assert {"portal-link-mailed", "portal-reminded"} <= {e.action for e in events}


def test_the_command_says_what_is_wrong_in_one_line(cli, tmp_path, demo_pki):
    bad = tmp_path / "portal.toml"
    bad.write_text("[portal]\nport = 99999\n", encoding="utf-8")
    result = cli("serve", "--config", bad)
    assert result.code == 2 and "port phải là số từ 1 đến 65535" in result.err, result
    assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err
    result = cli("serve", "--roster", demo_pki.roster_path, "--data-dir", tmp_path / "d")
    assert result.code == 2 and "chứng thư gốc tin cậy" in result.err, result
    result = cli("serve", "--roster", demo_pki.roster_path, "--trust", demo_pki.root_pem,
                 "--data-dir", tmp_path / "d", "--database-url", "nosuchdb://x")
    assert result.code == 2 and "không dùng được database_url" in result.err, result
    assert len(result.err.strip().splitlines()) == 1


def test_an_archivist_verifies_a_pdf_and_the_chain_checks_from_the_command_line(
        setup, cli, demo_pki):
    cookie, _csrf = login(setup)
    status, html, _h = request(setup.port, "GET", "/verify", headers={"Cookie": cookie})
    csrf = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
    portal = setup.server.portal
    pdf = portal.document_path(setup.round, setup.docs[AGREEMENT]).read_bytes()
    body, kind = multipart({"csrf": csrf}, {"file": ("../../bản ký.pdf", pdf)})
    status, html, _h = request(setup.port, "POST", "/verify", body, {
        "Content-Type": kind, "Cookie": cookie, "Origin": setup.origin})
    text = text_of(html)
    assert status == 200 and "Các chữ ký hiện có hợp lệ, nhưng còn thiếu chữ ký" in text, text
    assert "còn thiếu: Nam Định (người đứng đầu)" in text, text
    body, kind = multipart({"csrf": csrf}, {"file": ("x.pdf", pdf)})
    status, html, headers = request(setup.port, "POST", "/verify?format=html", body, {
        "Content-Type": kind, "Cookie": cookie, "Origin": setup.origin})
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "<style" in html and "Ninh Bình" in html  # signflow's own report
    assert [e for e in portal.audit(None)[0] if e.action == "portal-verified"]
    # the round's ledger, portal events included, is checked by `signflow log --verify`
    from signflow.demo.services import serve_pki
    from signflow.ledger import LEDGER_NAME

    ledger = portal.round_folder(setup.round) / LEDGER_NAME
    with serve_pki(demo_pki):  # no TSA on this portal: the chain is timestamped here
        assert cli("log", "--ledger", ledger, "--anchor", "--tsa", demo_pki.tsa_url).code == 0
        result = cli("log", "--ledger", ledger, "--verify", "--trust", demo_pki.root_pem)
    assert result.code == 0, result.out[-3000:]
    assert "portal-refused" in result.out or "portal-upload" in result.out, result.out
