"""The whole flow on the shipped 2019 example, with nothing but this machine.

generate the pack -> convert to PDF/A-2b -> create the demo PKI -> serve the timestamp
authority, OCSP and CRLs on loopback for the duration -> nine heads and nine seals sign the
agreement (some from PKCS#12 files, some from a SoftHSM2 token) -> archive it (B-LTA) ->
each member signs its own three documents -> verify everything against the roster.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from signflow.errors import InputError
from signflow.i18n import _

MARKER = ".signflow-demo"
SOFTHSM_MEMBERS = ("ha-nam", "nam-dinh", "quang-ninh")


@dataclass
class DemoResult:
    out: Path
    agreement: Path
    member_documents: list[Path]
    verdicts: list[Any]
    report: Path
    statuses: list[Any]
    roster: Any
    seconds: float
    token_members: list[str] = field(default_factory=list)
    ledger_audit: Any = None  # signflow.ledger_audit.LedgerAudit of the pack's ledger


def _fresh_folder(out: Path) -> None:
    """A previous demo's folder is replaced; any other non-empty folder is refused."""
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise InputError(_("{path} is not empty and was not made by `signflow demo`: "
                               "choose another folder with --out").format(path=out))
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("signflow demo output; safe to delete\n", encoding="utf-8")


def _sign_office(job: tuple[Path, str, str, list[str], str, bool]) -> None:
    """One member's office signs its documents: its department heads (the internal
    pledge), its head, the clerical office's number and date, its seal (B-T)."""
    import contextlib

    from signflow.demo.pki import load_demo_pki
    from signflow.demo.softhsm import activate_softhsm
    from signflow.ledger import Ledger
    from signflow.roster import ROLES, load_roster
    from signflow.signing.credentials import open_pkcs11, open_pkcs12
    from signflow.signing.numbering import number_documents
    from signflow.signing.signer import SignSettings, sign_documents
    from signflow.validation.revisions import read_history
    from signflow.validation.status import department_signers

    pki_dir, roster_path, member_id, names, ledger_path, on_token = job
    pki = load_demo_pki(pki_dir)
    roster = load_roster(roster_path)
    paths = [Path(n) for n in names]
    settings = SignSettings(level="B-T", tsa_url=pki.tsa_url)

    def credential(signer: str, role: str) -> Any:
        if on_token and signer == member_id:
            assert pki.softhsm is not None
            activate_softhsm(pki.softhsm)
            return open_pkcs11(pki.softhsm.module, token_label=pki.softhsm.token_label,
                               key_label=f"{signer}-{role}", pin=pki.softhsm.pin())
        files = pki.credential(signer, role)
        return contextlib.nullcontext(open_pkcs12(files.p12, files.passphrase().encode()))

    with Ledger(Path(ledger_path)) as ledger:
        # which of its documents each department head signs (the internal pledge)
        by_department: dict[str, list[Path]] = {}
        for path in paths:
            for department in department_signers(read_history(path), member_id, roster):
                by_department.setdefault(department, []).append(path)
        for department, signed_by_it in by_department.items():
            with credential(department, "head") as cred:
                sign_documents(signed_by_it, roster, department, "head", cred, settings,
                               ledger=ledger)
        for role in ROLES:
            if role == "seal":  # Decree 30: the number and date after the head
                unnumbered = [p for p in paths
                              if (member_id, "number") in (h := read_history(p)).issue_fields
                              and h.numbering_revision is None]
                if unnumbered:
                    number_documents(unnumbered, roster, ledger)
            with credential(member_id, role) as cred:
                sign_documents(paths, roster, member_id, role, cred, settings, ledger=ledger)


def _quiet_worker() -> None:
    """A worker leaves interrupts to the demo's own process (which says it once and
    stops the workers); stopped, it ends without a word."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _run_offices(jobs: list[tuple[Path, str, str, list[str], str, bool]]) -> None:
    """Every office's signing, in parallel when there is more than one processor."""
    import multiprocessing
    import os

    workers = min(len(jobs), os.cpu_count() or 1)
    if workers < 2:
        for job in jobs:
            _sign_office(job)
        return
    import signal
    import threading

    # started with interrupts ignored, so that a Ctrl+C while they start is not theirs
    # (an ignored signal stays ignored in the new program)
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        pool = multiprocessing.get_context("spawn").Pool(workers, initializer=_quiet_worker)
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
    try:
        for _done in pool.imap_unordered(_sign_office, jobs):
            pass
        pool.close()
    except BaseException:
        # interrupted, or an office failed: the others stop now (a signature cut short is
        # recovered from the ledger's journal, as after any interruption)
        pool.terminate()
        raise
    finally:
        pool.join()


def run_demo(out: Path, step: Callable[[str], None] = lambda s: None) -> DemoResult:
    from signflow.demo import require_demo_extra
    from signflow.demo.pki import create_demo_pki
    from signflow.demo.services import serve_pki
    from signflow.demo.softhsm import activate_softhsm
    from signflow.documents.data import load_data
    from signflow.documents.generate import generate_pack
    from signflow.documents.resources import example_dir
    from signflow.ledger import LEDGER_NAME, Ledger
    from signflow.output.report import render_html
    from signflow.roster import ROLES, load_roster
    from signflow.signing.archive import archive_document
    from signflow.signing.credentials import open_pkcs11, open_pkcs12
    from signflow.signing.signer import SignSettings, sign_documents
    from signflow.signing.timestamps import tsa_stamp
    from signflow.validation.status import document_status
    from signflow.validation.verify import VerifyPolicy, verify_files

    require_demo_extra()

    started = time.monotonic()
    out = out.absolute()
    _fresh_folder(out)
    example = example_dir()

    example_roster = load_roster(example / "roster.toml")
    step(_("Creating the demo PKI (CAs, {n} certificates, timestamp authority, images)")
         .format(n=len(example_roster.signers())))
    token_members = list(SOFTHSM_MEMBERS) if shutil.which("softhsm2-util") else []
    pki = create_demo_pki(example_roster, out / "pki",
                          softhsm_members=token_members)
    if pki.roster_path is None:
        raise InputError("the demo PKI wrote no roster")  # create_demo_pki always does
    roster = load_roster(pki.roster_path)

    step(_("Generating the 2019 pack and converting it to PDF/A-2b"))
    generate_pack(roster, load_data([example / "data.toml"]), out, pdf=True)
    year_dir = out / str(roster.cluster.year)
    agreement = year_dir / "cluster" / f"giao-uoc-thi-dua-{roster.cluster.year}.pdf"
    member_docs = {m.id: sorted((year_dir / m.id).glob("*.pdf")) for m in roster.members}

    import contextlib

    opened: dict[tuple[str, str], Any] = {}  # each PKCS#12 file is decrypted once

    def credential(member_id: str, role: str) -> Any:
        if member_id in token_members:
            assert pki.softhsm is not None
            activate_softhsm(pki.softhsm)
            return open_pkcs11(pki.softhsm.module, token_label=pki.softhsm.token_label,
                               key_label=f"{member_id}-{role}", pin=pki.softhsm.pin())
        if (member_id, role) not in opened:
            cred = pki.credential(member_id, role)
            opened[(member_id, role)] = open_pkcs12(cred.p12, cred.passphrase().encode())
        return contextlib.nullcontext(opened[(member_id, role)])

    with serve_pki(pki, separate_process=True), Ledger(out / LEDGER_NAME) as ledger:
        settings = SignSettings(level="B-T", tsa_url=pki.tsa_url)
        step(_("Signing the agreement: nine heads and nine seals (SoftHSM2 token for {n} "
               "members, PKCS#12 for the others)").format(n=len(token_members)))
        for m in roster.members:
            for role in ROLES:
                with credential(m.id, role) as cred:
                    sign_documents([agreement], roster, m.id, role, cred, settings,
                                           ledger=ledger)
        step(_("Archiving the agreement: validation data and a document timestamp (B-LTA)"))
        from signflow.validation.verify import VerifyPolicy as _Policy

        archive_document(agreement, pki.tsa_url,
                         _Policy(trust_roots=(pki.root_pem,)).load_roots(), ledger=ledger)
        ledger.anchor(pki.tsa_url, tsa_stamp(pki.tsa_url))
        step(_("Each member signs its own documents: the department heads sign the "
               "internal pledge first, then the head (one login per member); the clerical "
               "office numbers and dates the documents it issues before the seal"))
        # the offices are independent (each its own documents, keys and number series):
        # as many sign at once as there are processors, each in a fresh process (a
        # PKCS#11 library must not cross a fork), writing the one ledger (it takes
        # concurrent writers)
        jobs = [(pki.dir, str(pki.roster_path), m.id, [str(p) for p in member_docs[m.id]],
                 str(out / LEDGER_NAME), m.id in token_members) for m in roster.members]
        _run_offices(jobs)
        ledger.anchor(pki.tsa_url, tsa_stamp(pki.tsa_url))  # as `signflow sign` does

    step(_("Verifying every document against the roster, offline"))
    all_docs = [agreement] + [p for m in roster.members for p in member_docs[m.id]]
    verdicts = verify_files(all_docs, VerifyPolicy(trust_roots=(pki.root_pem,), roster=roster))
    report = out / "bien-ban-xac-minh.html"
    from signflow._internal.files import atomic_write_bytes

    atomic_write_bytes(report, render_html(
        verdicts, title=roster.cluster.full_name, roster_name=roster.cluster.full_name,
        trust_roots=[str(pki.root_pem)]).encode("utf-8"))
    from signflow.ledger_audit import audit_ledger

    with Ledger(out / LEDGER_NAME, read_only=True) as ledger:
        statuses = [document_status(p, roster, ledger=ledger) for p in all_docs]
        ledger_audit = audit_ledger(ledger, _Policy(trust_roots=(pki.root_pem,)).load_roots())
    return DemoResult(out=out, agreement=agreement,
                      member_documents=[p for m in roster.members for p in member_docs[m.id]],
                      verdicts=verdicts, report=report, statuses=statuses, roster=roster,
                      seconds=time.monotonic() - started, token_members=token_members,
                      ledger_audit=ledger_audit)
