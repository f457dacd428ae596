"""What the agent does with documents, through the library only: keep an opened PDF in the
work folder, say who signs where, find the keys on the tokens plugged in, sign one field
with a PIN typed in the agent's own page, check the signed file the way `signflow verify`
does, and draw the pages.

Nothing here knows about HTTP; the pages (``signflow.agent.pages``) and the local API
(``signflow.agent.api``) call these functions in worker threads. One token operation runs
at a time (``TOKEN_LOCK``): the PKCS#11 module is shared by the whole process, and listing
the tokens again re-initialises it.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import shutil
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from signflow.errors import InputError, SignflowError, SigningError
from signflow.i18n import _, date_text, time_text
from signflow.pdf.anchors import field_name, parse_field_name
from signflow.roster import Member, Role, Roster

if TYPE_CHECKING:
    from signflow.agent.config import AgentConfig
    from signflow.validation.verdicts import FileVerdict, SignatureVerdict

TOKEN_LOCK = threading.Lock()
PAGE_WIDTH_PX = 900  # page images: wide enough to read the names under the signatures
REPORT_NAME = "bien-ban-xac-minh.html"


def new_id() -> str:
    """An identifier nobody can guess (documents, requests, results)."""
    return secrets.token_urlsafe(12)


def role_label(role: str) -> str:
    """What a field is for, as a label: the head's signature, or the organisation's seal."""
    return _("head's signature") if role == "head" else _("organisation's seal")


# --- documents ------------------------------------------------------------------------------


@dataclass
class SignResult:
    """One signature made by the agent, and what the check of the signed file found."""

    id: str
    member: str
    role: Role
    signer: str  # common name of the certificate that signed
    when: dt.datetime
    verdict: FileVerdict
    accepted: bool  # the file passed every check: it may be shown as signed and returned
    problems: list[str]  # why it was not accepted
    sha256: str  # of the signed file as checked (a different file is never returned)
    report: Path
    notes: list[str] = field(default_factory=list)

    @property
    def signature(self) -> SignatureVerdict | None:
        return new_signature(self.verdict, self.member, self.role)


@dataclass
class OpenDocument:
    id: str
    name: str  # the file's own name, shown to people
    path: Path  # the copy in the work folder, signed in place
    source: str  # "" for a file opened in the agent's page, else the portal's origin
    opened: dt.datetime
    results: list[SignResult] = field(default_factory=list)

    @property
    def folder(self) -> Path:
        return self.path.parent


def safe_name(name: str) -> str:
    """A file name for the work folder and for downloads: the last part of what the
    browser sent, letters (Vietnamese too), digits, '.', '-' and '_' only, ending in .pdf."""
    base = re.split(r"[\\/]", name or "")[-1]
    stem = base[:-4] if base.lower().endswith(".pdf") else base
    stem = re.sub(r"[^\w.-]+", "-", stem, flags=re.UNICODE).strip(".-_")[:80]
    return f"{stem or 'tai-lieu'}.pdf"


def store_document(work: Path, data: bytes, name: str, source: str,
                   max_bytes: int) -> OpenDocument:
    """Keep ``data`` in a folder of its own under ``work`` and read it the way signing and
    verification do: a file that is too large, not a PDF or unreadable is an InputError and
    nothing is kept."""
    from signflow._internal.files import atomic_write_bytes
    from signflow.validation.revisions import DocumentHistory

    if len(data) > max_bytes:
        raise InputError(_("the file is too large ({size} MB; at most {limit} MB)").format(
            size=len(data) // (1024 * 1024), limit=max_bytes // (1024 * 1024)))
    shown = safe_name(name)
    history = DocumentHistory(data, shown)  # InputError: not a PDF, encrypted, unreadable
    if not history.our_fields:
        raise InputError(_("{name} has no signature fields of signflow: open the PDF that "
                           "signflow generate or prepare made").format(name=shown))
    doc_id = new_id()
    folder = work / "documents" / doc_id
    folder.mkdir(parents=True, exist_ok=False)
    try:
        atomic_write_bytes(folder / shown, data)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return OpenDocument(id=doc_id, name=shown, path=folder / shown, source=source,
                        opened=dt.datetime.now(dt.UTC))


@dataclass(frozen=True)
class FieldView:
    """One signature field: where it is and who signs it."""

    number: int
    field: str
    member: str
    role: Role
    unit: str
    expected: str  # who must sign: the head (name, title) or the unit's seal
    signed: bool
    signer: str | None
    time: str | None
    state: str  # "signed" | "next" | "waiting"
    page: int | None  # 0-based
    # left, top, width, height in points from the page's top left corner
    box: tuple[float, float, float, float] | None

    @property
    def role_text(self) -> str:
        return role_label(self.role)


@dataclass
class DocumentView:
    doc: OpenDocument
    pages: int = 0
    sizes: list[tuple[float, float]] = field(default_factory=list)  # points, each page
    fields: list[FieldView] = field(default_factory=list)
    error: str | None = None

    @property
    def signed(self) -> int:
        return sum(1 for f in self.fields if f.signed)

    @property
    def complete(self) -> bool:
        return bool(self.fields) and all(f.signed for f in self.fields)

    @property
    def next(self) -> list[FieldView]:
        return [f for f in self.fields if f.state == "next"]

    def on_page(self, page: int) -> list[FieldView]:
        return [f for f in self.fields if f.page == page and f.box is not None]

    def field(self, name: str) -> FieldView | None:
        return next((f for f in self.fields if f.field == name), None)


def expected_signer(member: Member | None, member_id: str, role: str) -> str:
    if member is None:
        return member_id
    if role == "head" and member.department_name:
        return f"{member.head.name}, {member.head.title} - {member.department_name}"
    if role == "head":
        return f"{member.head.name}, {member.head.title}"
    return _("Seal of {unit}").format(unit=member.unit)


def describe(doc: OpenDocument, roster: Roster) -> DocumentView:
    """Who signs where in ``doc`` now, read from the file itself."""
    from signflow.validation.revisions import read_history
    from signflow.validation.status import document_status

    view = DocumentView(doc)
    try:
        history = read_history(doc.path)
        status = document_status(doc.path, roster, history=history)
        shape = history.shape(history.total_revisions - 1)
    except SignflowError as exc:
        view.error = exc.message
        return view
    view.pages = len(shape.boxes)
    view.sizes = [(max(1.0, b[2] - b[0]), max(1.0, b[3] - b[1])) for b in shape.boxes]
    upcoming = {(n["member"], n["role"]) for n in status.next}
    for number, item in enumerate(status.fields, 1):
        member = roster.member(item.member) if roster.has_member(item.member) else None
        placed = shape.fields.get(item.field)
        box = None
        page = placed.page if placed is not None else None
        if placed is not None and placed.rect is not None and page is not None \
                and 0 <= page < len(shape.boxes):
            x0, _y0, _x1, y1 = shape.boxes[page]
            left, bottom, right, top = placed.rect
            box = (left - x0, y1 - top, right - left, top - bottom)
        state = "signed" if item.signed else (
            "next" if (item.member, item.role) in upcoming else "waiting")
        view.fields.append(FieldView(
            number=number, field=item.field, member=item.member, role=item.role,
            unit=member.unit if member else item.member,
            expected=expected_signer(member, item.member, item.role),
            signed=item.signed, signer=item.signer,
            time=time_text(item.time) if item.time else None, state=state,
            page=page, box=box))
    return view


def resolve_field(view: DocumentView, field: str | None, member: str | None,
                  role: str | None) -> FieldView:
    """The field a request names (by its name, or by member and role), which must be
    the document's, empty, and allowed now; an InputError saying which is not."""
    if not field:
        if not member or role not in ("head", "seal"):
            raise InputError(_("name the field, or the member and the role (head or seal)"))
        field = field_name(member, role)  # type: ignore[arg-type]
    if parse_field_name(field) is None:
        raise InputError(_("{field} is not a signature field of signflow").format(field=field))
    found = view.field(field)
    if found is None:
        raise InputError(_("the document has no field {field}").format(field=field))
    if found.signed:
        raise InputError(_("{who} has already signed this document").format(
            who=found.expected))
    if found.state != "next":
        raise InputError(_("it is not yet the turn of {who}: {reason}").format(
            who=found.expected, reason=_("the seal comes after the head's signature")
            if found.role == "seal" else _("the departments sign before the head")
            if any(f.member.startswith(found.member + "/") and not f.signed
                   for f in view.fields)
            else _("the roster's order says who signs first")))
    return found


# --- keys on the tokens ---------------------------------------------------------------------


@dataclass(frozen=True)
class KeyChoice:
    """A key on a plugged-in token whose certificate is the one the roster expects."""

    module: str
    slot: int
    token_label: str
    token_serial: str
    key_id: bytes
    name: str  # the certificate's common name
    subject: str
    valid_until: str
    sha256: str

    @property
    def token_text(self) -> str:
        return _("token «{token}», serial {serial}").format(token=self.token_label,
                                                           serial=self.token_serial or "-")


@dataclass
class KeySearch:
    keys: list[KeyChoice] = field(default_factory=list)
    others: list[str] = field(default_factory=list)  # certificates there, of someone else
    tokens: int = 0
    problems: list[str] = field(default_factory=list)  # modules missing or failing


def find_keys(modules: tuple[str, ...] | list[str], member: Member, role: Role,
              organisation_attribute: str = "O", rescan: bool = True) -> KeySearch:
    """The keys of ``member``'s ``role`` on every token the modules reach, found by their
    certificates (public objects: no PIN). ``rescan``: look for tokens plugged in since
    the last look (the module is initialised again; nobody is signing meanwhile)."""
    from signflow.identity import cert_sha256, common_name, match_certificate
    from signflow.signing.tokens import inventory

    search = KeySearch()
    if not modules:
        search.problems.append(_("no PKCS#11 module is configured: set pkcs11 = [\"...\"] in "
                                 "the agent's settings (the token software's module)"))
    with TOKEN_LOCK:
        for module in modules:
            if not Path(module).is_file():
                search.problems.append(_("PKCS#11 module not found: {path}").format(
                    path=module))
                continue
            try:
                found = inventory(module, rescan=rescan)
            except SignflowError as exc:
                search.problems.append(exc.message)
                continue
            search.tokens += len(found.slots)
            for cert in found.certificates:
                if match_certificate(cert.cert, member, role, organisation_attribute).matches:
                    if cert.key_id is None:
                        continue
                    search.keys.append(KeyChoice(
                        module=module, slot=cert.slot, token_label=cert.token_label,
                        token_serial=cert.token_serial, key_id=cert.key_id,
                        name=common_name(cert.cert), subject=cert.subject,
                        valid_until=date_text(cert.valid[1]), sha256=cert_sha256(cert.cert)))
                else:
                    search.others.append(cert.describe())
    return search


# --- signing --------------------------------------------------------------------------------


def sign_field(config: AgentConfig, roster: Roster, doc: OpenDocument, field: str,
               key: KeyChoice, pin: str) -> SignResult:
    """Sign ``field`` of ``doc`` with ``key``, logging in with ``pin`` (used for this login
    only: never stored, logged or shown), then check the signed file.

    Every check of `signflow sign` runs first (a refusal leaves the file unchanged: a
    SigningError saying why); the signature goes into the ledger of the work folder."""
    from signflow.identity import cert_sha256, common_name
    from signflow.ledger import Ledger
    from signflow.signing.credentials import open_pkcs11
    from signflow.signing.signer import SignSettings, sign_documents

    parsed = parse_field_name(field)
    if parsed is None:
        raise InputError(_("{field} is not a signature field of signflow").format(field=field))
    member_id, role = parsed
    settings = SignSettings(level=config.pades_level,  # type: ignore[arg-type]
                            tsa_url=config.tsa, trust_roots=config.trust)
    notes: list[str] = []
    with TOKEN_LOCK:
        with open_pkcs11(key.module, token_label=key.token_label, slot=key.slot,
                         key_id=key.key_id, pin=pin) as credential:
            if cert_sha256(credential.cert) != key.sha256:
                raise SigningError(_("the key on the token is not the one chosen (the token "
                                     "was changed?): choose the key again"))
            signer = common_name(credential.cert)
            with Ledger(config.ledger_path) as ledger:
                sign_documents([doc.path], roster, member_id, role, credential, settings,
                               ledger=ledger)
                if config.tsa:
                    notes += _anchor(ledger, config.tsa)
        # checked under the same lock (no other signing of the agent's in between), and
        # the file's hash taken on both sides of the check: what is returned later must
        # be exactly the file that was checked
        before = _sha256(doc.path)
        verdict, accepted, problems = check_signed(doc.path, config, roster, member_id, role)
        if _sha256(doc.path) != before:
            accepted = False
            problems.append(_("the file changed while it was checked"))
    result = SignResult(id=new_id(), member=member_id, role=role, signer=signer,
                        when=dt.datetime.now(dt.UTC), verdict=verdict, accepted=accepted,
                        problems=problems, sha256=before,
                        report=doc.folder / REPORT_NAME, notes=notes)
    write_report(result, doc, roster, config)
    doc.results.append(result)
    return result


def _anchor(ledger: Any, tsa: str) -> list[str]:
    """Timestamp the ledger's head after the signing; a failure is a note, not an undo."""
    from signflow.signing.timestamps import tsa_stamp

    try:
        ledger.anchor(tsa, tsa_stamp(tsa))
    except Exception as exc:  # noqa: BLE001 - the signature stands; the audit will say it
        from signflow.errors import failure_reason

        reason = exc.message if isinstance(exc, SignflowError) else failure_reason(exc)
        return [_("the ledger could not be timestamped: {reason}").format(reason=reason)]
    return []


def new_signature(verdict: FileVerdict, member: str, role: str) -> SignatureVerdict | None:
    found = [s for s in verdict.signatures
             if s.member == member and s.role == role and not s.is_timestamp]
    return found[-1] if found else None


def check_signed(path: Path, config: AgentConfig, roster: Roster, member: str,
                 role: str) -> tuple[FileVerdict, bool, list[str]]:
    """The signed file judged as `signflow verify --roster` judges it, fail closed: it is
    accepted only when the new signature and every other one are ok (intact, trusted,
    the signer the roster's, nothing changed after them) and the file has no problem. A
    document still waiting for other members is accepted (it is not complete yet)."""
    from signflow.validation.verify import VerifyPolicy, verify_file

    verdict = verify_file(path, VerifyPolicy(trust_roots=config.trust, roster=roster))
    problems = list(verdict.problems)
    if not verdict.readable:
        return verdict, False, problems or [_("the signed file cannot be read")]
    mine = new_signature(verdict, member, role)
    if mine is None:
        problems.append(_("the new signature is not in the file"))
    for signature in verdict.signatures:
        if not signature.ok:
            who = signature.signer or signature.field
            problems += [f"{who}: {p}" for p in signature.problems] or [
                _("{who}: the signature is not valid").format(who=who)]
    return verdict, not problems, problems


def write_report(result: SignResult, doc: OpenDocument, roster: Roster,
                 config: AgentConfig) -> None:
    from signflow._internal.files import atomic_write_bytes
    from signflow.output.report import render_html

    html = render_html([result.verdict], title=doc.name, roster_name=roster.cluster.name,
                       trust_roots=[str(t) for t in config.trust])
    atomic_write_bytes(result.report, html.encode("utf-8"))


def _sha256(path: Path) -> str:
    from signflow._internal.files import sha256_file

    return sha256_file(path)


def signed_bytes(doc: OpenDocument, result: SignResult) -> bytes:
    """The signed file, only if it is the one that was checked and accepted."""
    import hashlib

    if not result.accepted:
        raise InputError(_("the signed file did not pass the checks: it is not returned"))
    data = doc.path.read_bytes()
    if hashlib.sha256(data).hexdigest() != result.sha256:
        raise InputError(_("the file changed since it was checked: it is not returned"))
    return data


# --- pages as images ------------------------------------------------------------------------

_PAGES: OrderedDict[tuple[str, int, int, int], bytes] = OrderedDict()
_PAGES_LOCK = threading.Lock()
_PAGES_KEPT = 64


def page_png(path: Path, index: int, width: int = PAGE_WIDTH_PX) -> bytes:
    """Page ``index`` (0-based) of the PDF as a PNG ``width`` pixels wide (pdfium, under
    its lock); an InputError for a page that is not there."""
    import io

    import pypdfium2

    from signflow._internal.pdfium import PDFIUM_LOCK

    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size, index)
    with _PAGES_LOCK:
        if key in _PAGES:
            _PAGES.move_to_end(key)
            return _PAGES[key]
    with PDFIUM_LOCK:
        try:
            pdf = pypdfium2.PdfDocument(str(path))
        except pypdfium2.PdfiumError as exc:
            raise InputError(_("{path}: cannot read the PDF: {reason}").format(
                path=path.name, reason=exc)) from None
        try:
            # the signatures' appearances are widgets: drawn only with the form environment
            pdf.init_forms()
            if not 0 <= index < len(pdf):
                raise InputError(_("the document has no page {n}").format(n=index + 1))
            page = pdf[index]
            scale = width / max(1.0, page.get_width())
            image = page.render(scale=min(scale, 4.0), may_draw_forms=True).to_pil()
            page.close()
        finally:
            pdf.close()
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    png = out.getvalue()
    with _PAGES_LOCK:
        _PAGES[key] = png
        while len(_PAGES) > _PAGES_KEPT:
            _PAGES.popitem(last=False)
    return png
