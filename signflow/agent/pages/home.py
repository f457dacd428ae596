"""The home page: open or drop a PDF; the documents opened in this session."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from signflow.i18n import _

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from signflow.agent.app import Agent

OPEN = "open"  # the purpose of the home page's form token


def routes(agent: Agent) -> list[Any]:
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import RedirectResponse
    from starlette.routing import Route

    from signflow.agent.security import from_own_page
    from signflow.agent.work import describe, store_document
    from signflow.errors import SignflowError

    async def show(request: Request, error: str | None = None, status: int = 200) -> Response:
        opened = await run_in_threadpool(
            lambda: [describe(d, agent.roster) for d in agent.state.opened()])
        return agent.render(request, "home.html", {
            "opened": opened, "error": error, "form_token": agent.state.forms.issue(OPEN),
            "max_mb": agent.config.max_document_bytes // (1024 * 1024)}, status)

    async def home(request: Request) -> Response:
        return await show(request)

    async def open_document(request: Request) -> Response:
        if not from_own_page(request.headers, agent.port):
            return agent.problem(request, 403, _("Refused"),
                                 _("This form can only be sent from the agent's own page."))
        limit = agent.config.max_document_bytes
        try:
            form = await request.form(max_files=1, max_fields=4, max_part_size=64 * 1024)
        except Exception:  # noqa: BLE001 - a malformed or oversized form: say so, keep going
            return await show(request, _("The form could not be read."), 400)
        try:
            valid, _data = agent.state.forms.spend(form.get("form_token"), OPEN)
            if not valid:
                return await show(request, _("The page had expired: choose the file again."),
                                  400)
            upload = form.get("document")
            if upload is None or isinstance(upload, str) or not upload.filename:
                return await show(request, _("Choose a PDF file."), 400)
            data = await upload.read(limit + 1)
            name = upload.filename
        finally:
            await form.close()
        try:
            doc = await run_in_threadpool(store_document, agent.config.work, data, name, "",
                                          limit)
        except SignflowError as exc:
            return await show(request, exc.message, 400)
        agent.state.add_document(doc)
        return RedirectResponse(f"/documents/{doc.id}", status_code=303)

    return [Route("/", home, methods=["GET"]),
            Route("/documents", open_document, methods=["POST"])]
