"""The signing portal (issue 16): the 2019 round played through the portal in Debian's
headless Chromium, on SQLite and on a real PostgreSQL server.

Nine member offices each download the newest revision through their personal link, sign
it on "their computer" with `signflow sign` (PKCS#12 files, the SoftHSM2 token for three
of them) and upload it; two of them race (the loser is told "tài liệu đã có bản mới hơn,
hãy tải lại"), one uploads a copy signed on an old revision, one a tampered file. The
secretariat's matrix ends complete, the round is archived (B-LTA) and the agreement
verifies complete with signflow's own verifier. Nothing is mocked: real HTTP on 127.0.0.1,
a real browser, real signatures, a real timestamp authority on loopback.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .conftest import ARTEFACTS, append_change
from .portal_support import AGREEMENT, Offices, postgres_url
from .test_attacks import overlay_page_one

pytestmark = pytest.mark.slow

# screenshots for a human to look at; the best ones are copied by hand to docs/images/
IMAGES = ARTEFACTS
IMAGES.mkdir(parents=True, exist_ok=True)
RACE = "tài liệu đã có bản mới hơn, hãy tải lại"


@pytest.fixture(scope="module")
def offices(demo_pki, tmp_path_factory) -> Offices:
    return Offices(demo_pki, tmp_path_factory.mktemp("offices"))


@pytest.fixture(scope="module")
def pki_served(demo_pki):
    """The demo PKI's timestamp authority, OCSP and CRLs on loopback (for the archive)."""
    from signflow.demo.services import serve_pki

    with serve_pki(demo_pki):
        yield demo_pki


@dataclass
class Served:
    server: Any  # signflow.portal.server.PortalServer
    url: str
    password: str


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request, pki_served, tmp_path_factory):
    from signflow.portal.config import PortalConfig
    from signflow.portal.server import PortalServer

    with postgres_url() if request.param == "postgresql" else _none() as url:
        config = PortalConfig(roster=pki_served.roster_path, trust=(pki_served.root_pem,),
                              tsa=pki_served.tsa_url, database_url=url,
                              data_dir=tmp_path_factory.mktemp(f"portal-{request.param}"))
        server = PortalServer(config, port=0).start()
        try:
            assert server.portal.engine.dialect.name == request.param
            password = server.portal.password_file.read_text().strip()
            yield Served(server, server.url.rstrip("/"), password)
        finally:
            server.stop()


class _none:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        pass


def off_the_loop(function: Any, *args: Any) -> Any:
    """signflow's verifier runs its own asyncio loop: not in this thread, where the
    browser's loop runs."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(function, *args).result()


def login(page: Any, served: Served) -> None:
    page.goto(served.url + "/login")
    page.fill("input[name=username]", "vanphong")
    page.fill("input[name=password]", served.password)
    page.click("button.primary")
    page.wait_for_url("**/rounds")


def download(page: Any, link: str) -> bytes:
    page.goto(link)
    with page.expect_download() as info:
        page.locator("li.card a.button").first.click()
    return Path(info.value.path()).read_bytes()


def choose(page: Any, data: bytes) -> None:
    page.locator("li.card input[type=file]").first.set_input_files(
        {"name": AGREEMENT, "mimeType": "application/pdf", "buffer": data})


def upload(page: Any, data: bytes) -> str:
    choose(page, data)
    page.locator("li.card button.primary").first.click()
    page.wait_for_selector("#result")
    return page.locator("#result").inner_text()


def test_the_2019_round_through_the_portal(served, browser, offices, pdf_pack, demo_pki,
                                           pki_roster, tmp_path):
    from signflow.validation.verify import VerifyPolicy, verify_file

    pack_pdf = pdf_pack / "cluster" / AGREEMENT
    context = browser.new_context(viewport={"width": 1500, "height": 900}, locale="vi-VN",
                                  accept_downloads=True)
    office = browser.new_context(viewport={"width": 1100, "height": 900}, locale="vi-VN",
                                 accept_downloads=True)
    try:
        # the secretariat logs in and creates the round from the generated agreement
        page = context.new_page()
        login(page, served)
        page.fill("input[name=title]", "Ký giao ước thi đua 2019")
        page.set_input_files("input[name=files]", str(pack_pdf))
        page.click("#new-round button.primary")
        page.wait_for_url("**/links")
        round_url = page.url.rsplit("/links", 1)[0]
        page.click("#issue-all")
        page.wait_for_selector("#fresh-links")
        links = {el.get_attribute("data-member"): el.inner_text()
                 for el in page.locator("code.link").all()}
        assert list(links) == pki_roster.member_ids, links

        def plays(member: str, data: bytes | None = None) -> str:
            member_page = office.new_page()
            try:
                base = download(member_page, links[member])
                return upload(member_page, data if data is not None
                              else offices.sign(base, member))
            finally:
                member_page.close()

        # 1. the leader's office
        assert "Đã nhận" in plays("ninh-binh")
        early = office.new_page()  # Hưng Yên downloads now and signs much later
        early_copy = download(early, links["hung-yen"])

        # 2. two offices sign the same revision and upload at the same moment
        racers = {}
        for member in ("nam-dinh", "ha-nam"):
            racers[member] = office.new_page()
            signed = offices.sign(download(racers[member], links[member]), member)
            choose(racers[member], signed)
        for member_page in racers.values():
            member_page.locator("li.card button.primary").first.click(no_wait_after=True)
        results = {}
        for member, member_page in racers.items():
            member_page.wait_for_selector("#result", timeout=120_000)
            results[member] = member_page.locator("#result").inner_text()
        won = [m for m, text in results.items() if "Đã nhận" in text]
        lost = [m for m, text in results.items() if RACE in text]
        assert len(won) == 1 and len(lost) == 1, results
        if served.server.portal.engine.dialect.name == "sqlite":
            racers[lost[0]].screenshot(path=str(IMAGES / "portal-race.png"), full_page=True)
        for member_page in racers.values():
            member_page.close()
        assert "Đã nhận" in plays(lost[0])  # the loser downloads again, signs, uploads

        # 3. an ordinary office
        assert "Đã nhận" in plays("thai-binh")

        # 4. the stale copy: signed on the revision downloaded at the start
        stale = offices.sign(early_copy, "hung-yen")
        text = upload(early, stale)
        assert RACE in text and "không tệp nào bị ghi đè" in text.lower() or \
            "Không có gì bị ghi đè" in text, text
        early.close()
        assert "Đã nhận" in plays("hung-yen")

        # 5. a tampered file: signed, then page 1 changed in a revision of its own
        member_page = office.new_page()
        base = download(member_page, links["hai-duong"])
        tampered_path = tmp_path / "tampered.pdf"
        tampered_path.write_bytes(offices.sign(base, "hai-duong"))
        append_change(tampered_path, overlay_page_one)
        text = upload(member_page, tampered_path.read_bytes())
        assert "Bị từ chối" in text and "một trang bị thay đổi" in text, text
        member_page.close()
        assert "Đã nhận" in plays("hai-duong")

        # 6. the last three; a member's queue is photographed before its upload
        for member in ("bac-ninh", "vinh-phuc", "quang-ninh"):
            if member == "quang-ninh" and served.server.portal.engine.dialect.name == "sqlite":
                shot_page = office.new_page()
                shot_page.goto(links[member])
                shot_page.screenshot(path=str(IMAGES / "portal-queue.png"), full_page=True)
                shot_page.close()
            assert "Đã nhận" in plays(member)

        # the secretariat's matrix is complete; it archives; the agreement verifies complete
        page.goto(round_url)
        assert "Hoàn tất" in page.locator("#round-state").inner_text()
        assert page.locator("#matrix td.signed").count() == 18
        if served.server.portal.engine.dialect.name == "sqlite":
            page.screenshot(path=str(IMAGES / "portal-matrix.png"), full_page=True)
        page.click("#archive")
        page.wait_for_url("**done=archived")
        response = page.request.get(round_url + "/pack.zip")
        assert response.ok
        with zipfile.ZipFile(io.BytesIO(response.body())) as zf:
            archived = zf.read(AGREEMENT)
            assert "bien-ban-xac-minh.html" in zf.namelist()
        final = tmp_path / AGREEMENT
        final.write_bytes(archived)
        verdict = off_the_loop(verify_file, final, VerifyPolicy(
            trust_roots=(demo_pki.root_pem,), roster=pki_roster))
        assert verdict.ok and verdict.complete, verdict.problems
        assert any(s.is_timestamp for s in verdict.signatures), "not archived"

        # the audit trail: intact, with the refusals in it
        page.goto(round_url + "/audit")
        assert page.locator("#chain-ok").count() == 1
        portal = served.server.portal
        (round_,) = [r for r in portal.rounds() if round_url.endswith(f"/{r.id}")]
        events, problems = portal.audit(round_)
        assert not problems
        reasons = [e.details.get("reason") for e in events if e.action == "portal-refused"]
        assert reasons.count("stale") == 2 and reasons.count("refused") == 1, reasons
    finally:
        context.close()
        office.close()
