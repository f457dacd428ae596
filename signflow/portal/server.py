"""Serving the portal with uvicorn: the socket is bound here first (a busy port is one
clear line; port 0 picks a free one for tests; signflow._internal.webserver), then uvicorn
serves in this thread (``run``) or in a background thread (``start``/``stop``: tests, the
load test)."""

from __future__ import annotations

from typing import Any

from signflow._internal.webserver import ThreadedServer, bind_socket
from signflow.errors import SignflowError
from signflow.i18n import _
from signflow.portal.config import PortalConfig


class PortalServer(ThreadedServer):
    """The portal, ready to serve: database migrated, socket bound."""

    thread_name = "signflow-portal"

    def __init__(self, config: PortalConfig, port: int | None = None,
                 roster: Any = None) -> None:
        from signflow.portal.app import create_app
        from signflow.portal.service import Portal

        self.portal = Portal(config, roster)
        sock = bind_socket(config.host, config.port if port is None else port, backlog=256)
        app, self.web = create_app(self.portal, sock.getsockname()[1])
        super().__init__(
            app, sock,
            # behind a reverse proxy: the client's address from X-Forwarded-For, trusted
            # from the proxy on this machine only
            proxy_headers=True, forwarded_allow_ips="127.0.0.1",
            limit_concurrency=1000, timeout_keep_alive=30)

    def start_failure(self, reason: object) -> SignflowError:
        return SignflowError(_("the portal did not start: {reason}").format(reason=reason))

    @property
    def url(self) -> str:
        return self.web.base_url + "/"

    def stop(self) -> None:
        super().stop()
        self.portal.engine.dispose()
