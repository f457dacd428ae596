"""The signing ceremony as a page of the local signing agent, in Debian's headless Chromium
(Playwright with the system browser): the 2019 agreement, already signed by the first six
members (PKCS#12, B-T), is finished in the room by the last three, each with their own
SoftHSM2 token "plugged in" by its folder appearing where the agent's PKCS#11 module looks
and "pulled out" by its folder going away (as tests/test_ceremony.py does for the
terminal). The agent runs as `signflow agent`, in its own process, with that module.

On the way: the first head asked has left the room (skipped, asked again at the end), a
wrong PIN (refused, the field empty, the ceremony goes on), a token pulled out at the PIN
prompt; each clerical office seals right after its head. At the end the page archives the
agreement, which verifies complete at B-LTA, and links the report. Every step is in the
agent's ledger; no PIN is in a page or in what the agent printed.

Screenshots: tests/artefacts/agent-ceremony-*.png.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT, chromium, require_tool

pytestmark = pytest.mark.slow

SIGNFLOW = str(ROOT / ".venv" / "bin" / "signflow")
SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
IN_THE_ROOM = 3  # the last members of the roster sign in the ceremony


def make_token(base: Path, demo_pki: Any, member: str, index: int) -> dict[str, Any]:
    """One member's token (head and seal keys) in a store folder of its own."""
    store = base / "store" / member
    store.mkdir(parents=True)
    conf = base / f"{member}.conf"
    conf.write_text(f"directories.tokendir = {store}\nobjectstore.backend = file\n"
                    "log.level = ERROR\n")
    pin, label = secrets.token_hex(4), f"token-{member}"
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin,
                    "--so-pin", secrets.token_hex(4)], env=env, check=True,
                   capture_output=True, timeout=60)
    objects = [{"label": f"{member}-{role}", "id": f"{index + 1:02x}{n:02x}",
                "key": str(demo_pki.credential(member, role).key_pem),
                "cert": str(demo_pki.credential(member, role).cert_pem)}
               for n, role in enumerate(("head", "seal"))]
    done = subprocess.run(
        [sys.executable, "-c", "from signflow.demo.softhsm import _token_import_main; "
                               "_token_import_main()"],
        input=json.dumps({"module": SOFTHSM_MODULE, "token": label, "pin": pin,
                          "objects": objects}),
        env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    (folder,) = [p for p in store.iterdir() if p.is_dir()]
    return {"label": label, "pin": pin, "folder": folder}


def presign(pdf: Path, demo_pki: Any, roster: Any, members: list[str]) -> None:
    """The members who signed before the ceremony (their PKCS#12 files, B-T)."""
    from signflow.signing.credentials import open_pkcs12
    from signflow.signing.signer import SignSettings, sign_documents

    settings = SignSettings(level="B-T", tsa_url=demo_pki.tsa_url)
    for member in members:
        for role in ("head", "seal"):
            cred = demo_pki.credential(member, role)
            sign_documents([pdf], roster, member, role,
                           open_pkcs12(cred.p12, cred.passphrase().encode()), settings)


def wait_for_agent(process: subprocess.Popen[str], port: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/")
            assert conn.getresponse().status == 200
            conn.close()
            return
        except OSError:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the agent did not start"
            time.sleep(0.2)


def test_the_ceremony_in_the_agents_page(demo_pki, pki_roster, pdf_pack, tmp_path, artefacts):
    require_tool("softhsm2-util")
    from playwright.sync_api import sync_playwright

    from signflow.demo.pki import free_loopback_port
    from signflow.demo.services import serve_pki

    started = time.monotonic()
    roster = pki_roster
    ids = list(roster.member_ids)
    before, room_members = ids[:-IN_THE_ROOM], ids[-IN_THE_ROOM:]
    leaves, wrong_pin, pulled = room_members  # asked first; signs first; signs second
    tokens = {m: make_token(tmp_path / "tokens", demo_pki, m, ids.index(m))
              for m in room_members}
    ports = tmp_path / "ports"  # where the module looks: the computer's USB ports
    ports.mkdir()
    ports_conf = tmp_path / "ports.conf"
    ports_conf.write_text(f"directories.tokendir = {ports}\nobjectstore.backend = file\n"
                          "log.level = ERROR\n")

    def unplug(folder: Path) -> None:
        # moved away in one step (the agent may be reading the folder this very moment,
        # SoftHSM writing its lock file there), then removed
        gone = tmp_path / f"pulled-{secrets.token_hex(4)}"
        os.rename(folder, gone)
        shutil.rmtree(gone, ignore_errors=True)

    def plug(member: str) -> None:
        for old in ports.iterdir():
            unplug(old)  # the previous token is pulled out
        staged = tmp_path / f"plugging-{secrets.token_hex(4)}"  # appears whole, at once
        shutil.copytree(tokens[member]["folder"], staged)
        os.rename(staged, ports / tokens[member]["folder"].name)

    def pull(member: str) -> None:
        unplug(ports / tokens[member]["folder"].name)

    agreement = tmp_path / "giao-uoc-thi-dua-2019.pdf"
    shutil.copyfile(pdf_pack / "cluster" / "giao-uoc-thi-dua-2019.pdf", agreement)
    head = {m: roster.member(m).head.name for m in ids}
    unit = {m: roster.member(m).unit for m in ids}
    work = tmp_path / "work"
    port = free_loopback_port()
    env = {**os.environ, "SIGNFLOW_LANG": "vi", "SOFTHSM2_CONF": str(ports_conf)}
    env.pop("SIGNFLOW_PIN", None)
    with serve_pki(demo_pki):
        presign(agreement, demo_pki, roster, before)
        print(f"the agreement pre-signed by {len(before)} members after "
              f"{time.monotonic() - started:.1f} s")
        agent = subprocess.Popen(
            [SIGNFLOW, "agent", "--roster", str(demo_pki.roster_path), "--trust",
             str(demo_pki.root_pem), "--tsa", demo_pki.tsa_url, "--level", "B-T",
             "--pkcs11-lib", SOFTHSM_MODULE, "--port", str(port), "--work", str(work),
             "--pairing-secret-file", str(tmp_path / "secret.txt")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
        try:
            wait_for_agent(agent, port)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium(), headless=True)
                try:
                    page = browser.new_page(viewport={"width": 1366, "height": 900},
                                            locale="vi-VN")
                    run_the_room(page, f"http://127.0.0.1:{port}", agreement, tokens, plug,
                                 pull, head, unit, leaves, wrong_pin, pulled, artefacts)
                finally:
                    browser.close()
        finally:
            agent.send_signal(signal.SIGINT)
            out, err = agent.communicate(timeout=60)
    print(f"the ceremony page's test took {time.monotonic() - started:.1f} s")

    # no PIN in what the agent printed
    for token in tokens.values():
        assert token["pin"] not in out + err
    # the agreement in the work folder: complete, every signature at B-LTA
    from signflow.validation.verify import VerifyPolicy, verify_file

    (signed,) = list((work / "documents").glob("*/giao-uoc-thi-dua-2019.pdf"))
    verdict = verify_file(signed, VerifyPolicy(trust_roots=(demo_pki.root_pem,),
                                               roster=roster))
    assert verdict.ok and verdict.complete, (verdict.problems, verdict.missing)
    people = [s for s in verdict.signatures if not s.is_timestamp]
    assert len(people) == 2 * len(ids) and all(s.level == "B-LTA" for s in people), \
        [(s.field, s.level) for s in people]
    # every step in the agent's ledger, as the terminal's ceremony writes them
    from signflow.ledger import Ledger

    with Ledger(work / "signflow-ledger.sqlite", read_only=True) as ledger:
        events = ledger.events()
    actions = [e.action for e in events]
    for action in ("ceremony-started", "ceremony-skipped", "ceremony-failed",
                   "ceremony-finished"):
        assert action in actions, actions
    assert actions.count("ceremony-failed") == 2, actions  # the wrong PIN, the pulled token
    for token in tokens.values():
        assert token["pin"] not in json.dumps([e.details for e in events])
    assert sum(1 for a in actions if a.startswith("sign")) >= 2 * IN_THE_ROOM, actions


def run_the_room(page: Any, url: str, agreement: Path, tokens: dict[str, Any], plug: Any,
                 pull: Any, head: dict[str, str], unit: dict[str, str], leaves: str,
                 wrong_pin: str, pulled: str, artefacts: Path) -> None:
    def shot(name: str) -> None:
        page.screenshot(path=str(artefacts / f"agent-ceremony-{name}.png"), full_page=False)

    def invited(member: str) -> None:
        page.wait_for_function(
            "name => (document.querySelector('.call h1') || {}).textContent?.includes(name)",
            arg=f"Mời đồng chí {head[member]}", timeout=30_000)

    def asked_for_pin(who: str) -> None:
        page.wait_for_function(
            "who => (document.querySelector('form.ceremony-pin label') || {})"
            ".textContent?.includes(who)", arg=who, timeout=30_000)
        assert page.get_attribute("#pin", "type") == "password"
        assert page.input_value("#pin") == ""

    def sign(member: str, role: str) -> None:
        who = head[member] if role == "head" else unit[member]
        asked_for_pin(who)
        page.fill("#pin", tokens[member]["pin"])
        page.click("form.ceremony-pin button[type=submit]")
        page.wait_for_function(
            "who => [...document.querySelectorAll('ul.steps li.signed')]"
            ".some(li => li.textContent.includes('Đã ký: ' + who))", arg=who,
            timeout=60_000)

    def no_pin_shown() -> None:
        content = page.content()
        for token in tokens.values():
            assert token["pin"] not in content

    # the home page leads to the ceremony; the agreement is dropped on its page
    page.goto(url)
    page.click("a[href='/ceremony']")
    page.wait_for_url("**/ceremony")
    page.set_input_files("#ceremony-form input[type=file]", str(agreement))
    page.wait_for_url("**/ceremony/*")
    assert "12/18 chữ ký" in page.inner_text(".progress"), page.inner_text(".progress")

    # the first asked has left the room: skipped, the next head is asked
    invited(leaves)
    shot("1-next")
    page.click("form.skip button")
    invited(wrong_pin)
    assert "skipped" in (page.get_attribute(
        f"ol.order li:has-text('{head[leaves]}')", "class") or "")

    # the token plugged in is noticed by the page; a wrong PIN first
    plug(wrong_pin)
    asked_for_pin(head[wrong_pin])
    assert "cắm" not in page.inner_text(".call h1")
    shot("2-pin")
    page.fill("#pin", "00000000")
    page.click("form.ceremony-pin button[type=submit]")
    page.wait_for_selector(".call .error")
    assert "từ chối mã PIN" in page.inner_text(".call .error"), page.inner_text(".call")
    asked_for_pin(head[wrong_pin])  # asked again, the field empty
    sign(wrong_pin, "head")
    # the clerical office seals right after its head, with the token still plugged in
    sign(wrong_pin, "seal")
    image = page.locator("figure.signed-page img")
    assert image.count() == 1
    assert page.evaluate("img => img.naturalWidth", image.element_handle()) > 500
    invited(pulled)
    shot("3-signed")
    no_pin_shown()

    # a token pulled out at the PIN prompt (the PIN already typed)
    plug(pulled)
    asked_for_pin(head[pulled])
    page.fill("#pin", tokens[pulled]["pin"])
    pull(pulled)
    page.click("form.ceremony-pin button[type=submit]")
    page.wait_for_function(
        "() => [...document.querySelectorAll('ul.steps li.failed')]"
        ".some(li => li.textContent.includes('rút'))", timeout=30_000)
    invited(pulled)
    plug(pulled)
    sign(pulled, "head")
    sign(pulled, "seal")

    # the one who left is back: asked again, signs, the seal follows
    invited(leaves)
    plug(leaves)
    sign(leaves, "head")
    sign(leaves, "seal")
    no_pin_shown()

    # the end: archived, verified, the report
    page.wait_for_selector("form.finish button.big")
    page.click("form.finish button.big")
    page.wait_for_selector(".call.end", timeout=120_000)
    end = page.inner_text(".call.end")
    assert "Mọi chữ ký đều có và hợp lệ" in end and "B-LTA" in end, end
    shot("4-end")
    report = page.request.get(page.url + "/report")
    assert report.ok and "Biên bản xác minh chữ ký số" in report.text()
    assert "frame-ancestors 'none'" in report.headers["content-security-policy"]
    signed = page.request.get(page.url + "/file")
    assert signed.ok and signed.body().startswith(b"%PDF")
    # another site's script cannot ask the page's question (no header, no CORS)
    refused = page.request.get(page.url + "/state")
    assert refused.status == 403
    # the ceremony's forms come from the agent's own page only
    for action in ("sign", "skip", "finish"):
        refused = page.request.post(f"{page.url}/{action}",
                                    headers={"Origin": "http://127.0.0.1:9"},
                                    form={"form_token": "doan-bua", "pin": "12345678"})
        assert refused.status == 403, action
    no_pin_shown()
