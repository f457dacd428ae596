"""Serving the agent with uvicorn on 127.0.0.1 only: the socket is bound to 127.0.0.1, never
another address (signflow._internal.webserver binds it, exclusively on Windows)."""

from __future__ import annotations

import socket

from signflow._internal.webserver import ThreadedServer, bind_socket
from signflow.agent.config import HOST, AgentConfig, read_pairing_secret
from signflow.errors import InputError, SignflowError
from signflow.i18n import _


def bind_loopback(port: int) -> socket.socket:
    return bind_socket(HOST, port, backlog=64)


class AgentServer(ThreadedServer):
    """The agent, ready to serve: settings checked, pairing secret read, socket bound.

    ``run()`` serves in this thread until Ctrl+C; ``start()``/``stop()`` serve in a
    background thread (tests, a program embedding the agent)."""

    thread_name = "signflow-agent"

    def __init__(self, config: AgentConfig, port: int | None = None) -> None:
        from signflow.agent.app import create_app

        config.check()
        try:
            config.work.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(_("cannot create the work folder {path}: {reason}").format(
                path=config.work, reason=exc.strerror or exc)) from None
        secret = read_pairing_secret(config)
        self.config = config
        sock = bind_loopback(config.port if port is None else port)
        app, self.agent = create_app(config, secret, sock.getsockname()[1])
        super().__init__(app, sock)

    def start_failure(self, reason: object) -> SignflowError:
        return SignflowError(_("the agent did not start: {reason}").format(reason=reason))

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"
