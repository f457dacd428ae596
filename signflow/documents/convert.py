"""Convert documents to archival PDF (PDF/A-2b) with headless LibreOffice.

What LibreOffice 7.4 does wrong, and what this module does about it (DESIGN.md):

- Start-up dominates (about 1.8 s per process, 0.1 s per document after that): documents go
  in batches, one process per worker, and up to ``jobs`` workers run side by side.
- Parallel runs sharing a profile lose jobs, and a user's own running LibreOffice would
  swallow ours: every worker gets a private, throw-away user profile.
- Outputs are named by basename only: inputs are staged under unique names first.
- soffice exits 0 when it failed, and "converts" garbage named .docx as plain text: every
  input is checked to be a real document first, and every output to be a PDF with pages,
  A4, declaring PDF/A-2b when asked.
- It can hang: each worker runs in its own process group with a timeout, and the whole
  group is killed. The documents of a killed batch that did not come out are retried one
  by one, so a single bad input cannot take its neighbours down with it.

Outputs are moved into place atomically: a failed or killed conversion never leaves a
half-written PDF behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from signflow._internal.pdfium import PDFIUM_LOCK
from signflow.errors import ConversionError, InputError, ToolMissingError
from signflow.i18n import _

PDFA_LEVELS = ("2b", "none")
# The JSON filter options; the legacy "SelectPdfVersion=2" string is silently ignored by 7.4.
_PDFA2_FILTER = 'pdf:writer_pdf_Export:{"SelectPdfVersion":{"type":"long","value":"2"}}'
_PLAIN_FILTER = "pdf:writer_pdf_Export"
# Seconds for LibreOffice to start, on top of the per-document time; slow machines can
# raise it with $SIGNFLOW_LO_STARTUP_TIMEOUT.
STARTUP_TIMEOUT = 60.0
DOCUMENT_TIMEOUT = 60.0
A4_POINTS = (595.3, 841.9)


@dataclass(frozen=True)
class ConversionJob:
    source: Path
    target: Path


@dataclass(frozen=True)
class ConvertedDocument:
    source: Path
    target: Path
    pages: int
    pdfa: str | None  # "2b" when the output declares PDF/A-2b


@dataclass(frozen=True)
class ConversionFailure:
    source: Path
    reason: str


@dataclass(frozen=True)
class ConversionReport:
    converted: list[ConvertedDocument]
    failed: list[ConversionFailure]


ProgressCallback = Callable[[int, int], None]  # (done, total)


def find_soffice() -> str:
    """The LibreOffice binary: $SIGNFLOW_SOFFICE, else soffice / libreoffice on PATH."""
    override = os.environ.get("SIGNFLOW_SOFFICE")
    candidates = [override] if override else ["soffice", "libreoffice"]
    for name in candidates:
        path = shutil.which(name) if name else None
        if path:
            return path
    raise ToolMissingError(_(
        "LibreOffice is not installed (no 'soffice' found); install the Debian package "
        "libreoffice-writer-nogui, or run `make demo` as root to install it"))


def source_problem(path: Path) -> str | None:
    """Why LibreOffice must not be given this file (it would silently mis-convert it), or
    None when it looks like a real document."""
    if not path.is_file():
        return _("file not found")
    suffix = path.suffix.lower()
    try:
        with path.open("rb") as f:
            head = f.read(8)
    except OSError as exc:
        return _("cannot read: {reason}").format(reason=exc.strerror or exc)
    not_valid = _("not a valid {kind} document (corrupt or another kind of file)")
    if suffix in (".docx", ".docm", ".dotx", ".odt", ".ott"):
        member = "content.xml" if suffix in (".odt", ".ott") else "word/document.xml"
        try:
            with zipfile.ZipFile(path) as z:
                z.getinfo(member)
                if z.testzip() is not None:
                    raise zipfile.BadZipFile("CRC error")
        except (zipfile.BadZipFile, KeyError, OSError, EOFError):
            return not_valid.format(kind=suffix.lstrip(".").upper())
        return None
    if suffix == ".doc":
        return None if head == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" else not_valid.format(kind="DOC")
    if suffix == ".rtf":
        return None if head.startswith(b"{\\rtf") else not_valid.format(kind="RTF")
    return _("not a document signflow converts (use .docx, .odt, .doc or .rtf)")


def targets_in(out_dir: Path, sources: Sequence[Path]) -> list[ConversionJob]:
    """One PDF per source in ``out_dir``; equal names from different folders get a suffix."""
    jobs: list[ConversionJob] = []
    used: set[str] = set()
    for source in sources:
        stem = source.stem
        name = f"{stem}.pdf"
        n = 2
        while name in used:
            name = f"{stem}-{n}.pdf"
            n += 1
        used.add(name)
        jobs.append(ConversionJob(source, out_dir / name))
    return jobs


# --- checking outputs ------------------------------------------------------------------

_PDFAID_PART = re.compile(rb"pdfaid:part(?:=\"|>)\s*(\d)")
_PDFAID_CONF = re.compile(rb"pdfaid:conformance(?:=\"|>)\s*([ABUabu])")


@dataclass(frozen=True)
class PdfFacts:
    pages: int
    pdfa: str | None
    first_page_size: tuple[float, float]


def pdf_facts(path: Path) -> PdfFacts:
    """Page count, declared PDF/A level and page size, or ValueError if not a sound PDF."""
    import pypdfium2
    from pyhanko.pdf_utils.reader import PdfFileReader

    with path.open("rb") as f:
        if f.read(5) != b"%PDF-":
            raise ValueError("not a PDF")
        f.seek(0)
        root = PdfFileReader(f, strict=False).root
        pdfa = None
        if "/Metadata" in root:
            xmp = root["/Metadata"].data
            part = _PDFAID_PART.search(xmp)
            conf = _PDFAID_CONF.search(xmp)
            if part and conf:
                pdfa = f"{part.group(1).decode()}{conf.group(1).decode().lower()}"
    with PDFIUM_LOCK:
        try:
            doc = pypdfium2.PdfDocument(str(path))
        except pypdfium2.PdfiumError as exc:
            raise ValueError(str(exc)) from None
        try:
            pages = len(doc)
            size = tuple(doc[0].get_size()) if pages else (0.0, 0.0)
        finally:
            doc.close()
    return PdfFacts(pages=pages, pdfa=pdfa, first_page_size=(float(size[0]), float(size[1])))


def _check_output(path: Path, pdfa: str | None) -> PdfFacts:
    if not path.is_file() or path.stat().st_size == 0:
        raise ValueError(_("LibreOffice produced no PDF"))
    try:
        facts = pdf_facts(path)
    except Exception as exc:
        raise ValueError(_("LibreOffice produced a broken PDF ({reason})").format(
            reason=str(exc)[:120])) from None
    if facts.pages < 1:
        raise ValueError(_("the PDF has no pages"))
    if pdfa and facts.pdfa != pdfa:
        raise ValueError(_("the PDF does not declare PDF/A-{level}").format(level=pdfa.upper()))
    return facts


# --- running LibreOffice ----------------------------------------------------------------


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop LibreOffice and everything it started (soffice is a launcher)."""
    if hasattr(os, "killpg"):  # POSIX: the process group made by start_new_session
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    else:  # Windows: the process tree, by taskkill (reviewed, not run here)
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(["taskkill", "/F", "/T", "/PID", str(proc.pid)],
                           capture_output=True, timeout=30, check=False)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


class _Worker:
    """One LibreOffice process at a time, with its own private profile."""

    def __init__(self, soffice: str, workdir: Path, index: int, pdfa: str | None,
                 document_timeout: float, startup_timeout: float,
                 on_output: Callable[[], None],
                 cancelled: threading.Event | None = None) -> None:
        self.cancelled = cancelled or threading.Event()
        self.soffice = soffice
        self.profile = workdir / f"profile-{index}"
        self.stage = workdir / f"stage-{index}"
        self.outdir = workdir / f"out-{index}"
        self.pdfa = pdfa
        self.document_timeout = document_timeout
        self.startup_timeout = startup_timeout
        self.on_output = on_output

    def run(self, jobs: list[ConversionJob]) -> tuple[list[ConvertedDocument],
                                                    list[ConversionFailure]]:
        done: list[ConvertedDocument] = []
        failed: list[ConversionFailure] = []
        pending = list(jobs)
        while pending and not self.cancelled.is_set():
            finished, culprit, reason = self._batch(pending)
            for job, facts_or_error in finished:
                if isinstance(facts_or_error, PdfFacts):
                    done.append(ConvertedDocument(job.source, job.target, facts_or_error.pages,
                                                  facts_or_error.pdfa))
                else:
                    failed.append(ConversionFailure(job.source, facts_or_error))
            handled = {id(j) for j, _ in finished}
            if culprit is not None:
                failed.append(ConversionFailure(culprit.source, reason))
                handled.add(id(culprit))
            remaining = [j for j in pending if id(j) not in handled]
            if len(remaining) == len(pending):  # no progress at all: give up on the rest
                failed += [ConversionFailure(j.source, reason) for j in remaining]
                break
            pending = remaining
        return done, failed

    def _batch(self, jobs: list[ConversionJob]) -> tuple[
        list[tuple[ConversionJob, PdfFacts | str]], ConversionJob | None, str
    ]:
        """Convert a batch in one process. Returns the jobs that came to an end (with facts
        or a reason), and the job blamed when the process hung or died (if any)."""
        for d in (self.stage, self.outdir):
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True)
        staged: list[tuple[ConversionJob, Path]] = []
        for i, job in enumerate(jobs):
            link = self.stage / f"{i:04d}{job.source.suffix.lower()}"
            try:
                link.symlink_to(job.source.resolve())
            except OSError:  # Windows without the privilege to make links: a copy
                shutil.copyfile(job.source, link)
            staged.append((job, link))
        cmd = [
            self.soffice, "--headless", "--invisible", "--norestore", "--nolockcheck",
            "--nodefault", "--nologo",
            f"-env:UserInstallation={self.profile.resolve().as_uri()}",
            "--convert-to", _PDFA2_FILTER if self.pdfa == "2b" else _PLAIN_FILTER,
            "--outdir", str(self.outdir),
            *[str(link) for _, link in staged],
        ]
        env = dict(os.environ, SAL_USE_VCLPLUGIN="svp", HOME=str(self.profile.parent))
        timeout = self.startup_timeout + self.document_timeout * len(jobs)
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True, env=env,
                                creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0))
        deadline = time.monotonic() + timeout
        seen = 0
        reason = ""
        while True:
            try:
                proc.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                count = sum(1 for _ in self.outdir.glob("*.pdf"))
                for _i in range(count - seen):
                    self.on_output()
                seen = max(seen, count)
                if self.cancelled.is_set():  # Ctrl+C or SIGTERM in the main thread
                    _kill_group(proc)
                    reason = _("the conversion was interrupted")
                    break
                if time.monotonic() > deadline:
                    _kill_group(proc)
                    reason = _("LibreOffice did not finish {n} document(s) in the {s:.0f} s "
                               "allowed ({per:.0f} s a document and {start:.0f} s to start) "
                               "and was stopped").format(
                        n=len(jobs), s=timeout, per=self.document_timeout,
                        start=self.startup_timeout)
                    break
        stderr = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
        if not reason and proc.returncode != 0:
            reason = _("LibreOffice failed (exit code {code}): {message}").format(
                code=proc.returncode, message=stderr.strip()[:200])
        killed = bool(reason)
        # soffice is a launcher; make sure nothing of this batch outlives it.
        _kill_group(proc)

        finished: list[tuple[ConversionJob, PdfFacts | str]] = []
        culprit: ConversionJob | None = None
        for job, link in staged:
            produced = self.outdir / f"{link.stem}.pdf"
            if killed and not produced.exists():
                # Documents are converted in order: the first one missing is the one that
                # hung or crashed the process; the rest are retried in a new batch.
                culprit = culprit or job
                continue
            try:
                facts = _check_output(produced, self.pdfa)
            except ValueError as exc:
                if killed:  # possibly cut short while writing: blame it, retry the rest
                    culprit = culprit or job
                    continue
                finished.append((job, str(exc)))
                continue
            job.target.parent.mkdir(parents=True, exist_ok=True)
            _move_into_place(produced, job.target)
            finished.append((job, facts))
            if seen < len(staged):
                self.on_output()
                seen += 1
        return finished, culprit, reason or _("LibreOffice stopped")


def _move_into_place(produced: Path, target: Path) -> None:
    """Atomic: copy beside the target (maybe another file system), fsync, rename."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(produced, tmp)
        with tmp.open("rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def convert_documents(
    jobs: Sequence[ConversionJob],
    pdfa: str | None = "2b",
    workers: int | None = None,
    document_timeout: float = DOCUMENT_TIMEOUT,
    progress: ProgressCallback | None = None,
    startup_timeout: float | None = None,
) -> ConversionReport:
    """Convert every job; failures are collected per document, never half-written."""
    if pdfa not in (None, "2b"):
        raise InputError(_("unsupported PDF/A level '{level}' (use 2b or none)").format(
            level=pdfa))
    jobs = list(jobs)
    if not jobs:
        return ConversionReport([], [])
    failures: list[ConversionFailure] = []
    valid: list[ConversionJob] = []
    for job in jobs:
        problem = source_problem(job.source)
        if problem is None:
            valid.append(job)
        else:
            failures.append(ConversionFailure(job.source, problem))
    soffice = find_soffice() if valid else ""
    if startup_timeout is None:
        try:
            startup_timeout = float(os.environ.get("SIGNFLOW_LO_STARTUP_TIMEOUT", STARTUP_TIMEOUT))
        except ValueError:
            startup_timeout = STARTUP_TIMEOUT
        if not 1 <= startup_timeout <= 3600:  # also NaN and infinities
            startup_timeout = STARTUP_TIMEOUT
    if not 1 <= document_timeout <= 3600:
        raise InputError(_("the conversion timeout must be between 1 and 3600 seconds"))
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(valid) or 1))
    lock = threading.Lock()
    count = [0]

    def tick() -> None:
        with lock:
            count[0] += 1
            if progress:
                progress(min(count[0], len(jobs)), len(jobs))

    converted: list[ConvertedDocument] = []
    with tempfile.TemporaryDirectory(prefix="signflow-lo-") as tmp:
        workdir = Path(tmp)
        # Round-robin keeps the batches balanced when documents come sorted by size.
        batches = [valid[i::n_workers] for i in range(n_workers)]
        cancelled = threading.Event()
        workers_ = [_Worker(soffice, workdir, i, pdfa, document_timeout, startup_timeout, tick,
                            cancelled) for i in range(n_workers)]
        with ThreadPoolExecutor(max_workers=n_workers) as pool:
            futures = [pool.submit(w.run, b) for w, b in zip(workers_, batches, strict=True)]
            try:
                results = [f.result() for f in futures]
            except BaseException:
                # Ctrl+C or SIGTERM: stop every LibreOffice now (not at its timeout); the
                # pool then ends and the private profiles are removed with the folder
                cancelled.set()
                raise
    for done, failed in results:
        converted += done
        failures += failed
    order = {id(j.source): i for i, j in enumerate(jobs)}
    converted.sort(key=lambda c: order.get(id(c.source), 0))
    return ConversionReport(converted, failures)


def raise_for_failures(report: ConversionReport) -> None:
    if report.failed:
        details = [f"{f.source}: {f.reason}" for f in report.failed]
        raise ConversionError(
            _("{n} document(s) could not be converted").format(n=len(report.failed))
            if len(details) > 1 else details[0],
            details=details if len(details) > 1 else [])
