"""What the portal does, apart from its pages: rounds, personal links, the member's queue,
uploads judged by the hand-off's ``receive``, the matrix, the archive, the audit trail.

Every method opens its own database session and ledger, so that the pages may call them
from worker threads at the same time; two uploads of one document are put in order by the
document's lock inside ``receive`` (the second is judged against the first).

Events go into the round's signflow ledger (``rounds/<uid>/signflow-ledger.sqlite``), the
same hash chain that records the signed revisions, so ``signflow log --verify`` checks
the portal's events too; events that belong to no round (a failed login, an unknown link)
go into the portal's own ledger (``portal-ledger.sqlite``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import secrets
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from signflow._internal.files import atomic_write_bytes
from signflow.errors import InputError, SignflowError, failure_reason
from signflow.i18n import _
from signflow.portal.config import PortalConfig
from signflow.portal.db import (
    Account,
    Document,
    FormToken,
    Link,
    LoginSession,
    Round,
    Upload,
    aware,
    make_engine,
    migrate,
    session_factory,
    utcnow,
)
from signflow.roster import is_department, member_of

SESSION_HOURS = 12
FORM_TOKEN_HOURS = 12
PASSWORD_FILE = "secretariat-password.txt"
SECRETARIAT = "vanphong"


def digest(token: str) -> str:
    """What the database keeps of a secret (a link, a cookie, a form token)."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def fingerprint(token: str) -> str:
    """A short name for a secret in the audit trail, which never holds the secret."""
    return digest(token)[:12]


def display_name(name: str) -> str:
    """A file name offered back for download: its last part, printable, no path."""
    name = unicodedata.normalize("NFC", name.replace("\\", "/").rsplit("/", 1)[-1])
    name = "".join(c for c in name if c.isprintable() and c not in '<>:"|?*;')
    name = name.strip(" .")[:150]
    return name if name.lower().endswith(".pdf") and len(name) > 4 else "tai-lieu.pdf"


class Refused(SignflowError):
    """A request the portal refuses: ``status`` for the page, the message for the person,
    recorded as an audit event."""

    def __init__(self, status: int, message: str, reason: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason  # the event's short name


@dataclass
class Cell:
    role: str
    signed: bool
    next: bool
    signer: str | None = None


@dataclass
class MatrixRow:
    document: Document
    cells: dict[str, dict[str, Cell]]  # member -> role -> cell
    complete: bool
    next: list[str]  # "Nam Định (người đứng đầu)"
    error: str | None = None


@dataclass
class QueueItem:
    document: Document
    roles: dict[str, Cell]  # this member's fields
    may_sign: bool
    waiting_for: list[str]
    done: bool
    revisions: int
    error: str | None = None
    # the ids of this office's departments that have not signed yet (internal pledge)
    departments_waiting: list[str] = field(default_factory=list)

    @property
    def to_sign(self) -> str:
        """This office's roles still to sign, in words ("người đứng đầu, con dấu")."""
        return ", ".join(role_word(c.role) for c in self.roles.values() if not c.signed)


@dataclass
class UploadResult:
    ok: bool
    result: str
    headline: str
    lines: list[str] = field(default_factory=list)


class RateLimiter:
    """At most ``per_minute`` requests per key in any 60 s (a sliding window)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.seen: dict[str, deque[float]] = {}
        self.lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self.lock:
            times = self.seen.setdefault(key, deque())
            while times and now - times[0] > 60:
                times.popleft()
            if len(times) >= self.per_minute:
                return False
            times.append(now)
            return True


class Portal:
    """The portal over one database and one data folder."""

    def __init__(self, config: PortalConfig, roster: Any = None) -> None:
        from signflow.identity import load_trust_roots
        from signflow.roster import load_roster

        if config.roster is None and roster is None:
            raise InputError(_("the portal needs the cluster's roster: roster = \"...\" in "
                               "its settings, or --roster FILE"))
        if not config.trust:
            raise InputError(_("the portal needs the trust roots (trust = [...] or --trust) "
                               "to check who signed every upload"))
        self.config = config
        self.roster = roster or load_roster(config.roster)  # type: ignore[arg-type]
        self.roots = load_trust_roots(config.trust)
        self.data = config.data_dir
        try:
            self.data.mkdir(parents=True, exist_ok=True, mode=0o700)
            (self.data / "rounds").mkdir(exist_ok=True)
            (self.data / "incoming").mkdir(exist_ok=True)
        except OSError as exc:
            raise InputError(_("cannot create the data folder {path}: {reason}").format(
                path=self.data, reason=exc.strerror or exc)) from None
        self.engine = make_engine(config.url)
        migrate(self.engine)
        self.Session = session_factory(self.engine)
        self.limiter = RateLimiter(config.rate_per_minute)
        self._status_cache: dict[tuple[str, int, int], Any] = {}
        self._cache_lock = threading.Lock()
        self.password_file = self.data / PASSWORD_FILE
        self._ensure_account()

    # --- accounts and sessions ---------------------------------------------------------

    def _ensure_account(self) -> None:
        """The first start creates the secretariat's account, its password in a file
        readable by its owner only (never printed, never on the command line)."""
        with self.Session() as db:
            if db.scalar(select(Account).limit(1)) is not None:
                return
            password = secrets.token_urlsafe(15)
            atomic_write_bytes(self.password_file, (password + "\n").encode(), mode=0o600)
            db.add(Account(username=SECRETARIAT, password_hash=hash_password(password),
                           role="secretariat"))
            db.commit()
        self.record(None, "portal-account-created", {"username": SECRETARIAT})

    def set_password(self, username: str, password: str, role: str = "secretariat") -> None:
        with self.Session() as db:
            account = db.scalar(select(Account).where(Account.username == username))
            if account is None:
                account = Account(username=username, role=role, password_hash="")
                db.add(account)
            account.password_hash = hash_password(password)
            db.commit()

    def login(self, username: str, password: str, client: str) -> tuple[str, str] | None:
        """A new session (cookie token, CSRF token) or None; both recorded."""
        with self.Session() as db:
            account = db.scalar(select(Account).where(Account.username == username[:64]))
            ok = account is not None and verify_password(account.password_hash, password)
            if not ok or account is None:
                self.record(None, "portal-login-refused", {"username": username[:64],
                                                           "client": client})
                return None
            token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            db.add(LoginSession(account_id=account.id, token_hash=digest(token), csrf=csrf,
                                expires_at=utcnow() + dt.timedelta(hours=SESSION_HOURS)))
            db.commit()
        self.record(None, "portal-login", {"username": username, "client": client})
        return token, csrf

    def session(self, token: str | None) -> tuple[LoginSession, Account] | None:
        if not token:
            return None
        with self.Session() as db:
            found = db.scalar(select(LoginSession).where(
                LoginSession.token_hash == digest(token)))
            if found is None or aware(found.expires_at) < utcnow():
                return None
            account = db.get(Account, found.account_id)
            return (found, account) if account is not None else None

    def logout(self, token: str) -> None:
        with self.Session() as db:
            found = db.scalar(select(LoginSession).where(
                LoginSession.token_hash == digest(token)))
            if found is not None:
                db.delete(found)
                db.commit()

    # --- one-time form tokens ----------------------------------------------------------

    def form_token(self, owner: str, purpose: str) -> str:
        token = secrets.token_urlsafe(24)
        with self.Session() as db:
            db.add(FormToken(token_hash=digest(token), owner=owner, purpose=purpose,
                             used=False))
            db.commit()
        return token

    def spend_form_token(self, token: str | None, owner: str, purpose: str) -> str | None:
        """None when the token is this form's and unused (it is used now); else why not:
        "missing", "wrong" or "replayed"."""
        if not token:
            return "missing"
        with self.Session() as db:
            found = db.scalar(select(FormToken).where(FormToken.token_hash == digest(token))
                              .with_for_update())
            if found is None or found.owner != owner or found.purpose != purpose or \
                    aware(found.created_at) < utcnow() - dt.timedelta(hours=FORM_TOKEN_HOURS):
                return "wrong"
            if found.used:
                return "replayed"
            found.used = True
            db.commit()
        return None

    # --- the ledgers ------------------------------------------------------------------

    def round_folder(self, round_: Round) -> Path:
        return self.data / "rounds" / round_.uid

    def document_path(self, round_: Round, document: Document) -> Path:
        # generated ids only: nothing a request says becomes part of a path
        return self.round_folder(round_) / "docs" / f"{document.uid}.pdf"

    @contextlib.contextmanager
    def ledger(self, round_: Round | None) -> Iterator[Any]:
        from signflow.ledger import LEDGER_NAME, Ledger

        path = (self.round_folder(round_) / LEDGER_NAME if round_ is not None
                else self.data / "portal-ledger.sqlite")
        with Ledger(path) as ledger:
            yield ledger

    def anchor(self, ledger: Any) -> None:
        """Timestamp the chain head (after a received copy, after the archive) when a TSA
        is set, as `signflow receive --tsa` does; a TSA down is logged, not fatal (the
        audit names the events it leaves uncovered until the next anchor)."""
        if not self.config.tsa:
            return
        from signflow.signing.timestamps import tsa_stamp

        try:
            ledger.anchor(self.config.tsa, tsa_stamp(self.config.tsa))
        except Exception as exc:  # the upload stands; the gap is reported by the audit
            import logging

            logging.getLogger("signflow.portal").warning(
                "the ledger could not be timestamped: %s", failure_reason(exc))

    def record(self, round_: Round | None, action: str, details: dict[str, Any],
               document: str | None = None) -> None:
        """An event in the hash chain (the round's ledger, else the portal's)."""
        with self.ledger(round_) as ledger:
            ledger.record(action, None, details, document=document)

    # --- rounds ------------------------------------------------------------------------

    def rounds(self) -> list[Round]:
        with self.Session() as db:
            return list(db.scalars(select(Round).order_by(Round.id.desc())))

    def round(self, round_id: int) -> Round | None:
        with self.Session() as db:
            return db.get(Round, round_id)

    def documents(self, round_: Round) -> list[Document]:
        with self.Session() as db:
            return list(db.scalars(select(Document).where(Document.round_id == round_.id)
                                   .order_by(Document.position)))

    def document(self, round_: Round, document_id: int) -> Document | None:
        with self.Session() as db:
            found = db.get(Document, document_id)
            return found if found is not None and found.round_id == round_.id else None

    def pack_choices(self) -> list[tuple[int, Path, list[Path]]]:
        """The generated packs of the settings (``packs``), each with its PDFs: the page
        offers them by number, so no folder name travels in a request."""
        choices = []
        for index, folder in enumerate(self.config.packs):
            # the cluster's documents first, then each member's folder
            pdfs = sorted((p for p in folder.rglob("*.pdf") if p.is_file()),
                          key=lambda p: (p.parent.name != "cluster", str(p))) \
                if folder.is_dir() else []
            choices.append((index, folder, pdfs))
        return choices

    def create_round(self, title: str, files: Sequence[tuple[str, bytes]],
                     actor: str) -> Round:
        """A round of the PDFs given (name, bytes): each must carry signflow's signature
        fields; stored by generated ids and registered in the round's new ledger."""
        from signflow.validation.revisions import DocumentHistory

        title = " ".join(title.split())[:200] or _("Signing round")
        if not files:
            raise InputError(_("choose at least one PDF with signature fields"))
        checked: list[tuple[str, bytes, list[str]]] = []
        for name, data in files:
            shown = display_name(name)
            if not data.startswith(b"%PDF-"):
                raise InputError(_("{name}: not a PDF file").format(name=shown))
            try:
                history = DocumentHistory(data, Path(shown))
                fields_ok = history.fields_revision is not None
                # a member's office collects its departments' signatures too
                members = sorted({member_of(m) for m, _r in history.our_fields},
                                 key=lambda m: (self.roster.order_key(m), m))
            except SignflowError as exc:
                raise InputError(f"{shown}: {exc.message}") from None
            except Exception as exc:  # a hostile file: unreadable, said as such
                raise InputError(_("{path}: cannot read the PDF: {reason}").format(
                    path=shown, reason=failure_reason(exc))) from None
            if not fields_ok or not members:
                raise InputError(_("{path}: the document has no signflow signature fields "
                                   "(run `signflow prepare`)").format(path=shown))
            checked.append((shown, data, members))
        with self.Session() as db:
            round_ = Round(uid=secrets.token_hex(16), title=title)
            db.add(round_)
            db.flush()
            docs = []
            for position, (name, data, members) in enumerate(checked):
                doc = Document(round_id=round_.id, uid=secrets.token_hex(16), name=name,
                               identity="", position=position, members=" ".join(members))
                db.add(doc)
                docs.append((doc, data))
            db.flush()
            with self.ledger(round_) as ledger:
                for doc, data in docs:
                    path = self.document_path(round_, doc)
                    atomic_write_bytes(path, data)
                    doc.identity = ledger.observe(path, data, self.roster)
                ledger.record("portal-round-created", None, {
                    "round": round_.uid, "title": title, "by": actor,
                    "documents": [d.name for d, _b in docs]})
            db.commit()
            return round_

    # --- personal links ----------------------------------------------------------------

    def members(self, round_: Round) -> list[str]:
        present: set[str] = set()
        for doc in self.documents(round_):
            present.update(doc.members.split())
        return [m for m in self.roster.member_ids if m in present]

    def issue_link(self, round_: Round, member: str, actor: str,
                   days: int | None = None) -> str:
        """A new personal link for ``member`` (its earlier links are revoked); the token
        is returned once, the database keeps its digest."""
        if member not in self.members(round_):
            raise InputError(_("{member} has nothing to sign in this round").format(
                member=member))
        token = secrets.token_urlsafe(32)
        now = utcnow()
        with self.Session() as db:
            for old in db.scalars(select(Link).where(Link.round_id == round_.id,
                                                     Link.member == member,
                                                     Link.revoked_at.is_(None))):
                old.revoked_at = now
            db.add(Link(round_id=round_.id, member=member, token_hash=digest(token),
                        created_at=now,
                        expires_at=now + dt.timedelta(days=days or self.config.link_days)))
            db.commit()
        self.record(round_, "portal-link-issued", {"member": member, "by": actor,
                                                   "link": fingerprint(token)})
        return token

    def revoke_links(self, round_: Round, member: str, actor: str) -> int:
        n = 0
        with self.Session() as db:
            for old in db.scalars(select(Link).where(Link.round_id == round_.id,
                                                     Link.member == member,
                                                     Link.revoked_at.is_(None))):
                old.revoked_at = utcnow()
                n += 1
            db.commit()
        self.record(round_, "portal-link-revoked", {"member": member, "by": actor, "n": n})
        return n

    def link_states(self, round_: Round) -> dict[str, Link]:
        """Per member, its newest link."""
        with self.Session() as db:
            links = db.scalars(select(Link).where(Link.round_id == round_.id)
                               .order_by(Link.id))
            return {link.member: link for link in links}

    def resolve_link(self, token: str, client: str) -> tuple[Link, Round]:
        """The link and its round, or Refused (recorded) for an unknown, revoked or expired
        link, or one used too often."""
        with self.Session() as db:
            link = db.scalar(select(Link).where(Link.token_hash == digest(token)))
            round_ = db.get(Round, link.round_id) if link is not None else None
        if link is None or round_ is None:
            self.record(None, "portal-refused", {"reason": "unknown-link",
                                                 "link": fingerprint(token), "client": client})
            raise Refused(404, _("This link is not valid: check that it was copied whole, or "
                                 "ask the cluster's secretariat for a new one."), "unknown-link")
        reason = None
        if link.revoked_at is not None:
            reason, message = "revoked-link", _(
                "This link has been revoked (a newer one was issued): use the newest link "
                "the cluster's secretariat sent, or ask for a new one.")
        elif aware(link.expires_at) < utcnow():
            reason, message = "expired-link", _(
                "This link has expired: ask the cluster's secretariat for a new one.")
        elif not self.limiter.allow(f"link:{link.id}"):
            reason, message = "rate-limited", _(
                "Too many requests with this link in a minute: wait a minute and try again.")
        if reason is not None:
            self.record(round_, "portal-refused", {"reason": reason, "member": link.member,
                                                   "link": fingerprint(token),
                                                   "client": client})
            raise Refused(429 if reason == "rate-limited" else 403, message, reason)
        return link, round_

    # --- status ------------------------------------------------------------------------

    def status(self, path: Path) -> Any:
        """The document's status, read again only when the file changed."""
        from signflow.validation.status import document_status

        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        with self._cache_lock:
            found = self._status_cache.get(key)
        if found is None:
            found = document_status(path, self.roster)
            with self._cache_lock:
                self._status_cache = {k: v for k, v in self._status_cache.items()
                                      if k[0] != key[0]}
                self._status_cache[key] = found
        return found

    def place(self, member: str) -> str:
        """The province a member stands for ("Quảng Ninh"), or a department's name with
        its member's ("Quảng Ninh: Văn phòng"); the id when the roster does not know it."""
        return self.roster.member(member).where if self.roster.has_member(member) \
            else member

    def _next_words(self, steps: list[dict[str, str]]) -> list[str]:
        return [f"{self.place(s['member'])} ({role_word(s.get('role'))})" for s in steps]

    def matrix(self, round_: Round) -> list[MatrixRow]:
        rows = []
        for doc in self.documents(round_):
            try:
                status = self.status(self.document_path(round_, doc))
            except Exception as exc:  # a file that cannot be read is shown as such
                rows.append(MatrixRow(doc, {}, False, [], failure_reason(exc)))
                continue
            nexts = {(s["member"], s.get("role")) for s in status.next}
            cells: dict[str, dict[str, Cell]] = {}
            for f in status.fields:
                if is_department(f.member):
                    continue
                cells.setdefault(f.member, {})[f.role] = Cell(
                    f.role, f.signed, (f.member, f.role) in nexts, f.signer)
            for member, departments in _departments_cells(status.fields, nexts).items():
                cells.setdefault(member, {})["departments"] = departments
            rows.append(MatrixRow(doc, cells, status.complete, self._next_words(status.next)))
        return rows

    def queue(self, link: Link, round_: Round) -> list[QueueItem]:
        items = []
        for doc in self.documents(round_):
            if link.member not in doc.members.split():
                continue
            path = self.document_path(round_, doc)
            try:
                status = self.status(path)
            except Exception as exc:  # shown, not hidden
                items.append(QueueItem(doc, {}, False, [], False, 0, failure_reason(exc)))
                continue
            nexts = {(s["member"], s.get("role")) for s in status.next}
            roles = {}
            departments = _departments_cells(status.fields, nexts).get(link.member)
            if departments is not None:  # before the head (the internal pledge)
                roles["departments"] = departments
            roles.update({f.role: Cell(f.role, f.signed, (f.member, f.role) in nexts, f.signer)
                          for f in status.fields if f.member == link.member})
            done = all(c.signed for c in roles.values())
            may = any(c.next for c in roles.values())
            waiting = [] if may or done else self._next_words(status.next)
            items.append(QueueItem(doc, roles, may, waiting, done, _revisions(path),
                                   departments_waiting=[
                                       f.member.partition("/")[2] for f in status.fields
                                       if is_department(f.member) and not f.signed
                                       and member_of(f.member) == link.member]))
        return items

    # --- download and upload -----------------------------------------------------------

    def member_document(self, link: Link, round_: Round, document_id: int,
                        client: str) -> Document:
        doc = self.document(round_, document_id)
        if doc is None or link.member not in doc.members.split():
            self.record(round_, "portal-refused", {
                "reason": "not-this-member", "member": link.member,
                "document_id": document_id, "client": client})
            raise Refused(404, _("This document is not in your office's queue."),
                          "not-this-member")
        return doc

    def download(self, round_: Round, doc: Document, who: str) -> bytes:
        data = self.document_path(round_, doc).read_bytes()
        self.record(round_, "portal-download", {
            "who": who, "document": doc.name, "revisions": _revisions_of(data),
            "file_sha256": hashlib.sha256(data).hexdigest()}, document=doc.identity)
        return data

    def refuse(self, round_: Round | None, reason: str, details: dict[str, Any],
               status: int, message: str) -> Refused:
        """Record a refusal and return it to raise."""
        self.record(round_, "portal-refused", {"reason": reason, **details})
        return Refused(status, message, reason)

    def upload(self, link: Link, round_: Round, doc: Document, data: bytes,
               client: str) -> UploadResult:
        """Judge an uploaded copy with the hand-off's ``receive`` (the same strict
        continuation check as ``signflow receive``), after the portal's own checks: a PDF,
        and only this office's signatures added."""
        from signflow.signing.handoff import describe_outcome, receive_files

        sha = hashlib.sha256(data).hexdigest()
        # "file_sha256", not "sha256": in the ledger, a "sha256" beside a document names a
        # revision it vouches for (ledger_audit), and an upload vouches for nothing
        base = {"member": link.member, "document": doc.name, "file_sha256": sha,
                "size": len(data), "client": client}
        if data.lstrip(b"\r\n\t ")[:5] != b"%PDF-" or b"%%EOF" not in data[-2048:]:
            self._upload_row(round_, doc, link.member, sha, len(data), "refused", "not-pdf")
            raise self.refuse(round_, "not-pdf", base, 415, _(
                "The file sent is not a PDF: send the signed PDF itself (not a Word file, "
                "an image or a zip)."))
        foreign = self._foreign_signatures(data, doc, round_, link.member)
        if foreign:
            self._upload_row(round_, doc, link.member, sha, len(data), "refused",
                             "foreign-signatures")
            raise self.refuse(round_, "foreign-signatures", {**base, "signed_by": foreign},
                              403, _("This file adds signatures of other offices ({who}): "
                                     "through your link only your office's own signatures "
                                     "are accepted.").format(who=foreign))
        incoming = self.data / "incoming" / f"{secrets.token_hex(16)}.pdf"
        atomic_write_bytes(incoming, data, mode=0o600)
        try:
            with self.ledger(round_) as ledger:
                ledger.record("portal-upload", None, base, document=doc.identity)
                (outcome,) = receive_files([incoming], ledger, self.roster, self.roots)
                if outcome.result == "accepted":
                    self.anchor(ledger)
        finally:
            incoming.unlink(missing_ok=True)
        lines = [line.strip() for line in describe_outcome(outcome, self.roster)[1:]]
        lines = [line.replace(str(incoming), doc.name) for line in lines]
        if outcome.document:
            lines = [line.replace(outcome.document, doc.name) for line in lines]
        if outcome.result == "accepted":
            headline = _("Received: your signed copy of {name} is now the document's newest "
                         "revision.").format(name=doc.name)
            if outcome.complete:
                lines.append(_("Every signature is there: the document is complete."))
        elif outcome.result == "nothing-new":
            headline = _("Nothing new: this file adds no signature to the newest revision of "
                         "{name}.").format(name=doc.name)
        elif outcome.result == "stale":
            # the words the issue asks for: "tài liệu đã có bản mới hơn, hãy tải lại"
            headline = _("Not accepted: the document has a newer revision, download it "
                         "again.")
            lines.insert(0, _("Your copy was signed on an older revision: download the "
                              "newest one, sign it and send it again. Nothing was "
                              "overwritten."))
        else:
            headline = _("Refused: this file is not a valid continuation of {name}; "
                         "nothing was overwritten.").format(name=doc.name)
            lines = [line.lstrip("- ") for line in lines] or list(outcome.problems)
        self._upload_row(round_, doc, link.member, sha, len(data), outcome.result,
                         headline)
        ok = outcome.result == "accepted"
        if not ok and outcome.result != "nothing-new":
            # receive recorded its refusal; this names the office and the page's words
            self.record(round_, "portal-refused", {**base, "reason": outcome.result,
                                                   "message": headline},
                        document=doc.identity)
        return UploadResult(ok, outcome.result, headline, lines)

    def _foreign_signatures(self, data: bytes, doc: Document, round_: Round,
                            member: str) -> str:
        """Signatures of other members among those the upload adds to what the ledger
        knows (the office's link carries only the office's own signatures)."""
        from signflow.validation.revisions import DocumentHistory

        with self.ledger(round_) as ledger:
            known = ledger.recorded_revisions(doc.identity) or []
        try:
            history = DocumentHistory(data, Path(doc.name))
            added = [r for r in history.signatures if r.revision >= len(known)
                     and not r.is_timestamp and member_of(r.member or "") != member]
        except Exception:  # unreadable: receive says why, with its own checks
            return ""
        return ", ".join(f"{self.place(r.member) if r.member else r.field} "
                         f"({role_word(r.role)})" for r in added)

    def _upload_row(self, round_: Round, doc: Document, member: str, sha: str, size: int,
                    result: str, message: str) -> None:
        with self.Session() as db:
            db.add(Upload(round_id=round_.id, document_id=doc.id, member=member, sha256=sha,
                          size=size, result=result, message=message[:2000]))
            db.commit()

    def uploads(self, round_: Round) -> list[Upload]:
        with self.Session() as db:
            return list(db.scalars(select(Upload).where(Upload.round_id == round_.id)
                                   .order_by(Upload.id)))

    # --- archive, report, the finished pack --------------------------------------------

    def archive(self, round_: Round, actor: str) -> list[Any]:
        """Every complete document at B-LTA (validation data, a document timestamp)."""
        from signflow.signing.archive import archive_document

        if not self.config.tsa:
            raise InputError(_("archiving needs a timestamp authority: tsa = \"...\" in the "
                               "portal's settings"))
        rows = self.matrix(round_)
        incomplete = [r.document.name for r in rows if not r.complete]
        if incomplete:
            raise InputError(_("not every document is complete yet: {names}").format(
                names=", ".join(incomplete)))
        outcomes = []
        with self.ledger(round_) as ledger:
            for doc in self.documents(round_):
                outcomes.append(archive_document(self.document_path(round_, doc),
                                                 self.config.tsa, self.roots, ledger=ledger))
            ledger.record("portal-archived", None, {"by": actor, "documents": len(outcomes)})
            self.anchor(ledger)
        with self.Session() as db:
            found = db.get(Round, round_.id)
            if found is not None:
                found.archived_at = utcnow()
                db.commit()
        return outcomes

    def verdicts(self, paths: list[Path]) -> list[Any]:
        from signflow.validation.verify import VerifyPolicy, verify_file

        policy = VerifyPolicy(trust_roots=self.config.trust, roster=self.roster)
        return [verify_file(p, policy, self.roots) for p in paths]

    def report(self, round_: Round) -> str:
        from signflow.output.report import render_html

        docs = self.documents(round_)
        verdicts = self.verdicts([self.document_path(round_, d) for d in docs])
        for verdict, doc in zip(verdicts, docs, strict=True):
            verdict.file = doc.name  # the name people know, not the stored id
        return render_html(verdicts, title=round_.title,
                           roster_name=self.roster.cluster.full_name,
                           trust_roots=[p.name for p in self.config.trust])

    def pack_zip(self, round_: Round) -> bytes:
        """The round's documents as they are now and the verification report, zipped."""
        import zipfile

        out = io.BytesIO()
        used: set[str] = set()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for doc in self.documents(round_):
                name = doc.name
                while name in used:  # two uploads named alike
                    name = f"{doc.position + 1}-{name}"
                used.add(name)
                zf.writestr(name, self.document_path(round_, doc).read_bytes())
            zf.writestr("bien-ban-xac-minh.html", self.report(round_))
        return out.getvalue()

    def verify_upload(self, data: bytes, name: str, who: str) -> tuple[Any, str]:
        """An archivist's file: its verdict and the HTML report (the file is kept only
        while it is verified)."""
        from signflow.output.report import render_html

        shown = display_name(name)
        if not data.startswith(b"%PDF-"):
            self.record(None, "portal-refused", {"reason": "not-pdf", "who": who})
            raise Refused(415, _("The file sent is not a PDF."), "not-pdf")
        incoming = self.data / "incoming" / f"{secrets.token_hex(16)}.pdf"
        atomic_write_bytes(incoming, data, mode=0o600)
        try:
            (verdict,) = self.verdicts([incoming])
        finally:
            incoming.unlink(missing_ok=True)
        verdict.file = shown
        self.record(None, "portal-verified", {"who": who, "file": shown, "ok": verdict.ok,
                                              "complete": verdict.complete,
                                              "file_sha256": hashlib.sha256(data).hexdigest()})
        return verdict, render_html([verdict], title=shown,
                                    roster_name=self.roster.cluster.full_name,
                                    trust_roots=[p.name for p in self.config.trust])

    # --- audit -------------------------------------------------------------------------

    def audit(self, round_: Round | None) -> tuple[list[Any], list[str]]:
        with self.ledger(round_) as ledger:
            return ledger.events(), ledger.verify_chain()

    # --- e-mail ------------------------------------------------------------------------

    def remind(self, round_: Round, actor: str, base_url: str) -> list[str]:
        """E-mail every office that is next on a document of the round (those with an
        address); returns the members mailed."""
        from signflow.portal.mail import send_mail

        if self.config.smtp is None:
            raise InputError(_("e-mail is not set up: add [portal.smtp] to the portal's "
                               "settings"))
        waiting: dict[str, list[str]] = {}
        for row in self.matrix(round_):
            for member, roles in row.cells.items():
                for cell in roles.values():
                    if cell.next:
                        waiting.setdefault(member, []).append(
                            f"{row.document.name} ({role_word(cell.role)})")
        mailed = []
        for member, items in waiting.items():
            address = self.config.emails.get(member)
            if not address:
                continue
            body = "\n".join([
                _("Dear {unit},").format(unit=self.roster.member(member).unit),
                "",
                _("The signing round \"{title}\" of {cluster} is waiting for your office's "
                  "digital signature on:").format(title=round_.title,
                                                  cluster=self.roster.cluster.name),
                *[f"  - {item}" for item in items],
                "",
                _("Open your office's personal link (sent by the secretariat earlier) to "
                  "download the newest revision, sign it with your own token and send it "
                  "back. The portal at {url} never asks for your PIN.").format(url=base_url),
            ])
            send_mail(self.config.smtp, address, _("Reminder: documents to sign ({title})")
                      .format(title=round_.title), body)
            mailed.append(member)
        self.record(round_, "portal-reminded", {"by": actor, "members": mailed})
        return mailed

    def mail_link(self, round_: Round, member: str, token: str, base_url: str,
                  actor: str) -> bool:
        from signflow.portal.mail import send_mail

        address = self.config.emails.get(member)
        if self.config.smtp is None or not address:
            return False
        body = "\n".join([
            _("Dear {unit},").format(unit=self.roster.member(member).unit), "",
            _("Your office's personal link for the signing round \"{title}\":").format(
                title=round_.title),
            f"  {base_url}/m/{token}", "",
            _("Keep it to your office: whoever holds it can send signed copies in your "
              "office's name. It expires in {days} days.").format(days=self.config.link_days),
        ])
        send_mail(self.config.smtp, address, _("Signing link: {title}").format(
            title=round_.title), body)
        self.record(round_, "portal-link-mailed", {"member": member, "by": actor,
                                                   "link": fingerprint(token)})
        return True


def role_word(role: str | None) -> str:
    return _("head") if role == "head" else _("seal") if role == "seal" else \
        _("departments") if role == "departments" else "?"


def _departments_cells(fields: Sequence[Any], nexts: set[tuple[str, str | None]]
                       ) -> dict[str, Cell]:
    """Per member, one cell for its departments' signatures: signed when all are, next
    when one may sign now, with "2/5" as its signer text."""
    counts: dict[str, list[int]] = {}
    waiting: set[str] = set()
    for f in fields:
        if not is_department(f.member):
            continue
        count = counts.setdefault(member_of(f.member), [0, 0])
        count[0] += 1 if f.signed else 0
        count[1] += 1
        if (f.member, f.role) in nexts:
            waiting.add(member_of(f.member))
    return {m: Cell("departments", signed == total, m in waiting, f"{signed}/{total}")
            for m, (signed, total) in counts.items()}


def _revisions_of(data: bytes) -> int:
    from signflow.pdf.reader import revision_ends

    try:
        return len(revision_ends(data))
    except Exception:  # only shown
        return 0


def _revisions(path: Path) -> int:
    return _revisions_of(path.read_bytes())


def hash_password(password: str) -> str:
    from argon2 import PasswordHasher

    return PasswordHasher().hash(password)  # argon2id, memory-hard


def verify_password(stored: str, password: str) -> bool:
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return PasswordHasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
