"""Serving the agent with uvicorn on 127.0.0.1 only.

The socket is bound here, to 127.0.0.1 (never another address), before uvicorn starts:
a busy port is one clear line, and port 0 picks a free one (tests). On Windows the port is
bound exclusively (``SO_EXCLUSIVEADDRUSE``), so that another program cannot bind it too and
take requests meant for the agent; elsewhere ``SO_REUSEADDR`` only lets a restarted agent
reuse its port at once.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from signflow.agent.config import HOST, AgentConfig, read_pairing_secret
from signflow.errors import InputError, SignflowError
from signflow.i18n import _


def bind_loopback(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        exclusive = getattr(socket, "SO_EXCLUSIVEADDRUSE", None)
        if exclusive is not None:  # Windows
            sock.setsockopt(socket.SOL_SOCKET, exclusive, 1)
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port))
        sock.listen(64)
    except OSError as exc:
        sock.close()
        raise InputError(_("cannot listen on {host}:{port}: {reason} (another program uses "
                           "the port? choose another with --port)").format(
            host=HOST, port=port, reason=exc.strerror or exc)) from None
    sock.setblocking(False)
    return sock


class AgentServer:
    """The agent, ready to serve: settings checked, pairing secret read, socket bound.

    ``run()`` serves in this thread until Ctrl+C; ``start()``/``stop()`` serve in a
    background thread (tests, a program embedding the agent)."""

    def __init__(self, config: AgentConfig, port: int | None = None) -> None:
        import uvicorn

        from signflow.agent.app import create_app

        config.check()
        try:
            config.work.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(_("cannot create the work folder {path}: {reason}").format(
                path=config.work, reason=exc.strerror or exc)) from None
        secret = read_pairing_secret(config)
        self.config = config
        self.sock = bind_loopback(config.port if port is None else port)
        self.port: int = self.sock.getsockname()[1]
        app, self.agent = create_app(config, secret, self.port)
        self.server = uvicorn.Server(uvicorn.Config(
            app, http="h11", ws="none", lifespan="off", loop="asyncio", log_level="warning",
            access_log=False, server_header=False, date_header=False))
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def run(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        finally:
            self.sock.close()

    def start(self, timeout: float = 30.0) -> AgentServer:
        def serve() -> None:
            try:
                self.run()
            except BaseException as exc:  # noqa: BLE001 - reported by start() / stop()
                self._failure = exc

        self._thread = threading.Thread(target=serve, name="signflow-agent", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if self._failure is not None or not self._thread.is_alive():
                raise SignflowError(_("the agent did not start: {reason}").format(
                    reason=self._failure))
            if time.monotonic() > deadline:
                raise SignflowError(_("the agent did not start: {reason}").format(
                    reason="timeout"))
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)

    def __enter__(self) -> AgentServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
