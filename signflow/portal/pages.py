"""The routes: the member's queue (by personal link), the secretariat's pages, the
archivist's verification. Each handler checks, calls ``service.Portal``, renders."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from signflow.errors import InputError, SignflowError
from signflow.i18n import _
from signflow.portal.app import (
    COOKIE,
    Web,
    blocking,
    client,
    csrf_ok,
    download_headers,
    same_origin,
)
from signflow.portal.security import TOKEN
from signflow.portal.service import Refused

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response


def routes(web: Web) -> list[tuple[str, Any, list[str]]]:
    from starlette.responses import RedirectResponse, Response

    portal = web.portal

    # --- helpers ----------------------------------------------------------------------

    async def read_form(request: Request, files: int = 1) -> Any:
        try:
            return await request.form(max_files=files, max_fields=10,
                                      max_part_size=64 * 1024)
        except Exception:  # a malformed body: the caller refuses it
            return None

    async def read_file(upload: Any) -> tuple[str, bytes] | None:
        if upload is None or not hasattr(upload, "read"):
            return None
        data = await upload.read(portal.config.max_upload_bytes + 1)
        return str(upload.filename or ""), data

    async def account(request: Request) -> tuple[Any, Any] | None:
        return await blocking(portal.session, request.cookies.get(COOKIE))

    async def secretariat(request: Request, post: bool = False,
                          form: Any = None) -> tuple[Any, Any] | Response:
        """The logged-in secretariat, or the page to show instead; a post must carry the
        session's CSRF token and come from the portal's own origin."""
        found = await account(request)
        if found is None:
            return RedirectResponse("/login", status_code=303)
        session, user = found
        if user.role != "secretariat":
            return web.problem(request, 403, _("This page is for the cluster's secretariat."))
        if post:
            token = form.get("csrf") if form is not None else None
            if not same_origin(request, web) or not csrf_ok(token, session.csrf):
                reason = "csrf-missing" if not token else "csrf-wrong"
                await blocking(portal.record, None, "portal-refused", {
                    "reason": reason, "who": user.username, "path": request.url.path,
                    "client": client(request)})
                return web.problem(request, 403, _(
                    "This form did not come from the portal's own page, or it has expired: "
                    "reload the page and send it again."))
        return session, user

    def context(found: tuple[Any, Any]) -> dict[str, Any]:
        return {"user": found[1], "csrf": found[0].csrf}

    async def load_round(request: Request) -> Any:
        try:
            round_id = int(request.path_params["round_id"])
        except (KeyError, ValueError):
            return None
        return await blocking(portal.round, round_id)

    async def secretariat_round(request: Request, post: bool = False, form: Any = None
                                ) -> tuple[tuple[Any, Any], Any] | Response:
        """The logged-in secretariat and the round the address names, or the page to show
        instead (the login, a refusal, "no such round")."""
        found = await secretariat(request, post, form)
        if not isinstance(found, tuple):
            return found
        round_ = await load_round(request)
        if round_ is None:
            return web.problem(request, 404, _("There is no such round."), _("Not found"))
        return found, round_

    # --- home, login ------------------------------------------------------------------

    async def home(request: Request) -> Response:
        found = await account(request)
        if found is not None:
            return RedirectResponse("/rounds" if found[1].role == "secretariat"
                                    else "/verify", status_code=303)
        return web.render(request, "home.html")

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return web.render(request, "login.html", {"error": None})
        form = await read_form(request, files=0)
        who = client(request)
        if not web.login_limiter.allow(f"login:{who}"):
            await blocking(portal.record, None, "portal-refused", {
                "reason": "rate-limited", "path": "/login", "client": who})
            return web.render(request, "login.html", {"error": _(
                "Too many attempts: wait a minute and try again.")}, 429)
        if form is None or not same_origin(request, web):
            return web.problem(request, 403, _("This form did not come from the portal's own "
                                               "page: reload the page and try again."))
        made = await blocking(portal.login, str(form.get("username", "")),
                              str(form.get("password", "")), who)
        if made is None:
            return web.render(request, "login.html", {"error": _(
                "Wrong name or password.")}, 401)
        response = RedirectResponse("/", status_code=303)
        secure = web.base_url.startswith("https://")
        response.set_cookie(COOKIE, made[0], httponly=True, samesite="strict", secure=secure,
                            max_age=12 * 3600)
        return response

    async def logout(request: Request) -> Response:
        token = request.cookies.get(COOKIE)
        if token:
            await blocking(portal.logout, token)
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    # --- the secretariat ----------------------------------------------------------------

    async def rounds(request: Request) -> Response:
        post = request.method == "POST"
        form: Any = await read_form(request, files=100) if post else None
        if post and form is None:
            return web.problem(request, 400, _("The form could not be read."))
        found = await secretariat(request, post, form)
        if not isinstance(found, tuple):
            return found
        error = None
        if post:
            files: list[tuple[str, bytes]] = []
            pack = str(form.get("pack", "") or "")
            try:
                if pack.isdigit():  # a pack of the settings, by its number only
                    choices = await blocking(portal.pack_choices)
                    if int(pack) >= len(choices):
                        raise InputError(_("no such pack"))
                    files = [(p.name, p.read_bytes()) for p in choices[int(pack)][2]]
                else:
                    for upload in form.getlist("files"):
                        got = await read_file(upload)
                        if got is not None and got[1]:
                            if len(got[1]) > portal.config.max_upload_bytes:
                                raise InputError(_("a file is too large"))
                            files.append(got)
                made = await blocking(portal.create_round, str(form.get("title", "")),
                                      files, found[1].username)
                return RedirectResponse(f"/rounds/{made.id}/links", status_code=303)
            except SignflowError as exc:
                error = exc.message
                await blocking(portal.record, None, "portal-refused", {
                    "reason": "round-refused", "who": found[1].username,
                    "message": error[:500]})
        listed = await blocking(portal.rounds)
        packs = await blocking(portal.pack_choices)
        return web.render(request, "rounds.html", {**context(found), "rounds": listed,
                                                   "packs": packs, "error": error},
                          400 if error else 200)

    async def matrix(request: Request) -> Response:
        loaded = await secretariat_round(request)
        if not isinstance(loaded, tuple):
            return loaded
        found, round_ = loaded
        rows = await blocking(portal.matrix, round_)
        members = await blocking(portal.members, round_)
        message = request.query_params.get("done")
        return web.render(request, "round.html", {
            **context(found), "round": round_, "rows": rows, "members": members,
            "complete": bool(rows) and all(r.complete for r in rows),
            "done": message if message in DONE else None, "uploads": await blocking(
                portal.uploads, round_)})

    async def links(request: Request) -> Response:
        post = request.method == "POST"
        form: Any = await read_form(request, files=0) if post else None
        loaded = await secretariat_round(request, post, form)
        if not isinstance(loaded, tuple):
            return loaded
        found, round_ = loaded
        members = await blocking(portal.members, round_)
        fresh: dict[str, str] = {}
        mailed: list[str] = []
        user = found[1].username
        if post:
            member = str(form.get("member", ""))
            action = str(form.get("action", ""))
            targets = members if member == "*" else [m for m in members if m == member]
            if not targets:
                return web.problem(request, 404, _("There is no such member in this round."))
            for target in targets:
                if action == "revoke":
                    await blocking(portal.revoke_links, round_, target, user)
                else:
                    token = await blocking(portal.issue_link, round_, target, user)
                    fresh[target] = f"{web.base_url}/m/{token}"
                    try:
                        if await blocking(portal.mail_link, round_, target, token,
                                          web.base_url, user):
                            mailed.append(target)
                    except SignflowError as exc:
                        return web.problem(request, 502, exc.message, _("E-mail"))
        states = await blocking(portal.link_states, round_)
        return web.render(request, "links.html", {
            **context(found), "round": round_, "members": members, "states": states,
            "fresh": fresh, "mailed": mailed, "expired": _expired})

    async def round_action(request: Request) -> Response:
        form = await read_form(request, files=0)
        loaded = await secretariat_round(request, True, form)
        if not isinstance(loaded, tuple):
            return loaded
        found, round_ = loaded
        action = request.path_params["action"]
        try:
            if action == "remind":
                mailed = await blocking(portal.remind, round_, found[1].username,
                                        web.base_url)
                done = "reminded" if mailed else "nobody"
            elif action == "archive":
                await blocking(portal.archive, round_, found[1].username)
                done = "archived"
            else:
                return web.problem(request, 404, _("There is no such page."), _("Not found"))
        except SignflowError as exc:
            return web.problem(request, 409, exc.message, _("Not done"))
        return RedirectResponse(f"/rounds/{round_.id}?done={done}", status_code=303)

    async def round_file(request: Request) -> Response:
        loaded = await secretariat_round(request)
        if not isinstance(loaded, tuple):
            return loaded
        found, round_ = loaded
        what = request.path_params["what"]
        if what == "report.html":
            from signflow._internal.webserver import REPORT_POLICY

            html = await blocking(portal.report, round_)
            return Response(html, media_type="text/html; charset=utf-8",
                            headers={"Content-Security-Policy": REPORT_POLICY})
        if what == "pack.zip":
            data = await blocking(portal.pack_zip, round_)
            await blocking(portal.record, round_, "portal-download", {
                "who": found[1].username, "what": "pack.zip"})
            return Response(data, media_type="application/zip",
                            headers=download_headers(f"ho-so-{round_.uid[:8]}.zip"))
        if what == "audit":
            events, problems = await blocking(portal.audit, round_)
            return web.render(request, "audit.html", {
                **context(found), "round": round_, "events": events, "problems": problems,
                "label": event_label})
        return web.problem(request, 404, _("There is no such page."), _("Not found"))

    async def round_document(request: Request) -> Response:
        found = await secretariat(request)
        if not isinstance(found, tuple):
            return found
        round_ = await load_round(request)
        doc = await blocking(portal.document, round_, int(request.path_params["doc_id"])) \
            if round_ is not None else None
        if round_ is None or doc is None:
            return web.problem(request, 404, _("There is no such document."), _("Not found"))
        data = await blocking(portal.download, round_, doc, found[1].username)
        return Response(data, media_type="application/pdf", headers=download_headers(doc.name))

    # --- the archivist ----------------------------------------------------------------

    async def verify(request: Request) -> Response:
        post = request.method == "POST"
        form: Any = await read_form(request) if post else None
        found = await account(request)
        if found is None:
            return RedirectResponse("/login", status_code=303)
        session, user = found
        ctx = {"user": user, "csrf": session.csrf, "verdict": None, "error": None,
               "partial": False}
        if not post:
            return web.render(request, "verify.html", ctx)
        if form is None or not same_origin(request, web) or \
                not csrf_ok(form.get("csrf"), session.csrf):
            await blocking(portal.record, None, "portal-refused", {
                "reason": "csrf-wrong", "who": user.username, "path": "/verify"})
            return web.problem(request, 403, _("This form did not come from the portal's own "
                                               "page, or it has expired: reload the page and "
                                               "send it again."))
        got = await read_file(form.get("file"))
        if got is None or not got[1]:
            return web.render(request, "verify.html", {**ctx, "error": _(
                "Choose a PDF file.")}, 400)
        try:
            verdict, html = await blocking(portal.verify_upload, got[1], got[0], user.username)
        except Refused as exc:
            return web.render(request, "verify.html", {**ctx, "error": exc.message},
                              exc.status)
        if request.query_params.get("format") == "html":
            from signflow._internal.webserver import REPORT_POLICY

            return Response(html, media_type="text/html; charset=utf-8",
                            headers={"Content-Security-Policy": REPORT_POLICY})
        partial = not verdict.ok and not verdict.problems and verdict.missing and \
            all(s.ok for s in verdict.signatures)
        return web.render(request, "verify.html", {**ctx, "verdict": verdict,
                                                   "partial": partial})

    # --- a member office, by its personal link -----------------------------------------

    async def member_link(request: Request) -> tuple[Any, Any] | Response:
        token = request.path_params["token"]
        if not TOKEN.match(token):
            await blocking(portal.record, None, "portal-refused", {
                "reason": "malformed-link", "client": client(request)})
            return web.problem(request, 404, _("This link is not valid: check that it was "
                                               "copied whole, or ask the cluster's "
                                               "secretariat for a new one."))
        try:
            return await blocking(portal.resolve_link, token, client(request))
        except Refused as exc:
            return web.problem(request, exc.status, exc.message)

    async def queue_page(request: Request, link: Any, round_: Any,
                         result: Any = None, status: int = 200) -> Response:
        items = await blocking(portal.queue, link, round_)
        tokens = {}
        for item in items:
            if not item.done:
                tokens[item.document.id] = await blocking(
                    portal.form_token, f"link:{link.id}", f"upload:{item.document.id}")
        return web.render(request, "queue.html", {
            "round": round_, "member": portal.roster.member(link.member), "link": link,
            "items": items, "tokens": tokens, "token": request.path_params["token"],
            "result": result}, status)

    async def member_queue(request: Request) -> Response:
        found = await member_link(request)
        if not isinstance(found, tuple):
            return found
        return await queue_page(request, *found)

    async def member_document(request: Request) -> Response:
        found = await member_link(request)
        if not isinstance(found, tuple):
            return found
        link, round_ = found
        try:
            doc_id = int(request.path_params["doc_id"])
        except ValueError:
            doc_id = -1
        try:
            doc = await blocking(portal.member_document, link, round_, doc_id,
                                 client(request))
        except Refused as exc:
            return web.problem(request, exc.status, exc.message)
        if request.method == "GET":
            data = await blocking(portal.download, round_, doc, f"member:{link.member}")
            return Response(data, media_type="application/pdf",
                            headers=download_headers(doc.name))
        form = await read_form(request)
        details = {"member": link.member, "document": doc.name, "client": client(request)}
        if form is None:
            await blocking(portal.record, round_, "portal-refused",
                           {"reason": "bad-form", **details})
            return web.problem(request, 400, _("The form could not be read."))
        spent = await blocking(portal.spend_form_token, form.get("form_token"),
                               f"link:{link.id}", f"upload:{doc.id}")
        if spent is None and not same_origin(request, web):
            spent = "wrong-origin"
        if spent is not None:
            await blocking(portal.record, round_, "portal-refused",
                           {"reason": f"csrf-{spent}", **details})
            if spent == "replayed":
                return web.problem(request, 409, _(
                    "This form was already sent once (a repeated request): reload your "
                    "queue and send the file again if needed."))
            return web.problem(request, 403, _(
                "This form did not come from the portal's own page, or it has expired: "
                "reload the page and send it again."))
        got = await read_file(form.get("file"))
        if got is None or not got[1]:
            await blocking(portal.record, round_, "portal-refused",
                           {"reason": "no-file", **details})
            return await queue_page(request, link, round_, {
                "ok": False, "headline": _("Choose the signed PDF file first."),
                "lines": []}, 400)
        if len(got[1]) > portal.config.max_upload_bytes:
            await blocking(portal.record, round_, "portal-refused",
                           {"reason": "too-large", **details})
            return web.problem(request, 413, _("The file is too large: at most {n} MB. "
                                               "Nothing was received.").format(
                n=portal.config.max_upload_bytes // (1024 * 1024)))
        try:
            result = await blocking(portal.upload, link, round_, doc, got[1],
                                    client(request))
        except Refused as exc:
            return await queue_page(request, link, round_, {
                "ok": False, "headline": exc.message, "lines": []}, exc.status)
        status = 200 if result.ok or result.result == "nothing-new" else \
            409 if result.result == "stale" else 422
        return await queue_page(request, link, round_, {
            "ok": result.ok, "headline": result.headline, "lines": result.lines}, status)

    return [
        ("/", home, ["GET"]),
        ("/login", login, ["GET", "POST"]),
        ("/logout", logout, ["POST"]),
        ("/rounds", rounds, ["GET", "POST"]),
        ("/rounds/{round_id:int}", matrix, ["GET"]),
        ("/rounds/{round_id:int}/links", links, ["GET", "POST"]),
        ("/rounds/{round_id:int}/do/{action}", round_action, ["POST"]),
        ("/rounds/{round_id:int}/documents/{doc_id:int}", round_document, ["GET"]),
        ("/rounds/{round_id:int}/{what}", round_file, ["GET"]),
        ("/verify", verify, ["GET", "POST"]),
        ("/m/{token}", member_queue, ["GET"]),
        ("/m/{token}/d/{doc_id}", member_document, ["GET", "POST"]),
    ]


DONE = ("reminded", "nobody", "archived")  # what the round's page says after an action


def _expired(link: Any) -> bool:
    """SQLite gives naive UTC back, PostgreSQL the session's time zone: compare aware."""
    from signflow.portal.db import aware, utcnow

    return aware(link.expires_at) < utcnow()


def event_label(action: str, details: dict[str, Any]) -> str:
    from signflow.ledger import event_label as ledger_label

    labels = {
        "portal-round-created": _("round created"),
        "portal-link-issued": _("personal link issued"),
        "portal-link-revoked": _("personal links revoked"),
        "portal-link-mailed": _("personal link e-mailed"),
        "portal-download": _("downloaded"),
        "portal-upload": _("signed copy uploaded"),
        "portal-refused": _("refused"),
        "portal-reminded": _("reminder e-mailed"),
        "portal-archived": _("round archived"),
    }
    return labels.get(action) or ledger_label(action, details)
