"""The result page: the signature just made, and the verification of the signed file
(the same verdicts as `signflow verify --roster`), with links to the file and the
report."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from signflow.i18n import _

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from signflow.agent.app import Agent


def routes(agent: Agent) -> list[Any]:
    from starlette.concurrency import run_in_threadpool
    from starlette.routing import Route

    from signflow.agent.work import describe

    async def page(request: Request) -> Response:
        doc = agent.state.document(request.path_params["doc_id"])
        result = next((r for r in doc.results if r.id == request.path_params["result_id"]),
                      None) if doc is not None else None
        if doc is None or result is None:
            return agent.problem(request, 404, _("Not found"),
                                 _("There is no such page or document in this session."))
        view = await run_in_threadpool(describe, doc, agent.roster)
        return agent.render(request, "result.html", {
            "doc": doc, "result": result, "view": view, "verdict": result.verdict,
            "mine": result.signature, "sign_request": agent.state.request_for(doc),
            "latest": result is doc.results[-1]})

    return [Route("/documents/{doc_id}/results/{result_id}", page, methods=["GET"])]
