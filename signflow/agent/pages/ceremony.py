"""The signing ceremony's page (issue 15, item 2), for a projector: choose the agreement
(one of the documents opened in this session, or a file dropped here), then the page says
who is asked next in large type, notices the token being plugged in (the page asks the
agent every second; the agent looks at the PKCS#11 slots as `signflow ceremony` does),
asks for the PIN with the person's name, signs, shows the signed page, lets someone who
left be skipped and asked again, and at the end archives (B-LTA) and shows the
verification report.

The ceremony itself is ``signflow.ceremony.Ceremony`` (``signflow.agent.ceremonies``
drives it). The PIN form has the same protections as the sign page: the agent's own
Origin, a one-time form token (bound to this ceremony and to the key found), the PIN used
for the token's login only and never stored, logged or shown (a wrong PIN shows an empty
field)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from signflow.i18n import _

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from signflow.agent.app import Agent
    from signflow.agent.ceremonies import CeremonyRoom

START = "ceremony-start"  # the purpose of the choosing page's form token
POLL_HEADER = "x-signflow-poll"  # the page's own script sends it: other sites cannot
MAX_PIN = 64


def routes(agent: Agent) -> list[Any]:
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
    from starlette.routing import Route

    from signflow._internal.webserver import REPORT_POLICY
    from signflow.agent import ceremonies
    from signflow.agent.pages.document import download_headers
    from signflow.agent.security import from_own_page
    from signflow.agent.work import describe, store_document
    from signflow.errors import SignflowError

    def missing(request: Request) -> Response:
        return agent.problem(request, 404, _("Not found"),
                             _("There is no such page or document in this session."))

    def refused(request: Request) -> Response:
        return agent.problem(request, 403, _("Refused"),
                             _("This form can only be sent from the agent's own page."))

    def room_of(request: Request) -> CeremonyRoom | None:
        room: CeremonyRoom | None = agent.state.ceremony(request.path_params["room_id"])
        return room

    # --- choosing the agreement -----------------------------------------------------------

    async def choose(request: Request, error: str | None = None,
                     status: int = 200) -> Response:
        opened = await run_in_threadpool(
            lambda: [describe(d, agent.roster) for d in agent.state.opened()])
        rooms = sorted(agent.state.ceremonies.values(), key=lambda r: r.started,
                       reverse=True)
        return agent.render(request, "ceremony-start.html", {
            "opened": [v for v in opened if not v.error and v.fields],
            "rooms": rooms, "error": error, "form_token": agent.state.forms.issue(START),
            "max_mb": agent.config.max_document_bytes // (1024 * 1024)}, status)

    async def start(request: Request) -> Response:
        if not from_own_page(request.headers, agent.port):
            return refused(request)
        limit = agent.config.max_document_bytes
        try:
            form = await request.form(max_files=1, max_fields=4, max_part_size=64 * 1024)
        except Exception:  # noqa: BLE001 - a malformed or oversized form: say so, keep going
            return await choose(request, _("The form could not be read."), 400)
        try:
            valid, _data = agent.state.forms.spend(form.get("form_token"), START)
            if not valid:
                return await choose(request, _("The page had expired: choose the document "
                                               "again."), 400)
            chosen = form.get("document_id")
            upload = form.get("document")
            doc = None
            if upload is None or isinstance(upload, str) or not upload.filename:
                # no file dropped or chosen: one of the documents opened
                doc = agent.state.document(chosen) if isinstance(chosen, str) else None
                if doc is None:
                    return await choose(request, _("Choose the agreement: one of the "
                                                   "documents opened, or a PDF file."), 400)
            else:
                data = await upload.read(limit + 1)
                try:
                    doc = await run_in_threadpool(store_document, agent.config.work, data,
                                                  upload.filename, "", limit)
                except SignflowError as exc:
                    return await choose(request, exc.message, 400)
                agent.state.add_document(doc)
        finally:
            await form.close()
        room = agent.state.ceremony_for(doc)
        if room is None:
            try:
                room = await run_in_threadpool(ceremonies.open_room, agent.config,
                                               agent.roster, doc)
            except SignflowError as exc:
                return await choose(request, exc.message, 400)
            agent.state.add_ceremony(room)
        return RedirectResponse(f"/ceremony/{room.id}", status_code=303)

    # --- the ceremony ---------------------------------------------------------------------

    async def show(request: Request) -> Response:
        room = room_of(request)
        if room is None:
            return missing(request)
        if not room.finished and room.key is None:
            await run_in_threadpool(ceremonies.look, room)
        return agent.render(request, "ceremony.html", await run_in_threadpool(context, room))

    def context(room: CeremonyRoom) -> dict[str, Any]:
        """What the page shows, read from the ceremony (in a worker thread: it reads the
        document)."""
        pending = room.pending()
        turn = room.next_turn()
        key = room.key
        keys = {t.key for t in pending}
        skipped = set(room.skipped())
        order = []
        for member_id, role in room.signature_keys():
            member = agent.roster.member(member_id)
            state = ("waiting" if (member_id, role) in keys else "signed")
            if (member_id, role) in skipped and state == "waiting":
                state = "skipped"
            if turn is not None and turn.key == (member_id, role):
                state = "next"
            order.append({"who": member.head.name if role == "head" else member.unit,
                          "role": role, "state": state, "member": member_id,
                          "department": member.department_name})
        return {
            "room": room, "doc": room.doc, "turn": turn, "key": key, "pending": pending,
            "order": order, "signed": sum(1 for o in order if o["state"] == "signed"),
            "message": room.message, "version": room.version,
            "pin_token": agent.state.forms.issue(f"ceremony-sign:{room.id}", key)
            if key is not None and not room.finished else None,
            "skip_token": agent.state.forms.issue(f"ceremony-skip:{room.id}", turn.key)
            if turn is not None and not room.finished else None,
            "finish_token": agent.state.forms.issue(f"ceremony-finish:{room.id}")
            if not room.finished else None,
            "last_page": len(room.pages),
            "verdict": room.verdict, "outcome": room.outcome,
            "steps": list(reversed(room.steps[-12:])),
        }

    async def poll(request: Request) -> Response:
        """The page's question, every second: has anything changed (a token plugged in or
        pulled out, a signature)? Only the agent's own script sends the header (another
        site's would need a CORS preflight, which the agent does not answer)."""
        room = room_of(request)
        if room is None or request.headers.get(POLL_HEADER) != "1":
            return JSONResponse({"error": _("refused")}, status_code=404 if room is None
                                else 403)
        if not room.finished:
            await run_in_threadpool(ceremonies.look, room)
        return JSONResponse({"version": room.version, "busy": room.busy,
                             "finished": room.finished})

    async def spend(request: Request, room: CeremonyRoom, purpose: str,
                    fields: int = 4) -> tuple[bool, Any, Any]:
        """(valid, the token's data, the form) for a form of this ceremony's page."""
        try:
            form = await request.form(max_files=0, max_fields=fields, max_part_size=4096)
        except Exception:  # noqa: BLE001 - a malformed form is refused like a stale one
            return False, None, None
        valid, data = agent.state.forms.spend(form.get("form_token"), f"{purpose}:{room.id}")
        return valid, data, form

    async def sign(request: Request) -> Response:
        room = room_of(request)
        if room is None:
            return missing(request)
        if not from_own_page(request.headers, agent.port):
            return refused(request)
        back = RedirectResponse(f"/ceremony/{room.id}", status_code=303)
        valid, key, form = await spend(request, room, "ceremony-sign")
        if not valid or key is None:
            room.say("failed", _("The page had expired: type the PIN again."))
            return back
        pin = form.get("pin")
        try:
            if not isinstance(pin, str) or not 0 < len(pin) <= MAX_PIN:
                room.say("failed", _("Type the PIN of the token."))
                return back
            await run_in_threadpool(ceremonies.sign, room, agent.config, key, pin)
        finally:
            del pin, form
        return back

    async def skip(request: Request) -> Response:
        room = room_of(request)
        if room is None:
            return missing(request)
        if not from_own_page(request.headers, agent.port):
            return refused(request)
        valid, turn_key, _form = await spend(request, room, "ceremony-skip")
        if valid and turn_key is not None:
            await run_in_threadpool(ceremonies.skip, room, agent.config, *turn_key)
        return RedirectResponse(f"/ceremony/{room.id}", status_code=303)

    async def finish(request: Request) -> Response:
        room = room_of(request)
        if room is None:
            return missing(request)
        if not from_own_page(request.headers, agent.port):
            return refused(request)
        valid, _data, _form = await spend(request, room, "ceremony-finish")
        if valid:
            try:
                await run_in_threadpool(ceremonies.finish, room, agent.config)
            except SignflowError as exc:
                room.say("failed", _("The ceremony could not be closed: {reason}").format(
                    reason=exc.message))
        return RedirectResponse(f"/ceremony/{room.id}", status_code=303)

    async def image(request: Request) -> Response:
        room = room_of(request)
        n = request.path_params["n"]
        if room is None or not 0 < n <= len(room.pages):
            return missing(request)
        png = await run_in_threadpool(room.pages[n - 1].image.read_bytes)
        return Response(png, media_type="image/png")

    async def report(request: Request) -> Response:
        room = room_of(request)
        if room is None or room.outcome is None or room.outcome.report is None \
                or not room.outcome.report.is_file():
            return missing(request)
        html = room.outcome.report.read_text(encoding="utf-8")
        return HTMLResponse(html, headers={"Content-Security-Policy": REPORT_POLICY})

    async def file(request: Request) -> Response:
        room = room_of(request)
        if room is None or not room.finished:
            return missing(request)
        try:
            data = await run_in_threadpool(ceremonies.signed_file, room)
        except SignflowError as exc:
            return agent.problem(request, 409, _("The file is not available"), exc.message)
        return Response(data, media_type="application/pdf",
                        headers=download_headers(room.doc.name))

    async def choose_page(request: Request) -> Response:
        return await choose(request)

    return [Route("/ceremony", choose_page, methods=["GET"]),
            Route("/ceremony", start, methods=["POST"]),
            Route("/ceremony/{room_id}", show, methods=["GET"]),
            Route("/ceremony/{room_id}/state", poll, methods=["GET"]),
            Route("/ceremony/{room_id}/sign", sign, methods=["POST"]),
            Route("/ceremony/{room_id}/skip", skip, methods=["POST"]),
            Route("/ceremony/{room_id}/finish", finish, methods=["POST"]),
            Route("/ceremony/{room_id}/pages/{n:int}.png", image, methods=["GET"]),
            Route("/ceremony/{room_id}/report", report, methods=["GET"]),
            Route("/ceremony/{room_id}/file", file, methods=["GET"])]
