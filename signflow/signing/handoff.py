"""Hand-off through any channel: a package for one office to sign its part, and the
secretariat taking a signed copy back.

``send_package`` writes what an office needs: the current PDF, the roster without the
other members' images, the trust roots and a short instruction sheet (optionally zipped).
The office signs with ``signflow sign`` wherever it is and sends the file back by any
channel (e-mail, a document system, a USB stick).

``receive_files`` is the secretariat's side. A copy comes back from outside, so it is read
as the attacker's (docs/security.md): it is accepted only when it is a strict continuation
of the newest revision the ledger knows of that document (the same bytes, then only what
the workflow allows: a roster member's signature in its own empty field, made with the
certificate the roster expects and trusted, validation data, document timestamps), judged
from that revision even when the first signature is among the new ones. An accepted copy
is written over the secretariat's file atomically, under the document's lock, and
recorded. A copy signed on an older revision is a stale branch: refused, naming where it
forked, the signatures the newest file has that it lacks (they would be lost) and those it
adds (to be made again on the newest file); nothing is overwritten. Any other difference
is refused with its reason. The file received is never modified.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from signflow._internal.files import atomic_output, atomic_write_bytes, read_input
from signflow._internal.locks import writing
from signflow.errors import InputError, SignflowError, failure_reason
from signflow.i18n import _
from signflow.roster import ROLES, Role, Roster, load_roster
from signflow.validation.revisions import DocumentHistory, SignatureRecord
from signflow.validation.status import department_signers

__all__ = ["ReceiveOutcome", "SendPackage", "SignatureNote", "describe_outcome",
           "receive_files", "send_package"]

# a signed agreement of nine members is well under a megabyte; anything near this is not one
MAX_RECEIVED_BYTES = 200 * 1024 * 1024
INSTRUCTIONS_NAME = "HUONG-DAN.txt"
ROSTER_NAME = "roster.toml"

Result = Literal["accepted", "nothing-new", "stale", "refused", "unknown", "error"]


@dataclass(frozen=True)
class SignatureNote:
    """One signature, as messages and the ledger name it."""

    field: str
    member: str | None
    role: Role | None
    signer: str | None
    revision: int  # the number (from 1) of the revision that carries it
    is_timestamp: bool = False


@dataclass
class ReceiveOutcome:
    file: str  # the file received (never modified)
    result: Result
    document: str | None = None  # the secretariat's file of that document
    revisions: int = 0  # revisions of the file received
    newest: int = 0  # revisions of the newest file the ledger knew before
    forked_after: int | None = None  # stale: the last revision both branches share
    added: list[SignatureNote] = field(default_factory=list)  # what the file adds
    lost: list[SignatureNote] = field(default_factory=list)  # stale: would be lost
    already: list[SignatureNote] = field(default_factory=list)  # stale: the newest has them
    problems: list[str] = field(default_factory=list)
    next: list[dict[str, str]] = field(default_factory=list)  # accepted: who signs next
    complete: bool = False  # accepted: every signature is there

    @property
    def redo(self) -> list[SignatureNote]:
        """Stale: the signatures of this copy to be made again on the newest file."""
        have = {(n.member, n.role) for n in self.already}
        return [n for n in self.added if not n.is_timestamp and (n.member, n.role) not in have]

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["redo"] = [asdict(n) for n in self.redo]
        return data


# --- receive ------------------------------------------------------------------------------

def receive_files(paths: Sequence[Path], ledger: Any, roster: Roster, trust_roots: list[Any],
                  now: dt.datetime | None = None,
                  on_wait: Callable[[Path], None] | None = None) -> list[ReceiveOutcome]:
    """Receive each file in turn (two copies of one document in one call: the first one
    accepted wins, the second is judged against it). ``ledger``: the secretariat's open
    ledger; ``trust_roots``: loaded roots (who signed is judged against them)."""
    if not trust_roots:
        raise InputError(_("receiving needs the trust roots (--trust) to check who signed"))
    return [_receive_guarded(Path(p), ledger, roster, trust_roots, now, on_wait)
            for p in paths]


def _receive_guarded(path: Path, ledger: Any, roster: Roster, roots: list[Any],
                     now: dt.datetime | None,
                     on_wait: Callable[[Path], None] | None) -> ReceiveOutcome:
    try:
        return _receive(path, ledger, roster, roots, now, on_wait)
    except SignflowError as exc:
        return ReceiveOutcome(file=str(path), result="error", problems=[exc.message])


def _read_received(path: Path) -> tuple[bytes, list[int], list[str]]:
    from signflow.pdf.reader import open_reader, revision_ends

    try:
        size = path.stat().st_size
    except OSError:
        size = 0  # read_input names the problem
    if size > MAX_RECEIVED_BYTES:
        raise InputError(_("{path}: too large for a signed document ({mb} MB)").format(
            path=path, mb=size // (1024 * 1024)))
    data = read_input(path)
    try:
        ends = revision_ends(data, open_reader(data, path))
    except InputError:
        raise
    except Exception as exc:  # a hostile file: unreadable, said as such
        raise InputError(_("{path}: cannot read the PDF: {reason}").format(
            path=path, reason=failure_reason(exc))) from None
    return data, ends, [hashlib.sha256(data[:end]).hexdigest() for end in ends]


def _receive(path: Path, ledger: Any, roster: Roster, roots: list[Any],
             now: dt.datetime | None,
             on_wait: Callable[[Path], None] | None) -> ReceiveOutcome:
    data, ends, hashes = _read_received(path)
    identity = hashes[0]
    outcome = ReceiveOutcome(file=str(path), result="refused", revisions=len(ends))
    if ledger.recorded_revisions(identity) is None:
        outcome.result = "unknown"
        outcome.problems.append(_("the ledger has no record of this document: another "
                                  "document, one generated elsewhere, or a copy saved again "
                                  "by another program (which rewrites the whole file)"))
        ledger.record("receive-refused", None, {
            "file": str(path), "reason": _("not a document of this ledger"),
            "first_revision": identity})
        return outcome
    where = ledger.document_paths().get(identity)
    if where is None:
        raise InputError(_("the ledger does not say where its file of this document is; "
                           "check it with signflow log --verify"))
    pack = ledger.resolve(where)
    outcome.document = str(pack)
    with writing([pack], on_wait=on_wait):
        # read under the lock: the ledger's record and the secretariat's file as they are
        known = ledger.recorded_revisions(identity) or []
        if not known or [n for n, _s, _h in known] != list(range(1, len(known) + 1)):
            raise InputError(_("the ledger's record of {path} has gaps; check it with "
                               "signflow log --verify").format(path=pack))
        current = _current_file(pack, known, ledger)
        outcome.newest = len(known)
        shared = _shared_revisions(ends, hashes, known)
        if shared == len(known):
            if len(ends) == len(known):
                outcome.result = "nothing-new"
                return outcome
            if len(current) > known[-1][1] and not data.startswith(current):
                raise InputError(_(
                    "{path} holds revisions the ledger has not recorded, which the file "
                    "received does not have: check it with signflow status and signflow log "
                    "--verify; nothing was changed").format(path=pack))
            return _continuation(path, data, ends, hashes, pack, known, ledger, roster,
                                 roots, now, outcome)
        if shared == len(ends):
            outcome.result = "nothing-new"  # an older state of the document
            return outcome
        newest_bytes = current[:known[-1][1]]
        if data.startswith(newest_bytes):
            # the newest file's bytes, then something that does not read as revisions
            outcome.problems.append(_("after the newest revision the file holds bytes that "
                                      "are not a revision signflow can read"))
            _refused(ledger, identity, pack, path, _("not a continuation signflow accepts"),
                     outcome)
            return outcome
        return _stale(path, data, newest_bytes, shared, pack, ledger, identity, outcome)


def _current_file(pack: Path, known: list[tuple[int, int, str]], ledger: Any) -> bytes:
    """The secretariat's file, which must hold the newest revision the ledger knows (or
    more: a receive interrupted between writing the file and recording it)."""
    try:
        current = pack.read_bytes()
    except OSError:
        raise InputError(_("the secretariat's file {path} is missing or unreadable: restore "
                           "it (the ledger knows its newest revision); nothing was changed"
                           ).format(path=pack)) from None
    _number, size, sha = known[-1]
    if len(current) < size or hashlib.sha256(current[:size]).hexdigest() != sha:
        problem = None
        try:
            problem = ledger.disagreement(current)
        except Exception as exc:  # an unreadable file disagrees too
            problem = failure_reason(exc)
        raise InputError(_("the secretariat's file {path} is not the newest file the ledger "
                           "knows ({problem}); nothing was changed").format(
                               path=pack, problem=problem or _("its content differs")))
    return current


def _shared_revisions(ends: list[int], hashes: list[str],
                      known: list[tuple[int, int, str]]) -> int:
    """How many leading revisions the file shares, byte for byte, with the ledger's."""
    shared = 0
    for (_number, size, sha), end, digest in zip(known, ends, hashes, strict=False):
        if size != end or sha != digest:
            break
        shared += 1
    return shared


def _notes(history: DocumentHistory, first: int) -> list[SignatureNote]:
    """The signatures in revisions from ``first`` (counted from 0) on."""
    notes = []
    for record in history.signatures:
        if record.revision >= first:
            notes.append(_note(record))
    return notes


def _note(record: SignatureRecord) -> SignatureNote:
    try:
        signer: str | None = record.signer_name
    except Exception:  # a hostile CMS: no name to give
        signer = None
    return SignatureNote(field=record.field, member=record.member, role=record.role,
                         signer=signer, revision=record.revision + 1,
                         is_timestamp=record.is_timestamp)


def _refused(ledger: Any, identity: str, pack: Path, path: Path, reason: str,
             outcome: ReceiveOutcome, extra: dict[str, Any] | None = None) -> None:
    """Record the refusal (the event names the secretariat's file, where the document
    stays, and the file received in its details)."""
    details: dict[str, Any] = {"file": str(path), "reason": reason,
                               "revisions": outcome.revisions, **(extra or {})}
    if outcome.problems:
        details["problems"] = "; ".join(outcome.problems[:5])[:1000]
    ledger.record("receive-refused", pack, details, document=identity)


def _stale(path: Path, data: bytes, newest_bytes: bytes, shared: int, pack: Path,
           ledger: Any, identity: str, outcome: ReceiveOutcome) -> ReceiveOutcome:
    outcome.result = "stale"
    outcome.forked_after = shared
    newest = DocumentHistory(newest_bytes, pack)
    outcome.lost = _notes(newest, shared)
    try:
        outcome.added = _notes(DocumentHistory(data, path), shared)
    except Exception as exc:  # the copy's own revisions cannot be read: said, still stale
        outcome.problems.append(_("the signatures of this copy cannot be read: {reason}")
                                .format(reason=getattr(exc, "message", None)
                                        or failure_reason(exc)))
    have = {(r.member, r.role) for r in newest.signatures if not r.is_timestamp}
    outcome.already = [n for n in outcome.added
                       if not n.is_timestamp and (n.member, n.role) in have]
    _refused(ledger, identity, pack, path, _("a stale copy (signed on an older state)"),
             outcome, {"forked_after": shared, "newest": outcome.newest,
                       "lost": _ids(outcome.lost), "adds": _ids(outcome.added)})
    return outcome


def _ids(notes: list[SignatureNote]) -> str:
    return ", ".join(f"{n.member} {n.role}" if n.member else n.field for n in notes)


def _continuation(path: Path, data: bytes, ends: list[int], hashes: list[str], pack: Path,
                  known: list[tuple[int, int, str]], ledger: Any, roster: Roster,
                  roots: list[Any], now: dt.datetime | None,
                  outcome: ReceiveOutcome) -> ReceiveOutcome:
    """The file starts with the newest revision the ledger knows: judge what it adds."""
    identity = hashes[0]
    try:
        history = DocumentHistory(data, path)
        outcome.added = _notes(history, len(known))
        outcome.problems = _continuation_problems(history, len(known), ledger, roster, roots,
                                                  now)
    except InputError as exc:
        outcome.problems = [exc.message]
    except Exception as exc:  # fail closed: an error while judging is a refusal
        outcome.problems = [_("the file could not be checked: {reason}").format(
            reason=failure_reason(exc))]
    if outcome.problems:
        outcome.result = "refused"
        _refused(ledger, identity, pack, path, _("not a continuation signflow accepts"),
                 outcome)
        return outcome
    atomic_write_bytes(pack, data)
    ledger.record_received(pack, data, {
        "file": str(path), "from": len(known) + 1, "to": len(ends), "sha256": hashes[-1],
        "signed_by": _ids([n for n in outcome.added if not n.is_timestamp]),
        "timestamps": sum(1 for n in outcome.added if n.is_timestamp)})
    ledger.mark_checked(data)  # judged at least as strictly as before a signing
    from signflow.validation.status import document_status

    status = document_status(pack, roster, history=history)
    outcome.result = "accepted"
    outcome.next = status.next
    outcome.complete = status.complete
    return outcome


def _continuation_problems(history: DocumentHistory, known: int, ledger: Any,
                           roster: Roster, roots: list[Any],
                           now: dt.datetime | None) -> list[str]:
    """Why the revisions after the ``known`` first ones are not what the workflow allows
    (empty: they are)."""
    from signflow.validation.verify import VerifyPolicy, verify_file

    problems: list[str] = []
    if not history.is_signflow:
        return [_("the document has no signflow signature fields in what its first "
                  "signature covers")]
    # every revision after the newest one the ledger knows, judged against what the first
    # signature covers, or against that newest revision when nobody had signed it yet
    checked = min(ledger.checked_revisions(history.data), known)
    for revision, message in history.workflow_problems(known_good=checked, since=known - 1):
        problems.append(_("revision {n}: {problem}").format(n=revision + 1, problem=message))
    # who signed: the verifier's own checks (intact, valid, trusted, the roster's
    # certificate for that member and role, seals after heads, the roster's order)
    verdict = verify_file(Path(str(history.path)), VerifyPolicy(roster=roster, at=now),
                          roots, history=history)
    problems += [p for p in verdict.problems if p not in problems]
    from_workflow = {_("after signing, revision {n}: {problem}").format(n=r + 1, problem=m)
                     for r, m in history.workflow_problems()}
    by_field = {v.field: v for v in verdict.signatures}
    for record in history.signatures:
        if record.revision < known:
            continue
        judged = by_field.get(record.field)
        if judged is None:
            problems.append(_("the signature in {field} could not be checked").format(
                field=record.field))
            continue
        if judged.ok:
            continue
        # what the workflow found is listed once, above; the rest is about this signature
        reasons = [p for p in judged.problems if p not in from_workflow]
        if not reasons and not problems:
            reasons = [_("the signature is not valid")]
        problems += [_("{field} ({signer}): {problem}").format(
            field=record.field, signer=judged.signer or "?", problem=p) for p in reasons]
    return problems


def describe_outcome(outcome: ReceiveOutcome, roster: Roster | None) -> list[str]:
    """What ``signflow receive`` says about one file, in the user's language."""
    doc = outcome.document or "?"
    if outcome.result == "accepted":
        lines = [_("{file}: accepted: revisions {first}-{last} written to {document}").format(
            file=outcome.file, first=outcome.newest + 1, last=outcome.revisions,
            document=doc)]
        signed = [n for n in outcome.added if not n.is_timestamp]
        if signed:
            lines.append("  " + _("signed: {names}").format(names=_names(signed, roster)))
        stamps = len(outcome.added) - len(signed)
        if stamps:
            lines.append("  " + _("document timestamps: {n}").format(n=stamps))
        if outcome.complete:
            lines.append("  " + _("every signature is there: the document is complete "
                                  "(next: signflow archive)"))
        elif outcome.next:
            lines.append("  " + _("next: {who}").format(who=_next(outcome.next, roster)))
        return lines
    if outcome.result == "nothing-new":
        if outcome.revisions == outcome.newest:
            return [_("{file}: nothing new: it is the newest file the ledger knows of {document}"
                      " ({n} revisions)").format(file=outcome.file, document=doc,
                                                 n=outcome.newest)]
        return [_("{file}: nothing new: an older state of {document} (revision {n} of "
                  "{newest})").format(file=outcome.file, document=doc, n=outcome.revisions,
                                      newest=outcome.newest)]
    if outcome.result == "stale":
        fork = outcome.forked_after or 0
        lines = [
            _("{file}: REFUSED: a stale copy, signed on an older state of {document}: the two "
              "branches split after revision {n}").format(file=outcome.file, document=doc,
                                                          n=fork),
            "  " + _("the newest file ({document}), revisions {first}-{last}: {names}").format(
                document=doc, first=fork + 1, last=outcome.newest,
                names=_names(outcome.lost, roster)),
            "  " + _("this copy, revisions {first}-{last}: {names}").format(
                first=fork + 1, last=outcome.revisions, names=_names(outcome.added, roster)),
        ]
        lost = [n for n in outcome.lost if not n.is_timestamp]
        if lost:
            lines.append("  " + _("accepting it would lose the signatures of: {names}").format(
                names=_names(lost, roster)))
        if outcome.redo:
            lines.append("  " + _("to be signed again on the newest file: {names}").format(
                names=_names(outcome.redo, roster)))
        if outcome.already:
            lines.append("  " + _("already on the newest file: {names}").format(
                names=_names(outcome.already, roster)))
        lines += ["  " + p for p in outcome.problems]
        lines.append("  " + _("nothing was overwritten: send the newest file to be signed"))
        return lines
    if outcome.result == "unknown":
        return [_("{file}: REFUSED: {reason}").format(
            file=outcome.file, reason=outcome.problems[0] if outcome.problems else "?")]
    if outcome.result == "error":
        return [_("{file}: could not be received: {reason}").format(
            file=outcome.file, reason="; ".join(outcome.problems) or "?")]
    shown = outcome.problems[:8]
    lines = [_("{file}: REFUSED: not a continuation signflow accepts of {document}; nothing "
               "was overwritten").format(file=outcome.file, document=doc)]
    lines += ["  - " + p for p in shown]
    if len(outcome.problems) > len(shown):
        lines.append("  " + _("(and {n} more)").format(n=len(outcome.problems) - len(shown)))
    return lines


def _role_word(role: str | None) -> str:
    return _("head") if role == "head" else _("seal") if role == "seal" else "?"


def _name(note: SignatureNote, roster: Roster | None) -> str:
    if note.is_timestamp:
        return _("document timestamp")
    place = note.member or note.field
    if note.member and roster is not None and roster.has_member(note.member):
        place = roster.member(note.member).where
    text = f"{place} ({_role_word(note.role)})"
    return f"{text}, {note.signer}" if note.signer else text


def _names(notes: list[SignatureNote], roster: Roster | None) -> str:
    return "; ".join(_name(n, roster) for n in notes) or _("none")


def _next(steps: list[dict[str, str]], roster: Roster | None) -> str:
    def place(member: str) -> str:
        if roster is not None and roster.has_member(member):
            return roster.member(member).where
        return member

    parts = []
    for role, words in (("head", _("heads sign: {names}")), ("seal", _("seals: {names}"))):
        names = [place(s["member"]) for s in steps if s.get("role") == role]
        if names:
            parts.append(words.format(names=", ".join(names)))
    return "; ".join(parts)


# --- send ---------------------------------------------------------------------------------

@dataclass
class SendPackage:
    folder: Path
    pdf: Path
    roster: Path
    instructions: Path
    trust: list[Path] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)
    zip: Path | None = None
    member: str = ""
    roles: list[Role] = field(default_factory=list)  # what is left for the member to sign
    # its department heads who still sign before its head ("<member>/<department>")
    departments: list[str] = field(default_factory=list)
    revisions: int = 0
    sha256: str = ""


def send_package(pdf: Path, roster_path: Path, member_id: str, out: Path,
                 trust_roots: Sequence[Path] = (), tsa_url: str | None = None,
                 ledger: Any = None, make_zip: bool = False,
                 contact: str | None = None) -> SendPackage:
    """Write into ``out`` what ``member_id`` needs to sign its part of ``pdf``: the PDF,
    the roster with only this member's images (copied along), the trust roots and an
    instruction sheet; ``make_zip``: also ``<out>.zip``. With ``ledger``, the PDF must be
    the newest file the ledger knows of its document (an older one would come back as a
    stale branch), and the sending is recorded."""
    from signflow.pdf.reader import revision_ends

    roster = load_roster(roster_path)
    member = roster.member(member_id)
    data = read_input(pdf)
    history = DocumentHistory(data, pdf)
    if history.fields_revision is None:
        raise InputError(_("{path}: the document has no signflow signature fields (run "
                           "`signflow prepare`)").format(path=pdf))
    roles: list[Role] = [r for r in ROLES if (member.id, r) in history.our_fields
                         and not history.fields.get(history.our_fields[(member.id, r)])]
    departments = department_signers(history, member.id, roster, unsigned=True)
    if not any((member.id, r) in history.our_fields for r in ROLES):
        raise InputError(_("{path}: the document has no signature field for {member}").format(
            path=pdf, member=member.id))
    if not roles and not departments:
        raise InputError(_("{path}: {member} has signed everything it has to sign on this "
                           "document").format(path=pdf, member=member.id))
    ends = revision_ends(data, history.reader)
    identity = hashlib.sha256(data[:ends[0]]).hexdigest()
    if ledger is not None:
        problem = ledger.disagreement(data)
        if problem is not None:
            raise InputError(_("{path} is not the newest file the ledger knows of this "
                               "document ({problem}): send the newest one").format(
                                   path=pdf, problem=problem))
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        package = SendPackage(folder=out, pdf=out / pdf.name, roster=out / ROSTER_NAME,
                              instructions=out / INSTRUCTIONS_NAME, member=member.id,
                              roles=roles, departments=departments, revisions=len(ends),
                              sha256=hashlib.sha256(data).hexdigest())
        atomic_write_bytes(package.pdf, data)
        package.images = _write_roster(roster, member.id, package.roster)
        for index, root in enumerate(trust_roots):
            name = Path(root).name if index == 0 else f"{index + 1}-{Path(root).name}"
            target = out / "trust" / name
            atomic_write_bytes(target, read_input(Path(root)))
            package.trust.append(target)
        text = instructions(roster, member.id, history, package, tsa_url, contact)
        atomic_write_bytes(package.instructions, text.encode("utf-8"))
        if make_zip:
            package.zip = _zip(package)
    except OSError as exc:
        from signflow.errors import os_error_message

        raise InputError(_("{path}: cannot write the package: {reason}").format(
            path=out, reason=os_error_message(exc, with_path=False))) from None
    if ledger is not None:
        ledger.record("sent", None, {"member": member.id, "revisions": len(ends),
                                     "folder": str(out), "file": str(pdf)},
                      document=identity)
    return package


def _write_roster(roster: Roster, member_id: str, target: Path) -> list[Path]:
    """The roster as its file says it (comments kept), without the other members' images;
    this member's own images copied beside it. Returns the images copied."""
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    from signflow._internal.structured import parse_text
    from signflow.roster import parse_roster

    source = roster.path
    try:
        doc = tomlkit.parse(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, TOMLKitError) as exc:
        raise InputError(_("{path}: {reason}").format(path=source, reason=exc)) from None
    copied: list[Path] = []
    for entry in doc.get("members", []):
        own = str(entry.get("id", "")).strip() == member_id
        for key in ("staff", "staff_file"):  # the offices' staff lists: not needed to sign
            if key in entry:
                del entry[key]
        for key in ("signature_image", "seal_image"):
            if key not in entry:
                continue
            if not own:
                del entry[key]
                continue
            value = str(entry[key])
            image = Path(value) if Path(value).is_absolute() else source.parent / value
            relative = PurePosixPath(value.replace("\\", "/"))
            if relative.is_absolute() or ".." in relative.parts or ":" in value:
                relative = PurePosixPath("images") / image.name
                entry[key] = str(relative)
            if not image.is_file():  # the office could not sign with it: said now
                raise InputError(_("{path}: the image {key} of {member} named in the roster "
                                   "is not there").format(path=image, key=key,
                                                         member=member_id))
            destination = target.parent / Path(*relative.parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(image, destination)
            copied.append(destination)
    text = tomlkit.dumps(doc)
    parse_roster(parse_text(text, target), target)  # the copy loads, or nothing is written
    atomic_write_bytes(target, text.encode("utf-8"))
    return copied


def _zip(package: SendPackage) -> Path:
    import zipfile

    target = package.folder.parent / f"{package.folder.name}.zip"
    files = [package.pdf, package.roster, package.instructions, *package.images,
             *package.trust]
    with atomic_output(target) as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in files:
            zf.write(path, (Path(package.folder.name) / path.relative_to(package.folder))
                     .as_posix())
    return target


def instructions(roster: Roster, member_id: str, history: DocumentHistory,
                 package: SendPackage, tsa_url: str | None, contact: str | None) -> str:
    """The instruction sheet: what to sign, the command lines, what to send back, to whom,
    and that the file must not be edited or saved again by another program."""
    member = roster.member(member_id)
    leader = roster.member(roster.cluster.leader) if roster.has_member(
        roster.cluster.leader) else None
    secretariat = _("the cluster's secretariat ({unit})").format(
        unit=leader.unit if leader else roster.cluster.name)
    name = package.pdf.name
    level = f" --level B-T --tsa {tsa_url}" if tsa_url else ""
    key = _("--pkcs11-lib TOKEN-LIBRARY")
    lines = [
        _("SIGNING INSTRUCTIONS"),
        f"{roster.cluster.full_name}",
        "",
        _("For: {unit} ({member})").format(unit=member.unit, member=member.id),
        _("Document to sign: {name}").format(name=name),
        _("File sent: {n} revisions, SHA-256 {sha}").format(n=package.revisions,
                                                            sha=package.sha256),
        "",
        _("1. What to sign"),
    ]
    for signer in package.departments:
        department = roster.member(signer)
        lines.append("   - " + _("the signature of {title} {name} ({department}), before the "
                                 "head's").format(title=department.head.title,
                                                  name=department.head.name,
                                                  department=department.department_name))
    if "head" in package.roles:
        lines.append("   - " + _("the signature of {title} {name} (the head's own digital "
                                 "signature), first").format(title=member.head.title,
                                                            name=member.head.name))
    if "seal" in package.roles:
        lines.append("   - " + _("the seal of {unit} (the organisation's digital signature, "
                                 "applied by the clerical office after the head has "
                                 "signed)").format(unit=member.unit))
    lines += ["", _("2. How to sign (in this folder, with signflow installed)")]
    for signer in package.departments:
        lines.append(f'   signflow sign "{name}" --roster {ROSTER_NAME} --member {signer} '
                     f"--role head {key}{level}")
    for role in package.roles:
        lines.append(f'   signflow sign "{name}" --roster {ROSTER_NAME} --member {member.id} '
                     f"--role {role} {key}{level}")
    lines += [
        "   " + _("TOKEN-LIBRARY: the PKCS#11 library of the token's provider (on Windows "
                  "e.g. C:\\Windows\\System32\\<provider>.dll); with a key file instead: "
                  "--pkcs12 FILE.p12. The PIN is asked for, never written on the command "
                  "line."),
    ]
    if package.trust:
        roots = " ".join(f"--trust {p.relative_to(package.folder).as_posix()}"
                         for p in package.trust)
        lines += ["   " + _("To check the file after signing:"),
                  f'   signflow verify "{name}" --roster {ROSTER_NAME} {roots}']
    lines += [
        "",
        _("3. What to send back"),
        "   " + _("Send the signed file {name} itself back to {secretariat}, by any channel "
                  "(e-mail, the document system, a USB stick).").format(
                      name=name, secretariat=secretariat),
    ]
    if contact:
        lines.append("   " + _("Contact: {contact}").format(contact=contact))
    lines += [
        "",
        _("4. Important"),
        "   - " + _("Do not edit the file, and do not open and save it again in another "
                    "program (Word, a PDF reader, \"print to PDF\"): any change other than "
                    "the digital signatures makes the secretariat refuse it."),
        "   - " + _("Sign this file, not an older copy: a file signed on an older copy is "
                    "refused and has to be signed again."),
        "   - " + _("If the secretariat sends a newer file, sign the newer one."),
        "",
    ]
    # Windows line ends and a byte order mark: Notepad shows the Vietnamese as it is
    return "\ufeff" + "\r\n".join(lines)
