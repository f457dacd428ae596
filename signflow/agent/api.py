"""The local API for a web portal's «Ký số» button (docs/agent.md, "The local API").

Only the configured origins, with the pairing secret in the ``X-Signflow-Pairing``
header, get an answer; CORS headers go to them only. Everything else is a 403 without CORS
headers, so that a page of another site cannot even read the refusal.

The flow: the portal asks the agent to sign a field of a document it serves
(``POST /api/sign-requests``); the agent downloads the PDF from the portal's origin, checks
it, and answers with the address of its own confirmation page, which the portal opens in a
new window. The person sees the document and who signs, chooses the key and types the PIN
there. The portal polls ``GET /api/sign-requests/{id}`` and, once the state is ``signed``,
downloads ``GET /api/sign-requests/{id}/document``: the signed file, returned only when the
check after signing (`signflow verify --roster`) accepted it and it has not changed since.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from typing import TYPE_CHECKING, Any

from signflow.i18n import _

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from signflow.agent.app import Agent
    from signflow.agent.config import Origin
    from signflow.agent.state import SignRequest

MAX_JSON = 16 * 1024
DOWNLOAD_TIMEOUT = 60.0


class DownloadError(Exception):
    pass


async def download(url: str, limit: int) -> bytes:
    """The document at ``url`` (the caller checked its origin): no redirects (they could
    lead anywhere), no cookies, at most ``limit`` bytes, within DOWNLOAD_TIMEOUT."""
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=DOWNLOAD_TIMEOUT)
    try:
        async with aiohttp.ClientSession(timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()
                                         ) as session, \
                session.get(url, allow_redirects=False) as answer:
            if answer.status != 200:
                raise DownloadError(_("the portal answered {status} for the document").format(
                    status=answer.status))
            if answer.content_length is not None and answer.content_length > limit:
                raise DownloadError(_("the document is too large (at most {n} MB)").format(
                    n=limit // (1024 * 1024)))
            chunks: list[bytes] = []
            size = 0
            async for chunk in answer.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > limit:
                    raise DownloadError(_("the document is too large (at most {n} MB)").format(
                        n=limit // (1024 * 1024)))
                chunks.append(chunk)
            return b"".join(chunks)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise DownloadError(_("the document could not be downloaded: {reason}").format(
            reason=type(exc).__name__)) from None


def request_json(agent: Agent, sign_request: SignRequest) -> dict[str, Any]:
    from signflow.agent.work import expected_signer

    member = agent.roster.member(sign_request.member) \
        if agent.roster.has_member(sign_request.member) else None
    data: dict[str, Any] = {
        "id": sign_request.id,
        "state": sign_request.state,
        "document": {"name": sign_request.document.name},
        "field": sign_request.field,
        "member": sign_request.member,
        "role": sign_request.role,
        "signer": expected_signer(member, sign_request.member, sign_request.role),
        "confirm_url": f"{agent.base_url}/requests/{sign_request.id}",
        "created": sign_request.created.isoformat(timespec="seconds"),
        "message": sign_request.message,
    }
    result = sign_request.result
    if result is not None:
        mine = result.signature
        verdict = result.verdict
        data["verification"] = {
            "accepted": result.accepted,
            "file_ok": verdict.ok,
            "complete": verdict.complete,
            "missing": verdict.missing,
            "problems": result.problems,
            "signature": None if mine is None else {
                "signer": mine.signer, "member": mine.member, "role": mine.role,
                "ok": mine.ok, "intact": mine.intact, "valid": mine.valid,
                "trusted": mine.trusted, "level": mine.level, "timestamp": mine.timestamp,
                "identity": mine.identity, "problems": mine.problems},
            "validation_time": verdict.validation_time,
        }
        data["signed_by"] = result.signer
        if result.accepted:
            data["sha256"] = result.sha256
            data["document_url"] = f"/api/sign-requests/{sign_request.id}/document"
    return data


def routes(agent: Agent) -> list[Any]:
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from signflow.agent.config import origin_text, url_origin
    from signflow.agent.pages.document import download_headers
    from signflow.agent.security import api_origin, cors_headers, paired
    from signflow.agent.state import SignRequest
    from signflow.agent.work import describe, new_id, resolve_field, signed_bytes, store_document
    from signflow.errors import SignflowError

    def forbidden() -> Response:
        return JSONResponse({"error": _("refused")}, status_code=403)

    def answer(origin: Origin, data: Any, status: int = 200) -> Response:
        return JSONResponse(data, status_code=status, headers=cors_headers(origin))

    def caller(request: Request) -> Origin | None:
        """The configured origin that sent this request with the pairing secret."""
        origin = api_origin(request.headers, agent.config.allowed_origins)
        if origin is None or not paired(request.headers, agent.secret):
            return None
        return origin

    async def preflight(request: Request) -> Response:
        origin = api_origin(request.headers, agent.config.allowed_origins)
        if origin is None:
            return forbidden()
        private = request.headers.get("access-control-request-private-network") == "true"
        return Response(status_code=204, headers=cors_headers(origin, preflight=True,
                                                              private_network=private))

    async def about(request: Request) -> Response:
        if request.method == "OPTIONS":
            return await preflight(request)
        origin = caller(request)
        if origin is None:
            return forbidden()
        from signflow import __version__

        return answer(origin, {"agent": "signflow", "version": __version__,
                               "cluster": agent.roster.cluster.name,
                               "year": agent.roster.cluster.year})

    async def create(request: Request) -> Response:
        if request.method == "OPTIONS":
            return await preflight(request)
        origin = caller(request)
        if origin is None:
            return forbidden()
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return answer(origin, {"error": _("send JSON (Content-Type: application/json)")},
                          415)
        if int(request.headers.get("content-length") or 0) > MAX_JSON:
            return answer(origin, {"error": _("the request is not a JSON object")}, 413)
        body = await request.body()
        try:
            if len(body) > MAX_JSON:
                raise ValueError("size")
            asked = json.loads(body)
            if not isinstance(asked, dict):
                raise ValueError("object")
        except (ValueError, UnicodeDecodeError):
            return answer(origin, {"error": _("the request is not a JSON object")}, 400)
        url = asked.get("document_url")
        field, member, role = asked.get("field"), asked.get("member"), asked.get("role")
        if not isinstance(url, str) or url_origin(url) not in agent.config.allowed_origins:
            return answer(origin, {"error": _("document_url must be an http(s) address on "
                                              "one of the agent's allowed origins")}, 400)
        if any(v is not None and not isinstance(v, str) for v in (field, member, role)):
            return answer(origin, {"error": _("field, member and role must be text")}, 400)
        try:
            data = await download(url, agent.config.max_document_bytes)
        except DownloadError as exc:
            return answer(origin, {"error": str(exc)}, 502)
        try:
            doc = await run_in_threadpool(store_document, agent.config.work, data,
                                          url.split("?")[0], origin_text(origin),
                                          agent.config.max_document_bytes)
        except SignflowError as exc:
            return answer(origin, {"error": exc.message}, 422)
        try:
            view = await run_in_threadpool(describe, doc, agent.roster)
            if view.error is not None:
                raise SignflowError(view.error)
            target = resolve_field(view, field, member, role)
        except SignflowError as exc:
            shutil.rmtree(doc.folder, ignore_errors=True)
            return answer(origin, {"error": exc.message}, 409)
        sign_request = SignRequest(id=new_id(), origin=origin_text(origin), document=doc,
                                   field=target.field, member=target.member,
                                   role=target.role, created=dt.datetime.now(dt.UTC))
        agent.state.add_request(sign_request)
        return answer(origin, request_json(agent, sign_request), 201)

    def owned(request: Request, origin: Origin) -> SignRequest | None:
        found = agent.state.request(request.path_params["request_id"])
        return found if found is not None and found.origin == origin_text(origin) else None

    async def status(request: Request) -> Response:
        if request.method == "OPTIONS":
            return await preflight(request)
        origin = caller(request)
        if origin is None:
            return forbidden()
        found = owned(request, origin)
        if found is None:
            return answer(origin, {"error": _("no such request")}, 404)
        return answer(origin, request_json(agent, found))

    async def document(request: Request) -> Response:
        if request.method == "OPTIONS":
            return await preflight(request)
        origin = caller(request)
        if origin is None:
            return forbidden()
        found = owned(request, origin)
        if found is None:
            return answer(origin, {"error": _("no such request")}, 404)
        if found.state != "signed" or found.result is None:
            return answer(origin, {"error": _("the document is not signed yet"),
                                   "state": found.state}, 409)
        try:
            data = await run_in_threadpool(signed_bytes, found.document, found.result)
        except (SignflowError, OSError) as exc:
            message = exc.message if isinstance(exc, SignflowError) else str(exc)
            return answer(origin, {"error": message}, 409)
        return Response(data, media_type="application/pdf", headers={
            **cors_headers(origin), **download_headers(found.document.name),
            "X-Signflow-Sha256": found.result.sha256})

    return [Route("/api/agent", about, methods=["GET", "OPTIONS"]),
            Route("/api/sign-requests", create, methods=["POST", "OPTIONS"]),
            Route("/api/sign-requests/{request_id}", status, methods=["GET", "OPTIONS"]),
            Route("/api/sign-requests/{request_id}/document", document,
                  methods=["GET", "OPTIONS"])]
