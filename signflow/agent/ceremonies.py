"""The signing ceremony as the agent runs it (``pages/ceremony.py`` shows it): one
``signflow.ceremony.Ceremony`` per document, driven from the browser instead of the
terminal. The ceremony's logic (who is asked, which key may sign, the order rules, skipping,
the archive and the report, the ledger's entries) is the library's; this module only keeps
what the page shows and runs each step the way the agent runs token operations:

- one step at a time per ceremony (``CeremonyRoom.lock``), one token operation at a time
  in the process (``TOKEN_LOCK``);
- the ledger opened for each step (SQLite connections stay in the thread that opened
  them; the page's steps run in worker threads);
- the PIN passed to the token's login and dropped: never stored, logged or shown.

Nothing here knows about HTTP.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from signflow.agent.work import TOKEN_LOCK, OpenDocument, new_id
from signflow.errors import SignflowError
from signflow.i18n import _

if TYPE_CHECKING:
    from signflow.agent.config import AgentConfig
    from signflow.ceremony import Ceremony, CeremonyOutcome, FoundKey, Turn
    from signflow.roster import Roster
    from signflow.validation.verdicts import FileVerdict

IMAGES_FOLDER = "nghi-thuc-ky"  # the signed pages, beside the document in the work folder
CEREMONY_REPORT = "bien-ban-xac-minh-nghi-thuc.html"
LOOK_EVERY = 0.7  # seconds: several pages polling do not rescan the tokens more often


@dataclass
class Step:
    """One line of what happened, for the page's log."""

    when: dt.datetime
    kind: str  # "info" | "signed" | "failed" | "skipped" | "end"
    text: str


@dataclass
class SignedPage:
    who: str
    role: str
    image: Path


@dataclass
class CeremonyRoom:
    """One ceremony on one document, as the agent's page drives it."""

    id: str
    doc: OpenDocument
    ceremony: Ceremony
    started: dt.datetime
    key: FoundKey | None = None  # a key plugged in of someone who may sign now
    message: tuple[str, str] | None = None  # (kind, text): the last thing to tell the room
    problem: str | None = None  # the tokens cannot be listed (the module failed)
    steps: list[Step] = field(default_factory=list)
    pages: list[SignedPage] = field(default_factory=list)
    version: int = 0  # changes whenever what the page shows changes
    busy: bool = False  # a signature or the closing is under way
    outcome: CeremonyOutcome | None = None
    verdict: FileVerdict | None = None
    sha256: str | None = None  # of the file as verified at the end
    notes: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _looked: float = 0.0
    _failing: str | None = None  # the last look's failure
    _shown: tuple[Any, ...] = ()

    @property
    def finished(self) -> bool:
        return self.outcome is not None

    def say(self, kind: str, text: str, message: bool = True) -> None:
        self.steps.append(Step(dt.datetime.now(dt.UTC), kind, text))
        if message:
            self.message = (kind, text)
        self.version += 1

    def _changed(self) -> None:
        """Bump the version when who is asked, the key found or the problem changed."""
        shown = (self.key, self.problem, tuple(t.key for t in self.pending()))
        if shown != self._shown:
            self._shown = shown
            self.version += 1

    # what the page shows (read from the ceremony: the document decides)

    def pending(self) -> list[Turn]:
        try:
            return self.ceremony.pending()
        except SignflowError:
            return []

    def next_turn(self) -> Turn | None:
        try:
            return self.ceremony.next_turn()
        except SignflowError:
            return None

    def signature_keys(self) -> list[tuple[str, str]]:
        try:
            return list(self.ceremony.signature_keys())
        except SignflowError:
            return []

    def skipped(self) -> list[tuple[str, str]]:
        return list(self.ceremony.outcome.skipped)


@contextmanager
def _ledger(config: AgentConfig, ceremony: Ceremony | None = None) -> Iterator[Any]:
    """The agent's ledger, open for one step, lent to the ceremony meanwhile."""
    from signflow.ledger import Ledger

    with Ledger(config.ledger_path) as ledger:
        if ceremony is not None:
            ceremony.ledger = ledger
        try:
            yield ledger
        finally:
            if ceremony is not None:
                ceremony.ledger = None


def open_room(config: AgentConfig, roster: Roster, doc: OpenDocument) -> CeremonyRoom:
    """A ceremony on ``doc`` (signed in place in the work folder); its start goes to the
    ledger. An InputError when the document has no signature fields of the roster or no
    PKCS#11 module is configured."""
    from signflow.ceremony import Ceremony
    from signflow.errors import InputError
    from signflow.signing.signer import SignSettings

    if not config.pkcs11:
        raise InputError(_("no PKCS#11 module is configured: set pkcs11 = [\"...\"] in the "
                           "agent's settings (the token software's module)"))
    settings = SignSettings(level=config.pades_level,  # type: ignore[arg-type]
                            tsa_url=config.tsa, trust_roots=config.trust)
    with _ledger(config) as ledger:
        ceremony = Ceremony(doc.path, roster, config.pkcs11, settings, ledger=ledger,
                            images_dir=doc.folder / IMAGES_FOLDER)
        ceremony.ledger = None
    room = CeremonyRoom(id=new_id(), doc=doc, ceremony=ceremony,
                        started=dt.datetime.now(dt.UTC))
    room.say("info", _("The ceremony has started: {n} signature(s) to make").format(
        n=len(room.pending())), message=False)
    return room


def look(room: CeremonyRoom, force: bool = False) -> None:
    """Look at the tokens plugged in (the page polls this): the key of someone who may
    sign now, found by its certificate, without a PIN. Skipped while a step is under way."""
    if room.finished or (not force and time.monotonic() - room._looked < LOOK_EVERY):
        return
    if not room.lock.acquire(blocking=False):
        return
    try:
        room._looked = time.monotonic()
        key, problem = None, None
        try:
            with TOKEN_LOCK:
                key = room.ceremony.find_key(rescan=True)
        except SignflowError as exc:
            # a token pulled out while it was being read: looked at again; a failure that
            # stays (a module that no longer answers) is shown
            again = exc.message == room._failing
            problem = exc.message if again else room.problem
            key = None if again else room.key
            room._failing = exc.message
        else:
            room._failing = None
        if room.key is not None and key is None and problem is None:
            room.say("failed", _("The token of {who} was pulled out").format(
                who=room.key.turn.who))
        room.key, room.problem = key, problem
        room._changed()
    finally:
        room.lock.release()


def sign(room: CeremonyRoom, config: AgentConfig, key: FoundKey, pin: str) -> bool:
    """Sign with ``key`` (the one the PIN form was shown for), logging in with ``pin``
    (for this login only). True when signed; a failure (a wrong PIN and the tries left
    when the token says, the token pulled out) is said to the room and the ceremony goes
    on. The ceremony writes every step to the ledger."""
    from signflow.errors import failure_reason

    with room.lock:
        if room.finished:
            return False
        room.busy = True
        image: Path | None = None
        signed = False
        try:
            try:
                with TOKEN_LOCK, _ledger(config, room.ceremony):
                    image = room.ceremony.sign(key, pin)
                signed = True
            except SignflowError as exc:
                room.say("failed", _("Not signed: {reason}").format(reason=exc.message))
            except Exception as exc:  # noqa: BLE001 - a library's failure: said, not lost
                room.say("failed", _("Not signed: {reason}").format(
                    reason=failure_reason(exc)))
            finally:
                del pin
            room.key = None
            if signed:
                turn = key.turn
                room.say("signed", _("Signed: {who} ({role})").format(
                    who=turn.who, role=_("head") if turn.role == "head" else _("seal")))
                if image is not None:
                    room.pages.append(SignedPage(turn.who, turn.role, image))
        finally:
            room.busy = False
    # asked again at once: the same token after a wrong PIN, the seal's key often on the
    # head's token after a signature
    look(room, force=True)
    return signed


def skip(room: CeremonyRoom, config: AgentConfig, member: str, role: str) -> bool:
    """The person asked now has left the room: asked again after everyone else."""
    with room.lock:
        turn = room.next_turn()
        if room.finished or turn is None or turn.key != (member, role):
            return False
        with _ledger(config, room.ceremony):
            room.ceremony.skip(turn)
        room.say("skipped", _("{who} is skipped for now and will be asked again at the "
                              "end").format(who=turn.who))
        room.key = None
    look(room, force=True)
    return True


def finish(room: CeremonyRoom, config: AgentConfig) -> None:
    """The end: archive at PAdES B-LTA when every signature is there and a timestamp
    authority is set, verify with the roster and the trust roots, write the report; the
    ledger's head is timestamped."""
    from signflow.agent.work import _anchor, _sha256

    with room.lock:
        if room.finished:
            return
        room.busy = True
        try:
            left = room.pending()
            report = room.doc.folder / CEREMONY_REPORT
            with _ledger(config, room.ceremony) as ledger:
                outcome = room.ceremony.finish(config.tsa if not left else None,
                                               config.trust, report)
                if config.tsa:
                    room.notes += _anchor(ledger, config.tsa)
            room.sha256 = _sha256(room.doc.path)
            room.verdict = outcome.verdict
            room.outcome = outcome
            room.key = None
        finally:
            room.busy = False
        room.say("end", _("The ceremony has ended: {n} signature(s) made today").format(
            n=len(outcome.signed)))


def signed_file(room: CeremonyRoom) -> bytes:
    """The document as verified at the end of the ceremony, only if it is still that
    file."""
    import hashlib

    from signflow.errors import InputError

    data = room.doc.path.read_bytes()
    if room.sha256 is None or hashlib.sha256(data).hexdigest() != room.sha256:
        raise InputError(_("the file changed since it was checked: it is not returned"))
    return data
