"""The portal and the second level (issue 17, item 2): a member's office collects its
departments' signatures on the internal pledge through its own link, before its head; the
secretariat's matrix counts them. Real HTTP on 127.0.0.1, `signflow sign` in its own
process, Debian's Chromium for the screenshots."""

from __future__ import annotations

import pytest

from .conftest import ARTEFACTS
from .portal_support import form_token, multipart, request, sign_with_cli, text_of

pytestmark = pytest.mark.slow

MEMBER = "ninh-binh"  # PKCS#12 keys
PLEDGE = f"giao-uoc-noi-bo-{MEMBER}-2019.pdf"


@pytest.fixture(scope="module")
def portal_round(demo_pki, pdf_pack, tmp_path_factory):
    from signflow.portal.config import PortalConfig
    from signflow.portal.server import PortalServer

    config = PortalConfig(roster=demo_pki.roster_path, trust=(demo_pki.root_pem,),
                          data_dir=tmp_path_factory.mktemp("portal-departments"))
    server = PortalServer(config, port=0).start()
    try:
        round_ = server.portal.create_round(
            "Giao ước nội bộ", [(PLEDGE, (pdf_pack / MEMBER / PLEDGE).read_bytes())], "test")
        yield server, round_
    finally:
        server.stop()


def test_an_office_collects_its_departments_then_its_head(portal_round, demo_pki, pki_roster,
                                                         tmp_path, browser):
    server, round_ = portal_round
    portal = server.portal
    # one office, one link: the departments are the member's, not offices of their own
    assert portal.members(round_) == [MEMBER]
    (doc,) = portal.documents(round_)
    token = portal.issue_link(round_, MEMBER, "test")
    departments = [f"{MEMBER}/{d.id}" for d in pki_roster.member(MEMBER).departments]

    def queue() -> str:
        status, html, _h = request(server.port, "GET", f"/m/{token}")
        assert status == 200, text_of(html)
        return html

    page = text_of(queue())
    assert "Đến lượt đơn vị: ký trưởng các phòng, đơn vị, người đứng đầu, con dấu." in page, page
    assert f"--member {MEMBER}/MÃ_PHÒNG --role head (chưa ký: van-phong," in page, page
    (cell,) = [c for c in portal.matrix(round_)[0].cells[MEMBER].values()
               if c.role == "departments"]
    assert (cell.signer, cell.next, cell.signed) == (f"0/{len(departments)}", True, False)

    pdf = tmp_path / PLEDGE
    pdf.write_bytes(portal.document_path(round_, doc).read_bytes())
    for signer in departments[:2]:
        sign_with_cli(demo_pki, pdf, signer, "head")
    body, kind = multipart({"form_token": form_token(queue(), doc.id)},
                           {"file": (PLEDGE, pdf.read_bytes())})
    status, html, _h = request(server.port, "POST", f"/m/{token}/d/{doc.id}", body,
                               {"Content-Type": kind,
                                "Origin": f"http://127.0.0.1:{server.port}"})
    assert status == 200 and "Đã nhận" in text_of(html), text_of(html)
    row = portal.matrix(round_)[0]
    assert row.cells[MEMBER]["departments"].signer == f"2/{len(departments)}"
    assert not row.cells[MEMBER]["head"].next, "the head may not sign before its departments"
    assert any("Ninh Bình: " in words for words in row.next), row.next

    page = browser.new_page(viewport={"width": 1100, "height": 700}, locale="vi-VN")
    try:
        page.goto(f"{server.url.rstrip('/')}/m/{token}")
        page.screenshot(path=str(ARTEFACTS / "portal-departments-queue.png"), full_page=True)
        page.goto(f"{server.url.rstrip('/')}/login")
        page.fill("input[name=username]", "vanphong")
        page.fill("input[name=password]", portal.password_file.read_text().strip())
        page.click("button.primary")
        page.wait_for_url("**/rounds")
        page.goto(f"{server.url.rstrip('/')}/rounds/{round_.id}")
        cell_text = page.locator("table.matrix small.departments").first.inner_text()
        assert cell_text == f"phòng 2/{len(departments)}", cell_text
        page.screenshot(path=str(ARTEFACTS / "portal-departments-matrix.png"), full_page=True)
    finally:
        page.close()
