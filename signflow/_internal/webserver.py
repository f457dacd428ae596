"""A uvicorn server on a socket bound by signflow: the agent's and the portal's.

The socket is bound before uvicorn starts, so that a busy port is one clear line and port 0
picks a free one (tests). On Windows the port is bound exclusively (``SO_EXCLUSIVEADDRUSE``),
so that another program cannot bind it too and take requests meant for signflow; elsewhere
``SO_REUSEADDR`` only lets a restarted server reuse its port at once.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence
from typing import Any, Self

from signflow.errors import InputError, SignflowError
from signflow.i18n import _

Header = tuple[bytes, bytes]


def bind_socket(host: str, port: int, backlog: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        exclusive = getattr(socket, "SO_EXCLUSIVEADDRUSE", None)
        if exclusive is not None:  # Windows
            sock.setsockopt(socket.SOL_SOCKET, exclusive, 1)
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise InputError(_("cannot listen on {host}:{port}: {reason} (another program uses "
                           "the port? choose another with --port)").format(
            host=host, port=port, reason=exc.strerror or exc)) from None
    sock.setblocking(False)
    return sock


# The pages' Content-Security-Policy: their own scripts, styles and images only, no
# framing; the verification report (one self-contained HTML file with its own <style>)
# runs no script at all.
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
               "base-uri 'none'")
REPORT_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                 "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


async def plain(send: Any, status: int, text: str, security_headers: Sequence[Header],
                close: bool = False) -> None:
    """A one-line text answer (a refusal made before the application), with the
    server's security headers."""
    body = text.encode("utf-8")
    headers: list[Header] = [(b"content-type", b"text/plain; charset=utf-8"),
                             (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    headers += [(b"content-security-policy", PAGE_POLICY.encode()), *security_headers]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def with_security_headers(send: Any, security_headers: Sequence[Header]) -> Any:
    """``send`` adding the page policy (unless the response sets its own) and every
    security header the response does not set."""
    async def send_with_headers(message: Any) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            present = {k.lower() for k, _v in headers}
            if b"content-security-policy" not in present:
                headers.append((b"content-security-policy", PAGE_POLICY.encode()))
            headers += [(k, v) for k, v in security_headers if k not in present]
            message["headers"] = headers
        await send(message)

    return send_with_headers


def single_header(scope: Any, name: bytes) -> str | None:
    """An ASGI request header given exactly once (absent or said twice: not trusted)."""
    values = [v for k, v in scope.get("headers", []) if k.lower() == name]
    if len(values) != 1:
        return None
    try:
        return bytes(values[0]).decode("latin-1")
    except UnicodeDecodeError:
        return None


class ThreadedServer:
    """uvicorn serving ``app`` on ``sock``: ``run()`` in this thread until Ctrl+C,
    ``start()``/``stop()`` in a background thread (tests, a program embedding it).
    Subclasses say how a failed start reads (``start_failure``)."""

    thread_name = "signflow-server"

    def __init__(self, app: Any, sock: socket.socket, **uvicorn_options: Any) -> None:
        import uvicorn

        self.sock = sock
        self.port: int = sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(
            app, http="h11", ws="none", lifespan="off", loop="asyncio", log_level="warning",
            access_log=False, server_header=False, date_header=False, **uvicorn_options))
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    def start_failure(self, reason: object) -> SignflowError:
        raise NotImplementedError  # the message names what did not start

    def run(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        finally:
            self.sock.close()

    def start(self, timeout: float = 30.0) -> Self:
        def serve() -> None:
            try:
                self.run()
            except BaseException as exc:  # noqa: BLE001 - reported by start()
                self._failure = exc

        self._thread = threading.Thread(target=serve, name=self.thread_name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if self._failure is not None or not self._thread.is_alive():
                raise self.start_failure(self._failure)
            if time.monotonic() > deadline:
                raise self.start_failure("timeout")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
