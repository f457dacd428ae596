"""The agent's web application: Starlette, Jinja templates rendered on the server, a little
static JavaScript (dropping a file, a busy button), no build step.

Each page is a module of ``signflow.agent.pages`` with its routes and its template in
``templates/``; ``PAGES`` lists them. A new page is one more module there and one more
template (the signing ceremony's page is one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from signflow.agent.config import AgentConfig
from signflow.agent.state import AgentState
from signflow.i18n import _, date_text, get_language, time_text

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from signflow.roster import Roster

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


@dataclass
class Agent:
    """What every page needs: the settings, the roster, the pairing secret, what this
    session remembers, the templates; ``port`` once the socket is bound."""

    config: AgentConfig
    roster: Roster
    secret: str
    state: AgentState = field(default_factory=AgentState)
    port: int = 0
    templates: Any = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def render(self, request: Request, name: str, context: dict[str, Any] | None = None,
               status: int = 200) -> Response:
        context = {"agent": self, "cluster": self.roster.cluster, **(context or {})}
        return self.templates.TemplateResponse(request, name, context, status_code=status)

    def problem(self, request: Request, status: int, title: str, message: str) -> Response:
        return self.render(request, "problem.html", {"title": title, "message": message},
                           status)


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             autoescape=jinja2.select_autoescape(["html"]),
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    env.globals.update(_=_, date_text=date_text, time_text=time_text, lang=get_language)
    return env


def create_app(config: AgentConfig, secret: str, port: int = 0) -> tuple[Any, Agent]:
    """The ASGI application (behind ``security.Guard``) and its ``Agent``; set
    ``agent.port`` to the bound port before serving."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles
    from starlette.templating import Jinja2Templates

    from signflow.agent import api
    from signflow.agent.pages import PAGES
    from signflow.agent.security import FORM_OVERHEAD, Guard
    from signflow.roster import load_roster

    agent = Agent(config=config, roster=load_roster(config.roster), secret=secret, port=port)
    agent.templates = Jinja2Templates(env=_environment())
    routes: list[Any] = []
    for page in PAGES:
        routes += page.routes(agent)
    routes += api.routes(agent)
    routes.append(Mount("/static", StaticFiles(directory=str(STATIC)), name="static"))

    async def not_found(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/api/"):  # like every refusal of the API: no CORS
            from starlette.responses import JSONResponse

            return JSONResponse({"error": _("refused")}, status_code=403)
        if isinstance(exc, HTTPException) and exc.status_code == 405:
            return agent.problem(request, 405, _("Not allowed"),
                                 _("This address does not take that kind of request."))
        return agent.problem(request, 404, _("Not found"),
                             _("There is no such page or document in this session."))

    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
    guarded = Guard(app, lambda: agent.port, config.max_document_bytes + FORM_OVERHEAD)
    return guarded, agent
