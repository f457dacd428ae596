"""The demo PKI's services over real loopback HTTP: timestamps (RFC 3161), OCSP and CRLs,
served by certomancer's Animator on 127.0.0.1."""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from signflow.demo import require_demo_extra
from signflow.demo.pki import (
    DemoPki,
    _cert_label,
    _install_key_cache,
    _load_arch,
    _trust_own_keys,
    load_demo_pki,
)
from signflow.errors import InputError, SigningError
from signflow.i18n import _


def check_exports(pki: DemoPki, arch: Any | None = None) -> None:
    """Raise SigningError unless certomancer rebuilds every exported certificate to the
    same bytes (otherwise OCSP and CRLs would describe other certificates)."""
    arch = arch if arch is not None else _load_arch(pki.config_path)
    files = {"root": pki.root_pem, "interm": pki.intermediate_pem,
             "tsa": pki.dir / "certs" / "tsa.pem", "interm-ocsp": pki.dir / "certs" / "ocsp.pem"}
    files.update({c.label: c.cert_pem for c in pki.credentials.values()})
    for label, pem in files.items():
        exported = x509.load_pem_x509_certificate(pem.read_bytes()).public_bytes(
            serialization.Encoding.DER)
        if arch.get_cert(_cert_label(label)).dump() != exported:
            raise SigningError(_("the demo PKI in {path} is inconsistent: certomancer "
                                 "rebuilds the certificate {label} differently from the "
                                 "exported one").format(path=pki.dir, label=label))

@contextlib.contextmanager
def serve_pki(pki_dir: str | Path | DemoPki, separate_process: bool = False) -> Iterator[str]:
    """Serve the PKI's OCSP responder, CRLs, certificates and TSA on its saved URL.

    Runs certomancer's Animator under werkzeug in a daemon thread on 127.0.0.1 at the
    port of the saved URL; yields the base URL; stops the server on exit. Certomancer
    honours the ``X-Certomancer-Fake-Time`` request header (tests can ask for answers
    as of another moment). With ``separate_process`` the server runs in a forked child
    instead, so that its signing work (timestamps, OCSP) uses the other CPU core rather
    than competing with the caller for the interpreter lock.
    """
    require_demo_extra()
    from certomancer.integrations.animator import Animator, AnimatorArchStore
    from certomancer.registry import ArchLabel, CertomancerConfig
    from werkzeug.serving import WSGIRequestHandler, make_server

    pki = pki_dir if isinstance(pki_dir, DemoPki) else load_demo_pki(pki_dir)
    parts = urlsplit(pki.url)
    host = parts.hostname or ""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise InputError(_("the demo PKI answers at {url}, which is not this computer: "
                           "create it with a loopback URL").format(url=pki.url))
    port = parts.port or 80
    _install_key_cache()
    _trust_own_keys(pki.dir / "private")
    try:
        config = CertomancerConfig.from_file(str(pki.config_path))
    except (OSError, ValueError, KeyError) as exc:
        raise SigningError(_("cannot load the demo PKI configuration {path}: {reason}").format(
            path=pki.config_path, reason=exc)) from exc
    # Also builds every certificate up front, so no request waits for it.
    check_exports(pki, config.get_pki_arch(ArchLabel(pki.arch)))

    class _WholeSecondsAnimator(Animator):
        # Certomancer stamps OCSP responses (producedAt, thisUpdate) with the current
        # time including microseconds; DER allows the fraction, but cryptography's
        # parser (and RFC 5280 profiles) refuse it. Whole seconds satisfy everyone.
        def at_time(self, request: Any) -> dt.datetime:
            return super().at_time(request).replace(microsecond=0)

    app = _WholeSecondsAnimator(AnimatorArchStore(config.pki_archs), with_web_ui=False)

    class _QuietHandler(WSGIRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            pass  # one line per OCSP/TSA request would drown the user's output

    # Our own listening socket: werkzeug's make_server answers a busy port by printing
    # and calling sys.exit(1), which is no way for a library to fail.
    bind_host = "127.0.0.1" if host == "localhost" else host
    family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            # Restarting on the same port must not wait for old connections' TIME_WAIT.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((bind_host, port))
            sock.listen(128)
            # werkzeug duplicates the descriptor; ours closes when the block ends.
            server = make_server(bind_host, port, app, threaded=True,
                                 request_handler=_QuietHandler, fd=sock.fileno())
    except OSError as exc:
        raise SigningError(_("cannot serve the demo PKI at {url}: {reason}").format(
            url=pki.url, reason=exc)) from exc
    import multiprocessing

    if separate_process and "fork" in multiprocessing.get_all_start_methods():
        child = multiprocessing.get_context("fork").Process(
            target=server.serve_forever, name="signflow-demo-pki", daemon=True)
        child.start()
        try:
            yield pki.url
        finally:
            child.terminate()
            child.join(timeout=10)
            server.server_close()
        return
    thread = threading.Thread(target=server.serve_forever, name="signflow-demo-pki",
                              daemon=True)
    thread.start()
    try:
        yield pki.url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
