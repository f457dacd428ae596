"""The portal's defences at the door, before any page runs (docs/portal.md, "Security"):

- a request body must state its length and stay under the limit: a huge upload is answered
  413 from its headers, before its body is read, and recorded;
- every response forbids framing, loads scripts, styles and images from the portal only,
  sends forms to the portal only, and is not cached.

The rest is in the pages: the secretariat's forms carry the session's CSRF token and must
come from the portal's own origin; a member's upload form carries a one-time token (a
replayed request is refused); every personal link is rate-limited (``service``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from signflow._internal import webserver
from signflow._internal.webserver import single_header

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FORM_OVERHEAD = 256 * 1024  # the multipart framing and the other fields of an upload form
SMALL_FORM = 64 * 1024  # any other form
TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
LINK_PATH = re.compile(r"^/m/([A-Za-z0-9_-]{20,64})(/|$)")

SECURITY_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),  # personal links never leak to other sites
    (b"cache-control", b"no-store"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)


async def plain(send: Send, status: int, text: str) -> None:
    await webserver.plain(send, status, text, SECURITY_HEADERS, close=True)


class Guard:
    """ASGI middleware in front of the portal: the body limit and the security headers.
    ``on_refused(path, reason, details)`` records a refusal made here."""

    def __init__(self, app: ASGIApp, max_upload: int,
                 on_refused: Callable[[str, str, dict[str, Any]], None]) -> None:
        self.app = app
        self.max_upload = max_upload
        self.on_refused = on_refused

    def limit(self, path: str) -> int:
        if path.startswith("/m/") or path in ("/rounds", "/verify"):
            return self.max_upload + FORM_OVERHEAD
        return SMALL_FORM

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # no websockets
            return
        from signflow.i18n import _

        path = scope.get("path", "")
        if scope["method"] in ("POST", "PUT", "PATCH", "DELETE"):
            length = single_header(scope, b"content-length")
            if length is None or not length.isdigit():
                if single_header(scope, b"transfer-encoding") is not None or length is not None:
                    self.on_refused(path, "no-length", {})
                    await plain(send, 411, _("The request must state its length."))
                    return
                length = "0"
            if int(length) > self.limit(path):
                self.on_refused(path, "too-large", {"size": int(length)})
                await plain(send, 413, _("The file is too large: at most {n} MB. Nothing "
                                         "was received.").format(
                    n=self.max_upload // (1024 * 1024)))
                return

        await self.app(scope, receive, webserver.with_security_headers(send, SECURITY_HEADERS))
