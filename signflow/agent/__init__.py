"""The local signing agent (`signflow agent`): web pages on this computer, at
http://127.0.0.1:PORT only, to open a document, see who signs where, choose the token key,
type the PIN and sign; and a local API with which a web portal puts a «Ký số» button in
its pages (docs/agent.md).

It is an interface over the library, beside the command line: opening and reading a
document, the signing policy, the signature, the ledger and the verification are the
library's (``signflow.agent.work`` calls them). It needs the ``[agent]`` extra (Starlette,
uvicorn, python-multipart): ``pip install 'signflow[agent]'``; ``require_agent_extra``
says so in one line.

    config = load_agent_config(Path("agent.toml"))
    AgentServer(config).run()          # until Ctrl+C
"""

from __future__ import annotations

# module to import -> distribution that provides it
AGENT_REQUIREMENTS = {"starlette": "starlette", "uvicorn": "uvicorn",
                      "python_multipart": "python-multipart"}


def require_agent_extra() -> None:
    """Raise ToolMissingError naming the extra when a package of the agent is missing."""
    from signflow._internal.extras import missing_distributions

    missing = missing_distributions(AGENT_REQUIREMENTS)
    if missing:
        from signflow.errors import ToolMissingError
        from signflow.i18n import _

        raise ToolMissingError(_(
            "the signing agent needs packages that are not installed ({missing}): install "
            "them with pip install 'signflow[agent]'").format(missing=", ".join(missing)))
