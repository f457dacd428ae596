"""The signing portal (``signflow serve``, docs/portal.md): a web application for one
cluster, in Vietnamese. The secretariat creates a signing round from a generated pack,
follows the matrix of documents x members x head/seal, reminds, archives and reads the
audit trail; each member office opens its personal link, downloads the current revision
and uploads the one it signed with its own key (the portal never holds a private key);
archivists have any PDF verified.

Uploads are judged by the hand-off's ``receive`` (``signflow.signing.handoff``): one
checker for every channel. It needs the ``[portal]`` extra (Starlette, uvicorn,
SQLAlchemy, Alembic, argon2-cffi; psycopg for PostgreSQL): ``require_portal_extra``
says in one line what to install.
"""

from __future__ import annotations

# module to import -> distribution that provides it
PORTAL_REQUIREMENTS = {"starlette": "starlette", "uvicorn": "uvicorn", "multipart":
                       "python-multipart", "sqlalchemy": "sqlalchemy", "alembic": "alembic",
                       "argon2": "argon2-cffi", "jinja2": "jinja2"}


def require_portal_extra() -> None:
    """Raise ToolMissingError naming the extra when a package of the portal is missing."""
    from signflow._internal.extras import missing_distributions

    missing = missing_distributions(PORTAL_REQUIREMENTS)
    if missing:
        from signflow.errors import ToolMissingError
        from signflow.i18n import _

        raise ToolMissingError(_(
            "the portal needs packages that are not installed ({missing}): install them "
            "with pip install 'signflow[portal]'").format(missing=", ".join(missing)))
