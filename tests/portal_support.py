"""Shared pieces of the portal's tests: a throw-away PostgreSQL server, Debian's chromium,
offices that sign with `signflow sign`, and plain HTTP requests."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import HSM_MEMBERS, ROOT

POSTGRES_SCRIPT = ROOT / "scripts" / "throwaway-postgres.sh"
AGREEMENT = "giao-uoc-thi-dua-2019.pdf"


@contextlib.contextmanager
def postgres_url() -> Iterator[str]:
    """SIGNFLOW_TEST_POSTGRES_URL (.ci/run starts the server), else a throw-away server
    started here the same way (scripts/throwaway-postgres.sh) and removed afterwards.
    PostgreSQL missing is a failure naming the Debian package, never a skip."""
    given = os.environ.get("SIGNFLOW_TEST_POSTGRES_URL")
    if given:
        # one database per use, so that two test modules never see each other's rounds
        yield _fresh_database(given)
        return
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        pytest.fail("PostgreSQL is not installed: install the Debian package `postgresql` "
                    "(make test does, as root); the portal's tests run on a real server")
    folder = Path(tempfile.mkdtemp(prefix="signflow-pg-"))
    try:
        started = subprocess.run([str(POSTGRES_SCRIPT), "start", str(folder)],
                                 capture_output=True, text=True, timeout=120)
        assert started.returncode == 0, f"PostgreSQL did not start: {started.stderr}"
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([str(POSTGRES_SCRIPT), "stop", str(folder)], capture_output=True,
                       timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


def _fresh_database(url: str) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"signflow_{uuid.uuid4().hex[:12]}"
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Offices:
    """The member offices signing on their own computers with `signflow sign` (PKCS#12
    files; the SoftHSM2 token for the members that have one). A signed copy is kept per
    (revision, member): both rounds start from the same pack bytes, so the second round
    reuses the first one's signatures (the test module must stay fast)."""

    def __init__(self, pki: Any, folder: Path) -> None:
        self.pki = pki
        self.folder = folder
        self.cache: dict[tuple[str, str], bytes] = {}
        self.signings = 0

    def sign(self, base: bytes, member: str) -> bytes:
        key = (sha256(base), member)
        if key not in self.cache:
            pdf = self.folder / f"{len(self.cache):02d}-{member}" / AGREEMENT
            pdf.parent.mkdir(parents=True)
            pdf.write_bytes(base)
            for role in ("head", "seal"):
                sign_with_cli(self.pki, pdf, member, role)
                self.signings += 1
            self.cache[key] = pdf.read_bytes()
        return self.cache[key]


def sign_with_cli(pki: Any, pdf: Path, member: str, role: str) -> None:
    """`signflow sign` in its own process, as an office runs it (the browser's event loop
    owns this thread, and the office's computer is not the portal's anyway)."""
    import sys

    args = [sys.executable, "-m", "signflow", "sign", str(pdf), "--roster",
            str(pki.roster_path), "--member", member, "--role", role, "--ledger",
            str(pdf.parent / "ledger.sqlite")]
    env = {**os.environ, "SIGNFLOW_LANG": "vi"}
    if member in HSM_MEMBERS:
        from signflow.demo.softhsm import activate_softhsm

        activate_softhsm(pki.softhsm)  # SOFTHSM2_CONF, inherited by the process
        env = {**os.environ, "SIGNFLOW_LANG": "vi", "SIGNFLOW_PIN": pki.softhsm.pin()}
        args += ["--pkcs11-lib", str(pki.softhsm.module), "--token-label",
                 pki.softhsm.token_label, "--key-label", f"{member}-{role}"]
    else:
        cred = pki.credential(member, role)
        args += ["--pkcs12", str(cred.p12), "--passphrase-file", str(cred.passphrase_file)]
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, f"signflow sign {member} {role}: {done.stderr}"


def request(port: int, method: str, path: str, body: bytes = b"",
            headers: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(method, path, body=body or None, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response.status, data.decode("utf-8", "replace"), dict(response.getheaders())
    finally:
        conn.close()


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                     f"{value}\r\n".encode())
    for name, (filename, data) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                     f'filename="{filename}"\r\nContent-Type: application/pdf\r\n\r\n'.encode()
                     + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def form_token(page_html: str, document_id: int) -> str:
    import re

    found = re.search(r'action="/m/[^"]+/d/' + str(document_id) +
                      r'"[^>]*>\s*<input type="hidden" name="form_token" value="([^"]+)"',
                      page_html)
    assert found, "no upload form for the document"
    return found.group(1)


def text_of(html: str) -> str:
    import html as html_lib
    import re

    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", html)).split())
