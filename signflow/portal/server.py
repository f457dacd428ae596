"""Serving the portal with uvicorn: the socket is bound here first (a busy port is one
clear line; port 0 picks a free one for tests), then uvicorn serves in this thread
(``run``) or in a background thread (``start``/``stop``: tests, the load test)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from signflow.errors import InputError, SignflowError
from signflow.i18n import _
from signflow.portal.config import PortalConfig


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(256)
    except OSError as exc:
        sock.close()
        raise InputError(_("cannot listen on {host}:{port}: {reason} (another program uses "
                           "the port? choose another with --port)").format(
            host=host, port=port, reason=exc.strerror or exc)) from None
    sock.setblocking(False)
    return sock


class PortalServer:
    """The portal, ready to serve: database migrated, socket bound."""

    def __init__(self, config: PortalConfig, port: int | None = None,
                 roster: Any = None) -> None:
        import uvicorn

        from signflow.portal.app import create_app
        from signflow.portal.service import Portal

        self.portal = Portal(config, roster)
        self.sock = bind(config.host, config.port if port is None else port)
        self.port: int = self.sock.getsockname()[1]
        app, self.web = create_app(self.portal, self.port)
        self.server = uvicorn.Server(uvicorn.Config(
            app, http="h11", ws="none", lifespan="off", loop="asyncio", log_level="warning",
            access_log=False, server_header=False, date_header=False,
            # behind a reverse proxy: the client's address from X-Forwarded-For, trusted
            # from the proxy on this machine only
            proxy_headers=True, forwarded_allow_ips="127.0.0.1",
            limit_concurrency=1000, timeout_keep_alive=30))
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    @property
    def url(self) -> str:
        return self.web.base_url + "/"

    def run(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        finally:
            self.sock.close()

    def start(self, timeout: float = 30.0) -> PortalServer:
        def serve() -> None:
            try:
                self.run()
            except BaseException as exc:  # noqa: BLE001 - reported by start()
                self._failure = exc

        self._thread = threading.Thread(target=serve, name="signflow-portal", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if self._failure is not None or not self._thread.is_alive():
                raise SignflowError(_("the portal did not start: {reason}").format(
                    reason=self._failure))
            if time.monotonic() > deadline:
                raise SignflowError(_("the portal did not start: {reason}").format(
                    reason="timeout"))
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.portal.engine.dispose()

    def __enter__(self) -> PortalServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
