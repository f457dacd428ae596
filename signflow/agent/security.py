"""The agent's defences, in one place (docs/agent.md, "Security"):

- every request must name the agent itself as its Host (127.0.0.1:PORT or localhost:PORT):
  a site that points its own name at 127.0.0.1 (DNS rebinding) is refused;
- a request body must say its length, and not exceed the limit;
- every response forbids framing (``frame-ancestors 'none'``, ``X-Frame-Options: DENY``),
  loads scripts, styles and images from the agent only, sends forms to the agent only, and
  is not cached;
- the agent's own forms (the PIN among them) are accepted only from its own pages: the
  Origin must be the agent's, and the one-time form token must come back (state.py);
- the local API (``/api/...``) answers only configured origins that send the pairing
  secret; CORS headers go to those origins only, everything else is a 403 without them.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from signflow._internal import webserver
from signflow._internal.webserver import single_header
from signflow.agent.config import HOST, Origin, origin_text, parse_origin

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PAIRING_HEADER = "X-Signflow-Pairing"
FORM_OVERHEAD = 1024 * 1024  # room for the multipart framing and the other fields

SECURITY_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    # same-origin: the agent's own form posts keep their Origin; other sites learn nothing
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)


def own_hosts(port: int) -> frozenset[str]:
    return frozenset({f"{HOST}:{port}", f"localhost:{port}"})


def own_origins(port: int) -> frozenset[Origin]:
    return frozenset({("http", HOST, port), ("http", "localhost", port)})


async def _plain(send: Send, status: int, text: str) -> None:
    await webserver.plain(send, status, text, SECURITY_HEADERS)


class Guard:
    """ASGI middleware in front of the whole agent: the Host check, the body limit and
    the security headers. ``port`` is read at every request (known once bound)."""

    def __init__(self, app: ASGIApp, port: Callable[[], int], max_body: int) -> None:
        self.app = app
        self.port = port
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # no websockets
            return
        from signflow.i18n import _

        host = (single_header(scope, b"host") or "").lower()
        if host not in own_hosts(self.port()):
            await _plain(send, 403, _("This address is not the signing agent's (Host: "
                                      "{host}); open http://127.0.0.1:{port}/").format(
                host=host or "-", port=self.port()))
            return
        if scope["method"] in ("POST", "PUT", "PATCH", "DELETE"):
            length = single_header(scope, b"content-length")
            if length is None or not length.isdigit():
                if single_header(scope, b"transfer-encoding") is not None or length is not None:
                    await _plain(send, 411, _("The request must state its length."))
                    return
                length = "0"
            if int(length) > self.max_body:
                await _plain(send, 413, _("The request is too large (at most {n} MB).").format(
                    n=self.max_body // (1024 * 1024)))
                return

        await self.app(scope, receive, webserver.with_security_headers(send, SECURITY_HEADERS))


def from_own_page(headers: Any, port: int) -> bool:
    """The request comes from one of the agent's own pages: its Origin is the agent's."""
    origins = headers.getlist("origin")
    if len(origins) != 1:
        return False
    return parse_origin(origins[0]) in own_origins(port)


def api_origin(headers: Any, allowed: tuple[Origin, ...]) -> Origin | None:
    """The request's Origin, when it is one of the configured origins (else None)."""
    origins = headers.getlist("origin")
    if len(origins) != 1:
        return None
    origin = parse_origin(origins[0])
    return origin if origin is not None and origin in allowed else None


def paired(headers: Any, secret: str) -> bool:
    values = headers.getlist(PAIRING_HEADER.lower())
    if len(values) != 1:
        return False
    return hmac.compare_digest(values[0].encode("utf-8", "replace"), secret.encode("utf-8"))


def cors_headers(origin: Origin, preflight: bool = False,
                 private_network: bool = False) -> dict[str, str]:
    headers = {"Access-Control-Allow-Origin": origin_text(origin), "Vary": "Origin",
               "Access-Control-Expose-Headers": "Content-Disposition, X-Signflow-Sha256"}
    if preflight:
        headers.update({"Access-Control-Allow-Methods": "GET, POST",
                        "Access-Control-Allow-Headers": f"Content-Type, {PAIRING_HEADER}",
                        "Access-Control-Max-Age": "600"})
        if private_network:  # Chrome's Private Network Access preflight (a site -> loopback)
            headers["Access-Control-Allow-Private-Network"] = "true"
    return headers


def json_bytes(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode("utf-8")
