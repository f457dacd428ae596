"""The document page: its pages with the signature fields drawn on them, who has signed,
who is next, and a «Ký số» action for each field that may be signed now; the signed file
and the verification report."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from signflow.i18n import _

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from signflow.agent.app import Agent
    from signflow.agent.work import OpenDocument


def download_headers(name: str) -> dict[str, str]:
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return {"Content-Disposition": f"attachment; filename=\"{ascii_name}\"; "
                                   f"filename*=UTF-8''{quote(name)}"}


def routes(agent: Agent) -> list[Any]:
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import HTMLResponse, Response
    from starlette.routing import Route

    from signflow._internal.webserver import REPORT_POLICY
    from signflow.agent.work import describe, page_png, signed_bytes
    from signflow.errors import SignflowError

    def missing(request: Request) -> Response:
        return agent.problem(request, 404, _("Not found"),
                             _("There is no such page or document in this session."))

    def found(request: Request) -> OpenDocument | None:
        return agent.state.document(request.path_params["doc_id"])

    async def page(request: Request) -> Response:
        doc = found(request)
        if doc is None:
            return missing(request)
        view = await run_in_threadpool(describe, doc, agent.roster)
        return agent.render(request, "document.html", {
            "view": view, "doc": doc, "request_for": agent.state.request_for(doc)})

    async def image(request: Request) -> Response:
        doc = found(request)
        if doc is None:
            return missing(request)
        try:
            png = await run_in_threadpool(page_png, doc.path, request.path_params["n"] - 1)
        except SignflowError:
            return missing(request)
        return Response(png, media_type="image/png")

    async def file(request: Request) -> Response:
        """The document as it is now: as opened, or as signed and accepted by the check;
        never a file that failed it or changed since."""
        doc = found(request)
        if doc is None:
            return missing(request)
        try:
            data = await run_in_threadpool(
                signed_bytes, doc, doc.results[-1]) if doc.results else doc.path.read_bytes()
        except (SignflowError, OSError) as exc:
            message = exc.message if isinstance(exc, SignflowError) else str(exc)
            return agent.problem(request, 409, _("The file is not available"), message)
        return Response(data, media_type="application/pdf", headers=download_headers(doc.name))

    async def report(request: Request) -> Response:
        doc = found(request)
        if doc is None or not doc.results or not doc.results[-1].report.is_file():
            return missing(request)
        html = doc.results[-1].report.read_text(encoding="utf-8")
        return HTMLResponse(html, headers={"Content-Security-Policy": REPORT_POLICY})

    return [Route("/documents/{doc_id}", page, methods=["GET"]),
            Route("/documents/{doc_id}/pages/{n:int}.png", image, methods=["GET"]),
            Route("/documents/{doc_id}/file", file, methods=["GET"]),
            Route("/documents/{doc_id}/report", report, methods=["GET"])]
