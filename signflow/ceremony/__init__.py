"""The signing ceremony: the heads of a cluster sign one agreement in turn, in one room, on
one computer, each with their own USB token; each member's clerical office seals right
after its head.

This module is the ceremony's logic without a screen: who is asked next, which of the
tokens plugged in holds the key of someone who may sign now, signing with it, what went
wrong in words people understand, who left the room (skipped, asked again at the end),
and the closing steps (archive at PAdES B-LTA, the verification report). The terminal
(`signflow ceremony`) and the agent's page drive it and show what it says.

Tokens are found by polling the PKCS#11 module(s): the certificates on them are public,
so a token plugged in is recognised (and its owner named) before anyone types a PIN.
Every step is recorded in the ledger beside the signatures themselves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from signflow.errors import InputError, SignflowError, SigningError
from signflow.i18n import _
from signflow.identity import match_certificate
from signflow.roster import ROLES, Member, Role, Roster, is_department, member_of


@dataclass(frozen=True)
class Turn:
    """One signature the ceremony waits for."""

    member: Member
    role: Role

    @property
    def key(self) -> tuple[str, Role]:
        return (self.member.id, self.role)

    def invitation(self) -> str:
        """What is said to the room when it is this person's turn."""
        if self.role == "head" and self.member.department_name:
            return _("Will {name}, {title} of {department} ({unit}), please plug in the "
                     "signing token").format(name=self.member.head.name,
                                             title=self.member.head.title,
                                             department=self.member.department_name,
                                             unit=self.member.unit)
        if self.role == "head":
            return _("Will {name}, {title} of {place}, please plug in the signing token"
                     ).format(name=self.member.head.name, title=self.member.head.title,
                              place=self.member.locality_name)
        return _("Will the clerical office of {unit} please plug in the organisation's token "
                 "to apply the seal").format(unit=self.member.unit)

    @property
    def who(self) -> str:
        return self.member.head.name if self.role == "head" else self.member.unit


@dataclass(frozen=True)
class FoundKey:
    """A key on a plugged-in token that belongs to someone who may sign now."""

    turn: Turn
    module: str
    token_label: str
    token_serial: str
    key_id: bytes


@dataclass
class CeremonyOutcome:
    signed: list[tuple[str, Role]] = field(default_factory=list)
    skipped: list[tuple[str, Role]] = field(default_factory=list)
    archived: bool = False
    report: Path | None = None
    complete: bool = False
    images: list[Path] = field(default_factory=list)
    verdict: Any = None  # the verification at the end (a FileVerdict)


class Ceremony:
    """The state of one ceremony on one document."""

    def __init__(self, pdf: Path, roster: Roster, modules: Sequence[str | Path],
                 settings: Any = None, ledger: Any = None,
                 images_dir: Path | None = None) -> None:
        from signflow.signing.signer import SignSettings

        self.pdf = Path(pdf)
        self.roster = roster
        self.modules = [str(m) for m in modules]
        if not self.modules:
            raise InputError(_("name the PKCS#11 module of the tokens: --pkcs11-lib"))
        self.settings = settings or SignSettings()
        self.ledger = ledger
        self.images_dir = images_dir
        self.outcome = CeremonyOutcome()
        self._skipped: list[tuple[str, Role]] = []
        self._status_cache: tuple[tuple[int, int, int], Any] | None = None
        self._record("ceremony-started", {"signatures": len(self.pending())})

    # --- who signs ----------------------------------------------------------------------

    def pending(self) -> list[Turn]:
        """Every signature still missing, in the roster's order, a member's departments
        before its head, each seal right after its head; who left the room comes last."""
        status = self._status()
        if status.error:
            raise InputError(status.error)
        unsigned = {(f.member, f.role) for f in status.fields if not f.signed}
        if not status.fields:
            raise InputError(_("{path} has no signature fields of this roster").format(
                path=self.pdf))
        order = self.signature_keys()
        todo = [k for k in order if k in unsigned and k not in self._skipped]
        todo += [k for k in self._skipped if k in unsigned]
        return [Turn(self.roster.member(member), role) for member, role in todo]

    def signature_keys(self) -> list[tuple[str, Role]]:
        """Every signature the document has a field for, in the ceremony's order: the
        roster's members, a member's departments before its head, the seal after it."""
        fields = self._status().fields
        return sorted({(f.member, f.role) for f in fields}, key=lambda k: (
            self.roster.order_key(k[0]), ROLES.index(k[1])))

    def _status(self) -> Any:
        """The document's signing status, read again only when the file changed (the
        order rules and a page polling every second ask for it many times)."""
        from signflow.validation.status import document_status

        stat = self.pdf.stat()
        seen = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if self._status_cache is None or self._status_cache[0] != seen:
            self._status_cache = (seen, document_status(self.pdf, self.roster))
        return self._status_cache[1]

    def allowed(self, turn: Turn) -> bool:
        """The order rules: a seal only after its own head (Decree 30/2020, Art. 32); with
        signing_order = "roster", heads strictly in the roster's order."""
        missing = {t.key for t in self.pending()}
        if turn.role == "seal":
            return (turn.member.id, "head") not in missing
        if turn.member.is_department:  # any order, before the member's head
            return True
        if any(is_department(m) and member_of(m) == turn.member.id for m, _r in missing):
            return False
        if self.roster.cluster.signing_order == "roster":
            for member in self.roster.members:
                if member.id == turn.member.id:
                    return True
                if (member.id, "head") in missing:
                    return False
        return True

    def next_turn(self) -> Turn | None:
        """Who is asked now: the first pending signature the order rules allow."""
        for turn in self.pending():
            if self.allowed(turn):
                return turn
        return None

    def skip(self, turn: Turn) -> None:
        """The person left the room: asked again after everyone else."""
        if turn.key in self._skipped:
            self._skipped.remove(turn.key)
        self._skipped.append(turn.key)
        if turn.key not in self.outcome.skipped:
            self.outcome.skipped.append(turn.key)
        self._record("ceremony-skipped", {"member": turn.member.id, "role": turn.role})

    # --- tokens -------------------------------------------------------------------------

    def find_key(self, rescan: bool = True) -> FoundKey | None:
        """A key on the tokens plugged in now that belongs to someone who may sign now;
        the person asked first wins over others who happen to be plugged in."""
        from signflow.signing.tokens import inventory

        candidates = [t for t in self.pending() if self.allowed(t)]
        if not candidates:
            return None
        attribute = self.roster.cluster.organisation_attribute
        for module in self.modules:
            found = inventory(module, rescan=rescan)
            for turn in candidates:
                for cert in found.certificates:
                    if cert.key_id and match_certificate(cert.cert, turn.member, turn.role,
                                                         attribute).matches:
                        return FoundKey(turn, module, cert.token_label, cert.token_serial,
                                        cert.key_id)
        return None

    def token_present(self, key: FoundKey) -> bool:
        from signflow.signing.tokens import inventory

        try:
            found = inventory(key.module, rescan=True)
        except SignflowError:
            return False
        return any(s["serial"] == key.token_serial for s in found.slots)

    # --- signing ------------------------------------------------------------------------

    def sign(self, key: FoundKey, pin: str | object) -> Path | None:
        """Sign the document with the found key; returns the image of the signed page
        (when an images folder was given). Raises SignflowError with what to do."""
        from signflow.signing.credentials import open_pkcs11
        from signflow.signing.signer import sign_documents

        turn = key.turn
        try:
            with open_pkcs11(key.module, token_label=key.token_label, key_id=key.key_id,
                             pin=pin) as credential:
                sign_documents([self.pdf], self.roster, turn.member.id, turn.role, credential,
                               self.settings, ledger=self.ledger)
        except SignflowError as exc:
            reason = exc.message
            if not self.token_present(key):
                reason = _("the token was removed: plug it in again and sign again")
            self._record("ceremony-failed", {"member": turn.member.id, "role": turn.role,
                                             "reason": reason})
            raise SigningError(reason) from None
        self.outcome.signed.append(turn.key)
        if turn.key in self._skipped:
            self._skipped.remove(turn.key)
        return self._page_image(turn)

    def _page_image(self, turn: Turn) -> Path | None:
        """The page that carries the new signature, as a PNG for the projector."""
        if self.images_dir is None:
            return None
        import pypdfium2

        from signflow._internal.pdfium import PDFIUM_LOCK
        from signflow.pdf.anchors import field_name
        from signflow.validation.revisions import read_history

        history = read_history(self.pdf)
        shape = history.shape(history.total_revisions - 1)
        placed = shape.fields.get(field_name(turn.member.id, turn.role))
        page = placed.page if placed is not None and placed.page is not None else 0
        self.images_dir.mkdir(parents=True, exist_ok=True)
        target = self.images_dir / (f"{len(self.outcome.signed):02d}-{turn.member.id}-"
                                    f"{turn.role}.png")
        with PDFIUM_LOCK:
            doc = pypdfium2.PdfDocument(str(self.pdf))
            try:
                # the signatures' appearances are widget annotations: pdfium draws them only
                # with the form environment initialised before the page is loaded
                doc.init_forms()
                loaded = doc[page]
                try:
                    bitmap = loaded.render(scale=1.5, may_draw_forms=True)
                    bitmap.to_pil().save(target)
                finally:
                    loaded.close()
            finally:
                doc.close()
        self.outcome.images.append(target)
        return target

    # --- the end ------------------------------------------------------------------------

    def finish(self, tsa_url: str | None, trust_roots: Sequence[Path],
               report: Path | None) -> CeremonyOutcome:
        """Archive at PAdES B-LTA (with a timestamp authority) and write the verification
        report; say whether the agreement is complete."""
        from signflow.identity import load_trust_roots
        from signflow.validation.verify import VerifyPolicy, verify_file

        if tsa_url and not self.pending():
            from signflow.signing.archive import archive_document

            archive_document(self.pdf, tsa_url, load_trust_roots(trust_roots),
                             ledger=self.ledger)
            self.outcome.archived = True
        verdict = verify_file(self.pdf, VerifyPolicy(trust_roots=tuple(trust_roots),
                                                     roster=self.roster))
        self.outcome.complete = bool(verdict.ok and verdict.complete)
        self.outcome.verdict = verdict
        if report is not None:
            from signflow._internal.files import atomic_write_bytes
            from signflow.output.report import render_html

            atomic_write_bytes(report, render_html(
                [verdict], title=self.pdf.name, roster_name=self.roster.cluster.name,
                trust_roots=[str(t) for t in trust_roots]).encode("utf-8"))
            self.outcome.report = report
        self._record("ceremony-finished", {"signatures": len(self.outcome.signed),
                                           "complete": self.outcome.complete,
                                           "archived": self.outcome.archived})
        return self.outcome

    def _record(self, action: str, details: dict[str, Any]) -> None:
        if self.ledger is not None:
            self.ledger.record(action, self.pdf, {
                **details, "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")})


def run_ceremony(ceremony: Ceremony, say: Callable[[str], None],
                 ask_pin: Callable[[FoundKey], str | object],
                 interrupted: Callable[[Turn, BaseException], str],
                 poll_seconds: float = 0.5) -> CeremonyOutcome:
    """Drive a ceremony: ask the next person, wait for a key that may sign, ask for its
    PIN, sign, go on until nobody is left or the operator stops.

    ``say`` shows one line; ``ask_pin`` asks the person at the token (named by the key's
    turn). The operator interrupts (Ctrl+C) while the room waits or at a PIN prompt:
    ``interrupted(turn, exc)`` then says what to do: "" keep waiting, "skip" (the person
    left: asked again at the end) or "stop" (or it raises, to end the program)."""
    import time

    asked: tuple[str, Role] | None = None
    turn: Turn | None = None
    failing: str | None = None  # the last poll's failure, and the one said
    told: str | None = None
    while True:
        try:
            # inside the try: a Ctrl+C while the document is read is the operator's too
            turn = ceremony.next_turn()
            if turn is None:
                return ceremony.outcome
            if turn.key != asked:
                say(turn.invitation())
                asked = turn.key
            try:
                key = ceremony.find_key()
            except SignflowError as exc:
                # a token pulled out while it was being read: looked at again; a failure
                # that stays (a module that no longer answers) is said, once
                if exc.message == failing and exc.message != told:
                    say(exc.message)
                    told = exc.message
                failing = exc.message
                time.sleep(poll_seconds)
                continue
            failing = None
            if key is None:
                time.sleep(poll_seconds)
                continue
            if key.turn.key != turn.key:
                say(_("The token of {who} is plugged in: {who} signs now").format(
                    who=key.turn.who))
            pin = ask_pin(key)
        except KeyboardInterrupt as exc:
            if turn is None:  # nobody was asked yet
                raise
            choice = interrupted(turn, exc)
            if choice == "stop":
                return ceremony.outcome
            if choice == "skip":
                ceremony.skip(turn)
                say(_("{who} is skipped for now and will be asked again at the end").format(
                    who=turn.who))
                asked = None
            continue
        try:
            image = ceremony.sign(key, pin)
        except SigningError as exc:
            say(_("Not signed: {reason}").format(reason=exc.message))
            asked = None
            continue
        say(_("Signed: {who} ({role})").format(
            who=key.turn.who, role=_("head") if key.turn.role == "head" else _("seal")))
        if image is not None:
            say(_("The signed page: {path}").format(path=image))
        asked = None
