"""Signing one field: who signs, the page with the field, the token keys that are theirs,
and the PIN, typed in this page only. A portal's request (``/requests/{id}``) is
confirmed (or declined) here too: the portal never sees the page, the keys or the PIN.

The PIN goes from this form to the token's login and nowhere else: it is not stored,
logged, put in a message or shown again (a wrong PIN shows an empty field)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from signflow.i18n import _

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from signflow.agent.app import Agent
    from signflow.agent.state import SignRequest
    from signflow.agent.work import OpenDocument

MAX_PIN = 64


def routes(agent: Agent) -> list[Any]:
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import RedirectResponse
    from starlette.routing import Route

    from signflow.agent.security import from_own_page
    from signflow.agent.work import describe, find_keys, sign_field
    from signflow.errors import SignflowError

    def missing(request: Request) -> Response:
        return agent.problem(request, 404, _("Not found"),
                             _("There is no such page or document in this session."))

    def refused(request: Request) -> Response:
        return agent.problem(request, 403, _("Refused"),
                             _("This form can only be sent from the agent's own page."))

    async def show(request: Request, doc: OpenDocument, field: str,
                   sign_request: SignRequest | None = None, error: str | None = None,
                   details: list[str] | None = None, status: int = 200) -> Response:
        view = await run_in_threadpool(describe, doc, agent.roster)
        target = view.field(field)
        if view.error is None and target is None:
            return missing(request)
        search = None
        if target is not None and target.state == "next" \
                and agent.roster.has_member(target.member):
            member = agent.roster.member(target.member)
            search = await run_in_threadpool(
                find_keys, agent.config.pkcs11, member, target.role,
                agent.roster.cluster.organisation_attribute)
        keys = search.keys if search is not None else []
        action = (f"/requests/{sign_request.id}" if sign_request is not None
                  else f"/documents/{doc.id}/sign/{field}")
        return agent.render(request, "sign.html", {
            "view": view, "doc": doc, "target": target, "search": search, "keys": keys,
            "sign_request": sign_request, "action": action, "error": error,
            "details": details or [],
            "form_token": agent.state.forms.issue(f"sign:{doc.id}:{field}", keys),
            "decline_token": agent.state.forms.issue(f"decline:{sign_request.id}")
            if sign_request is not None else None}, status)

    async def submit(request: Request, doc: OpenDocument, field: str,
                     sign_request: SignRequest | None = None) -> Response:
        if not from_own_page(request.headers, agent.port):
            return refused(request)
        try:
            form = await request.form(max_files=0, max_fields=8, max_part_size=4096)
        except Exception:  # noqa: BLE001 - a malformed form is refused like a stale one
            return await show(request, doc, field, sign_request,
                              _("The form could not be read."), status=400)
        valid, keys = agent.state.forms.spend(form.get("form_token"), f"sign:{doc.id}:{field}")
        if not valid:
            return await show(request, doc, field, sign_request,
                              _("The page had expired: choose the key and type the PIN "
                                "again."), status=400)
        choice = form.get("key")
        pin = form.get("pin")
        if not isinstance(choice, str) or not choice.isdigit() or not keys \
                or int(choice) >= len(keys):
            return await show(request, doc, field, sign_request, _("Choose the key."),
                              status=400)
        if not isinstance(pin, str) or not 0 < len(pin) <= MAX_PIN:
            return await show(request, doc, field, sign_request,
                              _("Type the PIN of the token."), status=400)
        key = keys[int(choice)]
        try:
            result = await run_in_threadpool(sign_field, agent.config, agent.roster, doc, field,
                                             key, pin)
        except SignflowError as exc:
            return await show(request, doc, field, sign_request, exc.message, exc.details[:6],
                              status=400)
        except Exception as exc:  # noqa: BLE001 - a library's failure: said, not a blank 500
            from signflow.errors import failure_reason

            return await show(request, doc, field, sign_request, _(
                "signing could not be completed: {reason}").format(
                    reason=failure_reason(exc)), status=500)
        finally:
            del pin, form
        waiting = sign_request or agent.state.request_for(doc)
        if waiting is not None and waiting.field == field and waiting.state == "pending":
            waiting.result = result
            waiting.state = "signed" if result.accepted else "rejected"
            waiting.message = None if result.accepted else "; ".join(result.problems[:6])
        return RedirectResponse(f"/documents/{doc.id}/results/{result.id}", status_code=303)

    async def field_page(request: Request) -> Response:
        doc = agent.state.document(request.path_params["doc_id"])
        if doc is None:
            return missing(request)
        if request.method == "POST":
            return await submit(request, doc, request.path_params["field"])
        return await show(request, doc, request.path_params["field"])

    async def request_page(request: Request) -> Response:
        sign_request = agent.state.request(request.path_params["request_id"])
        if sign_request is None:
            return missing(request)
        doc = sign_request.document
        if sign_request.state == "signed" and sign_request.result is not None:
            return RedirectResponse(f"/documents/{doc.id}/results/{sign_request.result.id}",
                                    status_code=303)
        if sign_request.state != "pending":
            return agent.render(request, "request-closed.html",
                                {"sign_request": sign_request, "doc": doc})
        if request.method == "POST":
            return await submit(request, doc, sign_request.field, sign_request)
        return await show(request, doc, sign_request.field, sign_request)

    async def decline(request: Request) -> Response:
        sign_request = agent.state.request(request.path_params["request_id"])
        if sign_request is None:
            return missing(request)
        if not from_own_page(request.headers, agent.port):
            return refused(request)
        form = await request.form(max_files=0, max_fields=4, max_part_size=4096)
        valid, _data = agent.state.forms.spend(form.get("form_token"),
                                               f"decline:{sign_request.id}")
        if not valid:
            return RedirectResponse(f"/requests/{sign_request.id}", status_code=303)
        if sign_request.state == "pending":
            sign_request.state = "declined"
            sign_request.message = _("the signer declined")
        return agent.render(request, "request-closed.html",
                            {"sign_request": sign_request, "doc": sign_request.document})

    return [Route("/documents/{doc_id}/sign/{field}", field_page, methods=["GET", "POST"]),
            Route("/requests/{request_id}", request_page, methods=["GET", "POST"]),
            Route("/requests/{request_id}/decline", decline, methods=["POST"])]
