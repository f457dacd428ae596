"""Generate a year's pack: the cluster agreement and every member's documents.

Layout of the output::

    DIR/<year>/cluster/giao-uoc-thi-dua-<year>.docx
    DIR/<year>/<member-id>/<kind>-<member-id>-<year>.docx
    DIR/<year>/<member-id>/<kind>-<member-id>-<department-id>-<year>.docx   (per department)
    DIR/<year>/manifest.json

File names carry the member and the year so that documents mailed around never collide.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from signflow._internal.files import atomic_write_bytes, sha256_file
from signflow.documents.context import (
    CLUSTER_KINDS,
    DEPARTMENT_KINDS,
    KINDS,
    MEMBER_KINDS,
    check_data,
    data_warnings,
    document_context,
    registration_departments,
    required_signatures,
)
from signflow.documents.render import docx_text, render_bytes
from signflow.documents.resources import shipped_templates_dir
from signflow.errors import InputError, TemplateError
from signflow.i18n import _
from signflow.pdf.anchors import anchor
from signflow.roster import Roster

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class PlannedDocument:
    kind: str
    member: str | None  # None for the cluster's own documents
    template: Path
    out: Path  # the .docx to write
    department: str | None = None  # a department's document (its id)


@dataclass(frozen=True)
class ManifestEntry:
    kind: str
    member: str | None
    path: str  # relative to the year folder, with forward slashes
    sha256: str
    format: str  # "docx" or "pdf"
    source: str | None = None  # for a PDF: the .docx it was converted from
    department: str | None = None  # a department's document: its id in the roster


def default_templates_dir() -> Path:
    """The templates shipped with signflow."""
    return shipped_templates_dir()


def template_path(templates_dir: Path, kind: str) -> Path:
    return templates_dir / f"{kind}.docx"


def document_filename(kind: str, member: str | None, year: int, suffix: str = ".docx",
                      department: str | None = None) -> str:
    if member is None:
        return f"{kind}-{year}{suffix}"
    if department is not None:
        return f"{kind}-{member}-{department}-{year}{suffix}"
    return f"{kind}-{member}-{year}{suffix}"


def plan_pack(
    roster: Roster,
    templates_dir: Path,
    out_dir: Path,
    only: Iterable[str] = (),
    members: Iterable[str] = (),
    data: dict[str, Any] | None = None,
) -> list[PlannedDocument]:
    """Which documents to render, and where. Unknown kinds or member ids are input errors.

    A department's documents (the registration per department) are planned for each
    member that registers per department (``data``) and each of its departments with
    staff."""
    only = list(only)
    members = list(members)
    for kind in only:
        if kind not in KINDS:
            raise InputError(_("unknown kind of document '{kind}' (known: {kinds})").format(
                kind=kind, kinds=", ".join(KINDS)))
    for member_id in members:
        roster.member(member_id)  # raises with the list of known ids
    # Naming members means "their documents"; the cluster's own come only when asked for.
    kinds = only or ([*MEMBER_KINDS, *DEPARTMENT_KINDS] if members else list(KINDS))
    chosen_members = members or roster.member_ids
    year = roster.cluster.year
    year_dir = out_dir / str(year)
    plan: list[PlannedDocument] = []
    for kind in kinds:
        if kind in CLUSTER_KINDS:
            plan.append(PlannedDocument(
                kind, None, template_path(templates_dir, kind),
                year_dir / "cluster" / document_filename(kind, None, year)))
    for member_id in chosen_members:
        for kind in kinds:
            if kind in MEMBER_KINDS:
                plan.append(PlannedDocument(
                    kind, member_id, template_path(templates_dir, kind),
                    year_dir / member_id / document_filename(kind, member_id, year)))
            elif kind in DEPARTMENT_KINDS and data is not None:
                for department in registration_departments(data, roster.member(member_id)):
                    plan.append(PlannedDocument(
                        kind, member_id, template_path(templates_dir, kind),
                        year_dir / member_id / document_filename(
                            kind, member_id, year, department=department.id),
                        department=department.id))
    asked = [k for k in only if k in DEPARTMENT_KINDS]
    if asked and not any(d.kind in asked for d in plan):
        raise InputError(_("no department's registration form to make: a member needs staff "
                           "in the roster and per_department = true in [\"{kind}\"] (or its "
                           "[members.<id>.\"{kind}\"])").format(kind="dang-ky-thi-dua"))
    missing = sorted({str(d.template) for d in plan if not d.template.is_file()})
    if missing:
        raise InputError(_("template not found: {path}").format(path=", ".join(missing)))
    return plan


ProgressCallback = Callable[[int, int, PlannedDocument], None]
ConvertProgress = Callable[[int, int], None]


def generate_pack(
    roster: Roster,
    data: dict[str, Any],
    out_dir: Path,
    templates_dir: Path | None = None,
    only: Iterable[str] = (),
    members: Iterable[str] = (),
    today: dt.date | None = None,
    progress: ProgressCallback | None = None,
    pdf: bool = False,
    pdfa: str | None = "2b",
    workers: int | None = None,
    convert_progress: ConvertProgress | None = None,
    force: bool = False,
    on_wait: Callable[[Path], None] | None = None,
    ledger_path: Path | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> list[ManifestEntry]:
    """Render the pack (and convert it to PDF when asked), update the manifest, and return
    the entries written in this run. One run at a time fills an output folder.

    ``on_warning`` receives, once each, what in the data still works but should change
    (the old ``[["giao-uoc-noi-bo".departments]]``); without it, a UserWarning is issued.

    The PDFs are recorded in the ledger at ``ledger_path`` (default: ``out_dir``'s
    signflow-ledger.sqlite, the one `signflow sign` finds for documents under it)."""
    from signflow._internal.locks import writing_folder
    from signflow.ledger import LEDGER_NAME

    ledger_path = ledger_path or Path(out_dir) / LEDGER_NAME
    with writing_folder(out_dir, on_wait=on_wait):
        return _generate_locked(roster, data, out_dir, templates_dir, only, members, today,
                                progress, pdf, pdfa, workers, convert_progress, force,
                                ledger_path, on_warning)


def _generate_locked(roster: Roster, data: dict[str, Any], out_dir: Path,
                     templates_dir: Path | None, only: Iterable[str], members: Iterable[str],
                     today: dt.date | None, progress: ProgressCallback | None, pdf: bool,
                     pdfa: str | None, workers: int | None,
                     convert_progress: ConvertProgress | None,
                     force: bool, ledger_path: Path,
                     on_warning: Callable[[str], None] | None = None) -> list[ManifestEntry]:
    templates_dir = templates_dir or default_templates_dir()
    check_data(data, roster)
    plan = plan_pack(roster, templates_dir, out_dir, only, members, data)
    check_staff_files(roster, {d.member for d in plan if d.member})
    # Build every context first: a data error stops the run before any file is written.
    contexts = [document_context(roster, data, d.kind, d.member, today, d.department)
                for d in plan]
    if any(d.kind == "giao-uoc-noi-bo" for d in plan):
        for warning in data_warnings(data):
            if on_warning is not None:
                on_warning(warning)
            else:
                import warnings

                warnings.warn(warning, UserWarning, stacklevel=3)
    if not force:
        signed = [str(d.out.with_suffix(".pdf")) for d in plan if _carries_signatures(
            d.out.with_suffix(".pdf"))]
        if signed:
            raise InputError(_("these documents already carry signatures and would be "
                               "overwritten (use --force to regenerate them anyway)"),
                             details=signed)
    year_dir = out_dir / str(roster.cluster.year)
    # Everything is made in a staging folder beside the output (same disk), then moved into
    # place file by file: a run that fails (a bad template, LibreOffice, a full disk) leaves
    # the output folder as it was.
    out_dir = Path(out_dir).absolute()
    for stale in out_dir.parent.glob(f".{out_dir.name}.generating-*"):
        shutil.rmtree(stale, ignore_errors=True)  # a killed run's (we hold the lock)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.generating-", dir=out_dir.parent))
    try:
        staged_year = staging / str(roster.cluster.year)
        entries: list[ManifestEntry] = []
        for i, (doc, ctx) in enumerate(zip(plan, contexts, strict=True)):
            if progress:
                progress(i, len(plan), doc)
            staged = replace(doc, out=staging / doc.out.absolute().relative_to(out_dir))
            sha = _render_checked(roster, staged, ctx)
            entries.append(ManifestEntry(
                doc.kind, doc.member, staged.out.relative_to(staged_year).as_posix(), sha,
                "docx", department=doc.department))
        if pdf:
            entries += convert_entries(staged_year, entries, pdfa, workers, convert_progress,
                                       roster)
        for entry in entries:
            target = year_dir / entry.path
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged_year / entry.path, target)
        update_manifest(year_dir, roster, entries)
        if pdf:
            register_pdfs(year_dir, [e for e in entries if e.format == "pdf"], ledger_path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return entries


def check_staff_files(roster: Roster, member_ids: Iterable[str]) -> None:
    """A member's staff list named in the roster must be there when its documents are made
    (loading the roster tolerates its absence: a verifier does not need it)."""
    missing = []
    for member_id in member_ids:
        path = roster.member(member_id).staff_file
        if path is not None and not path.is_file():
            missing.append(str(path))
    if missing:
        raise InputError(_("{path}: staff list not found").format(path=", ".join(sorted(
            missing))))


def register_pdfs(year_dir: Path, entries: list[ManifestEntry], ledger_path: Path) -> None:
    """Each new PDF of the pack in the ledger."""
    from signflow.ledger import Ledger

    with Ledger(ledger_path) as ledger:
        for entry in entries:
            path = year_dir / entry.path
            ledger.observe(path, path.read_bytes())


def convert_entries(
    year_dir: Path,
    entries: list[ManifestEntry],
    pdfa: str | None,
    workers: int | None,
    progress: ConvertProgress | None,
    roster: Roster | None = None,
) -> list[ManifestEntry]:
    """Convert the pack's .docx files to PDF beside them and create the signature fields
    (when a roster is given); raise if any failed. (The PDFs are recorded in the ledger
    where they land, by ``register_pdfs``.)"""
    from signflow.documents.convert import ConversionJob, convert_documents, raise_for_failures
    from signflow.documents.fields import prepare_fields

    docx_entries = [e for e in entries if e.format == "docx"]
    jobs = [ConversionJob(year_dir / e.path, (year_dir / e.path).with_suffix(".pdf"))
            for e in docx_entries]
    report = convert_documents(jobs, pdfa=pdfa, workers=workers, progress=progress)
    by_source = {c.source: c for c in report.converted}
    pdf_entries = []
    for entry, job in zip(docx_entries, jobs, strict=True):
        if by_source.get(job.source) is None:
            continue
        if roster is not None:
            prepare_fields(job.target, roster)
        pdf_entries.append(ManifestEntry(
            entry.kind, entry.member, job.target.relative_to(year_dir).as_posix(),
            sha256_file(job.target), "pdf", source=entry.path, department=entry.department))
    if report.failed:
        entries += pdf_entries  # keep what did convert in the manifest
        raise_for_failures(report)
    return pdf_entries


def _render_checked(roster: Roster, doc: PlannedDocument, ctx: dict[str, Any]) -> str:
    """Render, make sure every signature block it needs came out (a grid with fewer columns
    than signature_columns would silently drop members), then write atomically."""
    data = render_bytes(doc.template, ctx)
    text = docx_text(data)
    missing = [anchor(m, r) for m, r in required_signatures(doc.kind, roster, doc.member)
               if anchor(m, r) not in text]
    if missing:
        hint = ""
        if any("/" in a for a in missing):  # an internal pledge template from before
            hint = " " + _("(each department's row writes {{ d.anchor }} where its head "
                           "signs: see docs/templates.md)")
        raise TemplateError(_("{template}: signature blocks missing from the rendered document: "
                              "{anchors}").format(template=doc.template.name,
                                                  anchors=", ".join(missing)) + hint)
    return atomic_write_bytes(doc.out, data)


def _carries_signatures(pdf: Path) -> bool:
    """Cheap test: a signed PDF has a /ByteRange somewhere in it."""
    try:
        return b"/ByteRange" in pdf.read_bytes()
    except OSError:
        return False


def read_manifest(year_dir: Path) -> dict[str, Any] | None:
    path = year_dir / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(_("cannot read the manifest {path}: {reason}").format(
            path=path, reason=exc)) from None
    return value if isinstance(value, dict) else None


def update_manifest(year_dir: Path, roster: Roster, entries: list[ManifestEntry]) -> Path:
    """Merge entries into the manifest: this run's files replace earlier entries for the
    same path; earlier entries whose files still exist are kept (partial runs)."""
    old = read_manifest(year_dir) or {}
    by_path: dict[str, dict[str, Any]] = {}
    for e in old.get("documents", []):
        if isinstance(e, dict) and isinstance(e.get("path"), str):
            p = year_dir / e["path"]
            if p.is_file() and sha256_file(p) == e.get("sha256"):
                by_path[e["path"]] = e
    for entry in entries:
        by_path[entry.path] = asdict(entry)
    documents = sorted(
        by_path.values(),
        key=lambda e: (e.get("member") is not None, e.get("member") or "", e["kind"],
                       e.get("department") or "", e["format"]),
    )
    manifest = {
        "version": MANIFEST_VERSION,
        "cluster": roster.cluster.name,
        "year": roster.cluster.year,
        "roster": str(roster.path),
        "generated_at": dt.datetime.now(dt.UTC).astimezone().isoformat(timespec="seconds"),
        "documents": documents,
    }
    path = year_dir / MANIFEST_NAME
    text = json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))
    return path
