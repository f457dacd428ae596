"""The portal's pages: Starlette, Jinja templates rendered on the server, no build step.

Who sees what:

- ``/m/<link>``: a member office's queue, through its personal link (no account): download
  the newest revision, upload the signed one;
- ``/rounds...``: the secretariat (an account, argon2id password, a session cookie):
  rounds, the matrix, personal links, reminders, the archive, the report, the audit trail;
- ``/verify``: any account (archivists): a PDF's verification report.

Every refusal is a page with a Vietnamese message and an event in the hash chain
(``service.Portal.record``).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from signflow.errors import SignflowError
from signflow.i18n import _, get_language, time_text
from signflow.portal.service import Portal, role_word
from signflow.vn import VN_TZ

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
COOKIE = "signflow_portal"


@dataclass
class Web:
    portal: Portal
    port: int = 0
    templates: Any = None
    login_limiter: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return self.portal.config.base_url(self.port)

    def render(self, request: Request, name: str, context: dict[str, Any] | None = None,
               status: int = 200) -> Response:
        context = {"cluster": self.portal.roster.cluster, "role_word": role_word,
                   "place": self.portal.place, "when": when, "user": None,
                   "csrf": "", **(context or {})}
        return self.templates.TemplateResponse(request, name, context, status_code=status)

    def problem(self, request: Request, status: int, message: str,
                title: str | None = None) -> Response:
        return self.render(request, "problem.html", {
            "title": title or _("Refused"), "message": message}, status)


def when(moment: Any) -> str:
    if moment is None:
        return ""
    from signflow.portal.db import aware

    return time_text(aware(moment).astimezone(VN_TZ))


def client(request: Request) -> str:
    return request.client.host if request.client else "-"


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             autoescape=jinja2.select_autoescape(["html"]),
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    env.globals.update(_=_, lang=get_language)
    return env


async def blocking(function: Any, *args: Any) -> Any:
    """The library's work (reading PDFs, the database) off the event loop."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(function, *args)


def create_app(portal: Portal, port: int = 0) -> tuple[Any, Web]:
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles
    from starlette.templating import Jinja2Templates

    from signflow.portal import pages
    from signflow.portal.security import LINK_PATH, Guard
    from signflow.portal.service import RateLimiter, fingerprint

    web = Web(portal=portal, port=port, login_limiter=RateLimiter(10))
    web.templates = Jinja2Templates(env=_environment())
    routes: list[Any] = [Route(path, endpoint, methods=methods)
                         for path, endpoint, methods in pages.routes(web)]
    routes.append(Mount("/static", StaticFiles(directory=str(STATIC)), name="static"))

    async def not_found(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException) and exc.status_code == 405:
            return web.problem(request, 405, _("This address does not take that kind of "
                                               "request."), _("Not allowed"))
        return web.problem(request, 404, _("There is no such page."), _("Not found"))

    async def failed(request: Request, exc: Exception) -> Response:
        # no traceback for people: the error is named, the details stay in the server log
        import logging

        logging.getLogger("signflow.portal").exception("request failed")
        message = exc.message if isinstance(exc, SignflowError) else _(
            "The portal could not do this: {reason}").format(reason=type(exc).__name__)
        return web.problem(request, 500, message, _("Error"))

    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found,
                                                       500: failed})

    def on_refused(path: str, reason: str, details: dict[str, Any]) -> None:
        found = LINK_PATH.match(path)
        if found:  # never the link itself: its fingerprint
            details = {**details, "link": fingerprint(found.group(1))}
        portal.record(None, "portal-refused", {"reason": reason, "path":
                                               path.split("/m/")[0] or "/m/…", **details})

    guarded = Guard(app, portal.config.max_upload_bytes, on_refused)
    return guarded, web


def same_origin(request: Request, web: Web) -> bool:
    """A form post comes from the portal's own pages: its Origin (or, without one, its
    Referer) is the portal's public address or the address it was reached at."""
    allowed = {_origin(web.base_url), _origin(str(request.base_url))}
    origins = request.headers.getlist("origin")
    if len(origins) == 1:
        return _origin(origins[0]) in allowed
    if origins:
        return False
    referer = request.headers.get("referer")
    return referer is None or _origin(referer) in allowed


def _origin(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


def csrf_ok(given: str | None, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(str(given).encode(), expected.encode())


def download_headers(name: str) -> dict[str, str]:
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return {"Content-Disposition": f"attachment; filename=\"{ascii_name}\"; "
                                   f"filename*=UTF-8''{quote(name)}"}
