"""Killed at any moment: `signflow sign` under SIGKILL (no clean-up at all, as a power cut),
at random moments and at the two moments that matter most: the signature journalled but
the file not yet renamed, and the file renamed but the ledger not yet told. The next run
reconciles: file and ledger agree, the audit trail is intact, no temporary file remains."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import time
from contextlib import suppress
from pathlib import Path

import pytest

from .conftest import ROOT, fresh_agreement_folder, sign_args

pytestmark = pytest.mark.slow  # long end-to-end runs: `pytest -m "not slow"` skips them

KILLS = 30


def _sign_cmd(pdf: Path, demo_pki, member: str, ledger: Path) -> list[str]:
    return [str(ROOT / ".venv" / "bin" / "signflow"), *sign_args(pdf, demo_pki, member, ledger)]


def test_killed_signer_is_reconciled_on_the_next_run(pdf_pack, demo_pki, tmp_path):
    from signflow.ledger import Ledger
    from signflow.validation.revisions import read_history, signature_intact

    rng = random.Random(3030)
    source = pdf_pack / "cluster" / "giao-uoc-thi-dua-2019.pdf"
    original = source.read_bytes()
    moments: list[tuple[str, object]] = [("fault", "before-rename"), ("fault", "after-rename")]
    moments = moments * 2 + [("fault", "ledger-before-link")]
    moments += [("delay", rng.uniform(0.2, 3.0)) for _ in range(KILLS - len(moments))]
    seen: dict[str, int] = {}
    for i, (kind, when) in enumerate(moments):
        folder = tmp_path / f"k{i:02d}"
        pdf, ledger_path = fresh_agreement_folder(source, folder)
        env = dict(os.environ, SIGNFLOW_LANG="vi")
        if kind == "fault":
            env["SIGNFLOW_FAULT"] = str(when)
        proc = subprocess.Popen(_sign_cmd(pdf, demo_pki, "ninh-binh", ledger_path), env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        if kind == "delay":
            time.sleep(float(when))  # type: ignore[arg-type]
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=120)
        data = pdf.read_bytes()
        if data == original:
            state = "old"
        else:
            assert data.startswith(original), f"kill {i}: the original bytes were not kept"
            record = read_history(pdf).signature_for("ninh-binh", "head")
            assert record is not None and signature_intact(record), f"kill {i}: broken file"
            state = "new"
        label = f"{kind}:{when}" if kind == "fault" else f"{state} (killed after {when:.2f} s)"
        seen[state] = seen.get(state, 0) + 1
        # the next run: opening the ledger reconciles it with the file
        with Ledger(ledger_path) as ledger:
            assert not ledger.verify_chain(), label
            signed = [e for e in ledger.events() if e.action == "signed"]
            pending = ledger.db.execute("SELECT COUNT(*) FROM pending").fetchone()[0]
        assert pending == 0, f"{label}: an intent was left unreconciled"
        if state == "new":
            assert len(signed) == 1, f"{label}: the ledger does not record the signature"
            assert signed[0].details["sha256_after"] == hashlib.sha256(data).hexdigest()
        else:
            assert not signed, f"{label}: the ledger records a signature the file lacks"
        assert not list(folder.glob(".*.tmp")), f"{label}: a temporary file remains"
        assert not list(folder.glob(".*.creating.*")), f"{label}: a half-made ledger remains"
        if kind == "fault" and when == "after-rename":
            assert state == "new" and signed[0].details.get("recovered") is True, label
        if kind == "fault" and when == "ledger-before-link":
            assert state == "old" and signed == [], label
        if kind == "fault" and when == "before-rename":
            assert state == "old", label
        # and the document goes on: the next member signs on top, through the same ledger
        if i % 6 == 0:
            done = subprocess.run(_sign_cmd(pdf, demo_pki, "nam-dinh", ledger_path),
                                  env=dict(os.environ, SIGNFLOW_LANG="vi"), text=True,
                                  capture_output=True, timeout=120)
            assert done.returncode == 0, f"{label}: {done.stderr}"
    print(f"\n{KILLS} kills of `signflow sign`: {seen}; every one reconciled")
    assert seen.get("old") and seen.get("new"), "killed both before and after the rename"
