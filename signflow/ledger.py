"""The signing ledger: an embedded SQLite record of documents, revisions and events.

The PDF stays the source of truth for who has signed; the ledger records what happened, for
the secretariat, in an append-only, hash-chained audit log:

- every document (identified by the SHA-256 of its first revision, which never changes),
- every revision seen (number, size, SHA-256 of the file up to the end of that revision),
- every event (registered, revisions added, signed, refused), each carrying the hash of the
  one before it, so that editing or deleting a past event breaks the chain (`signflow log
  --verify`). Triggers refuse UPDATE and DELETE on the log and revision tables.

A file signed elsewhere and brought back is recorded when next seen; a file whose earlier
revisions differ from what the ledger saw (history rewritten, or revisions cut off) is
refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from signflow.errors import InputError, SigningError, os_error_message
from signflow.i18n import _
from signflow.pdf.reader import revision_ends

LEDGER_NAME = "signflow-ledger.sqlite"
GENESIS = "0" * 64

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY,
    identity TEXT NOT NULL UNIQUE,      -- SHA-256 of the first revision
    path TEXT NOT NULL,                 -- where it was last seen
    first_seen TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS revisions (
    document_id INTEGER NOT NULL REFERENCES documents(id),
    number INTEGER NOT NULL,            -- 1 = the original document
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,               -- of the file's first `size` bytes
    seen_at TEXT NOT NULL,
    PRIMARY KEY (document_id, number)
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    action TEXT NOT NULL,
    document TEXT,                      -- identity
    path TEXT,
    details TEXT NOT NULL,              -- JSON
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS checked (
    sha256 TEXT PRIMARY KEY,            -- of a file prefix ending at a revision boundary
    revisions INTEGER NOT NULL,         -- how many revisions that prefix holds
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pending (  -- a signature about to be written (crash journal)
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    sha256_before TEXT NOT NULL,
    sha256_after TEXT NOT NULL,
    details TEXT NOT NULL,              -- JSON of the "signed" event to record
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS anchors (  -- the chain head timestamped by a TSA (RFC 3161)
    seq INTEGER PRIMARY KEY,            -- the event whose hash was the head then
    head TEXT NOT NULL,                 -- that hash
    tsa TEXT NOT NULL,                  -- the authority's URL
    token BLOB NOT NULL,                -- the TimeStampToken (CMS ContentInfo, DER)
    at TEXT NOT NULL                    -- its time (genTime), ISO 8601
);
CREATE TRIGGER IF NOT EXISTS anchors_no_update BEFORE UPDATE ON anchors
BEGIN SELECT RAISE(ABORT, 'anchors are append-only'); END;
CREATE TRIGGER IF NOT EXISTS anchors_no_delete BEFORE DELETE ON anchors
BEGIN SELECT RAISE(ABORT, 'anchors are append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS revisions_no_update BEFORE UPDATE ON revisions
BEGIN SELECT RAISE(ABORT, 'revisions are append-only'); END;
CREATE TRIGGER IF NOT EXISTS revisions_no_delete BEFORE DELETE ON revisions
BEGIN SELECT RAISE(ABORT, 'revisions are append-only'); END;
"""


@dataclass(frozen=True)
class Event:
    seq: int
    at: str
    action: str
    document: str | None
    path: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Anchor:
    seq: int
    head: str
    tsa: str
    token: bytes
    at: str


# What a TSA is asked to timestamp: the chain head, domain-separated (a token over these
# bytes cannot be one issued for a document or for another purpose).
ANCHOR_LABEL = b"signflow ledger chain head "


def anchor_digest(head: str) -> bytes:
    return hashlib.sha256(ANCHOR_LABEL + head.encode("ascii")).digest()














def _event_hash(prev_hash: str, seq: int, at: str, action: str, document: str | None,
                path: str | None, details: str) -> str:
    payload = json.dumps([prev_hash, seq, at, action, document, path, details],
                         ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _details(text: Any) -> dict[str, Any]:
    """An event's details; a damaged row (not JSON, not an object) reads as such rather than
    stopping every command (the hash chain then says the event was altered)."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {"unreadable": str(text)[:200]}
    return value if isinstance(value, dict) else {"unreadable": str(text)[:200]}


def token_time(token: bytes) -> dt.datetime:
    """The genTime of an RFC 3161 token (ContentInfo DER); InputError if it is none."""
    from asn1crypto import cms, tsp

    try:
        info = cms.ContentInfo.load(token)
        tst = info["content"]["encap_content_info"]["content"].parsed
        if not isinstance(tst, tsp.TSTInfo):
            raise ValueError("not a TSTInfo")
        moment = tst["gen_time"].native
        if not isinstance(moment, dt.datetime):
            raise ValueError("no time")
        return moment
    except (ValueError, TypeError, KeyError) as exc:
        raise InputError(_("not a timestamp token: {reason}").format(reason=exc)) from None


def default_ledger_path(pdf: Path) -> Path:
    """The ledger next to the documents: the nearest existing one in the PDF's folder or up
    to three levels above it (the pack's year folder), else a new one in the PDF's folder."""
    folder = pdf.resolve().parent
    for candidate in [folder, *folder.parents][:4]:
        if (candidate / LEDGER_NAME).is_file():
            return candidate / LEDGER_NAME
    return folder / LEDGER_NAME


def event_label(action: str, details: dict[str, Any] | None = None) -> str:
    """The words for a ledger event (the JSON keeps ``action`` as it is)."""
    if action == "signed" and (details or {}).get("recovered"):
        return _("signed (recorded after an interruption)")
    labels = {
        "created": _("ledger created"),
        "registered": _("document registered"),
        "generated": _("document generated"),
        "observed": _("document seen"),
        "revisions-added": _("revisions recorded"),
        "signed": _("signed"),
        "archived": _("archived (B-LTA)"),
        "anchored": _("ledger timestamped"),
        "history-conflict": _("history conflict"),
        "signing-interrupted": _("signing interrupted"),
        "recovered": _("signature recorded after an interruption"),
        "sent": _("sent for signing"),
        "received": _("signed copy received"),
        "receive-refused": _("received copy refused"),
        "numbered": _("numbered and dated (register of outgoing documents)"),
        "numbering-interrupted": _("numbering interrupted"),
    }
    return labels.get(action, action)


class Ledger:
    def __init__(self, path: Path, read_only: bool = False) -> None:
        """Open (or create) the ledger. ``read_only``: for auditing, also on read-only
        media (nothing is created, reconciled or written)."""
        self.path = Path(path)
        self.created = False
        self._chained: tuple[tuple[int, str] | None, dict[str, set[str]]] | None = None
        if read_only:
            if self.path.is_file() and self.path.stat().st_size == 0:
                with self._creating():  # another process may be creating it right now
                    self._refuse_empty()
            self.db = self._open_read_only()
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(_("cannot open the ledger {path}: {reason}").format(
                path=self.path, reason=os_error_message(exc, with_path=False))) from None
        # Creation is one step for every process (the lock) and for the disk: a new ledger
        # is made whole in a temporary file and linked into place, so that a process killed
        # while creating it leaves no ledger rather than an empty one (an empty ledger is a
        # lost history and is refused).
        with self._creating():
            self._refuse_empty()
            try:
                if not self.path.exists():
                    self._create_whole()
                self.db = sqlite3.connect(str(self.path), isolation_level=None, timeout=30)
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA foreign_keys=ON")
                self.db.executescript(_SCHEMA)  # IF NOT EXISTS: brings older ledgers up
                with self._transaction():
                    self.created = self._start() or self.created
            except sqlite3.DatabaseError as exc:
                raise InputError(_("cannot open the ledger {path}: {reason}").format(
                    path=self.path, reason=exc)) from None
            except OSError as exc:
                raise InputError(_("cannot open the ledger {path}: {reason}").format(
                    path=self.path, reason=os_error_message(exc, with_path=False))) from None
        self.reconcile()

    def _create_whole(self) -> None:
        """Make a new ledger (schema and its first event) in a temporary file beside
        ``path`` and link it into place. Runs under the creation lock: a leftover temporary
        file is from a process killed while creating, and is removed."""
        import tempfile

        from signflow._internal.files import fault_point, fsync_dir, fsync_file, new_file_mode

        prefix = f".{self.path.name}.creating."
        for stale in self.path.parent.glob(prefix + "*"):
            stale.unlink(missing_ok=True)
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=".sqlite", dir=self.path.parent)
        os.fchmod(fd, new_file_mode())  # as SQLite would have made it
        os.close(fd)
        temporary = Path(name)
        try:
            self.db = sqlite3.connect(name, isolation_level=None)
            try:
                self.db.execute("PRAGMA foreign_keys=ON")
                self.db.executescript(_SCHEMA)
                with self._transaction():
                    self._start()
            finally:
                self.db.close()
            fsync_file(temporary)
            fault_point("ledger-before-link")
            try:
                os.link(temporary, self.path)  # never over a ledger that appeared meanwhile
            except FileExistsError:
                raise
            except OSError:  # no hard links here (FAT, some network shares): the lock
                os.replace(temporary, self.path)  # keeps other signflow processes out
            fsync_dir(self.path.parent)
            self.created = True
        finally:
            temporary.unlink(missing_ok=True)

    def _refuse_empty(self) -> None:
        if self.path.is_file() and self.path.stat().st_size == 0:
            # SQLite would take an empty file for a new database: the history would restart
            raise InputError(_("the ledger {path} is empty (0 bytes): its history was lost; "
                               "restore it from a backup").format(path=self.path))

    @contextmanager
    def _creating(self) -> Iterator[None]:
        """The ledger's creation lock (a hidden file beside it), held while it is checked,
        created and given its first event."""
        from filelock import FileLock, Timeout

        from signflow._internal.locks import lock_path

        lock = FileLock(str(lock_path(self.path)), is_singleton=False)
        try:
            lock.acquire(timeout=60)
        except Timeout:
            raise InputError(_("the ledger {path} is being created by another process that "
                               "does not finish; try again").format(path=self.path)) from None
        except OSError:
            yield  # a read-only folder: nobody can be creating the ledger there
            return
        try:
            yield
        finally:
            lock.release()

    def _start(self) -> bool:
        """A new ledger's first event says it was created (so that an existing ledger
        without events is never a normal state). True when this opening created it."""
        if self.db.execute("SELECT 1 FROM events LIMIT 1").fetchone():
            return False
        if self.db.execute("SELECT 1 FROM documents LIMIT 1").fetchone():
            return False  # documents without events: left for `log --verify` to report
        # the nonce makes every ledger's first event its own (two ledgers created at the
        # same second in the same place are still told apart, see signflow log --verify)
        self._append("created", None, None, {"ledger": str(self.path.absolute()),
                                             "nonce": secrets.token_hex(16)})
        return True

    def _open_read_only(self) -> sqlite3.Connection:
        from urllib.parse import quote

        if not self.path.is_file():
            raise InputError(_("ledger not found: {path}").format(path=self.path))
        uri = f"file:{quote(str(self.path.absolute()))}"
        last: Exception | None = None
        # mode=ro still needs the WAL's shared-memory file; on read-only media only
        # immutable=1 opens a WAL database (nobody can be writing there anyway)
        for options in ("?mode=ro", "?mode=ro&immutable=1"):
            try:
                db = sqlite3.connect(uri + options, uri=True, isolation_level=None)
                db.execute("SELECT COUNT(*) FROM events").fetchone()
                return db
            except sqlite3.DatabaseError as exc:
                last = exc
        raise InputError(_("cannot open the ledger {path}: {reason}").format(
            path=self.path, reason=last))

    def close(self) -> None:
        self.db.close()

    # Paths are kept relative to the ledger's folder (one ledger per workspace, beside the
    # documents it records): the workspace can be moved, copied or archived as a whole.
    # Ledgers written before kept absolute paths; those still resolve as they are.
    def stored_path(self, path: Path | str) -> str:
        """How a document's path is written in the ledger: relative to the ledger."""
        return Path(os.path.relpath(Path(path).absolute(),
                                    self.path.absolute().parent)).as_posix()

    def resolve(self, text: str) -> Path:
        """Where a path written in the ledger is on this machine."""
        path = Path(text)
        return path if path.is_absolute() else self.path.absolute().parent / path

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")

    def _append(self, action: str, document: str | None, path: Path | str | None,
                details: dict[str, Any]) -> None:
        """Append one event; must run inside a transaction."""
        head = self.head()
        seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
        at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        text = json.dumps(details, ensure_ascii=False, sort_keys=True)
        path_text = self.stored_path(path) if path is not None else None
        digest = _event_hash(prev, seq, at, action, document, path_text, text)
        self.db.execute(
            "INSERT INTO events (seq, at, action, document, path, details, prev_hash, hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, at, action, document, path_text, text, prev, digest))

    # --- documents and revisions -------------------------------------------------------

    def observe(self, path: Path, data: bytes, roster: Any = None, quiet: bool = False,
                reader: Any = None) -> str:
        """Record a document as it is now; refuse one whose history was rewritten.

        Returns the document identity. ``quiet`` leaves new revisions out of the log, for
        a caller that logs them itself (a signature made here); ``reader``: one already
        open on ``data`` (not parsed again)."""
        return self._observe(path, data, quiet, reader)[0]

    def _observe(self, path: Path, data: bytes, quiet: bool = False,
                 reader: Any = None) -> tuple[str, list[str]]:
        """``observe``, also returning the hashes of the revisions it recorded now: every
        revision row is named by an event of the hash chain (a caller with ``quiet`` names
        them in its own event), so that an edited row is told from a rewritten file."""
        ends = revision_ends(data, reader)
        hashes = [hashlib.sha256(data[:end]).hexdigest() for end in ends]
        identity = hashes[0]
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        with self._transaction():
            row = self.db.execute("SELECT id FROM documents WHERE identity = ?",
                                  (identity,)).fetchone()
            if row is None:
                cur = self.db.execute(
                    "INSERT INTO documents (identity, path, first_seen) VALUES (?, ?, ?)",
                    (identity, self.stored_path(path), now))
                doc_id = cur.lastrowid
                known: list[tuple[int, int, str]] = []
                self._append("registered", identity, path,
                             {"revisions": len(ends), "sha256": hashes[-1],
                              "revisions_sha256": hashes})
            else:
                doc_id = row[0]
                self.db.execute("UPDATE documents SET path = ? WHERE id = ?",
                                (self.stored_path(path), doc_id))
                known = self.db.execute(
                    "SELECT number, size, sha256 FROM revisions WHERE document_id = ? "
                    "ORDER BY number", (doc_id,)).fetchall()
            conflict = self._conflict(path, identity, known, ends, hashes)
            if conflict is not None:
                # recorded (committed) before refusing, so the attempt stays in the log
                self._append("history-conflict", identity, path, {"reason": conflict})
            new = [] if conflict else list(range(len(known) + 1, len(ends) + 1))
            for number in new:
                self.db.execute(
                    "INSERT INTO revisions (document_id, number, size, sha256, seen_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (doc_id, number, ends[number - 1], hashes[number - 1], now))
            if known and new and not quiet:
                self._append("revisions-added", identity, path,
                             {"from": new[0], "to": new[-1], "sha256": hashes[-1],
                              "revisions_sha256": [hashes[n - 1] for n in new]})
        if conflict is not None:
            raise SigningError(self._explain_conflict(identity, known, ends, hashes)
                               or conflict)
        return identity, ([hashes[n - 1] for n in new] if known else [])

    @staticmethod
    def _conflict(path: Path, identity: str, known: list[tuple[int, int, str]],
                  ends: list[int], hashes: list[str]) -> str | None:
        for number, size, sha in known:
            if number > len(ends):
                return _("{path}: revisions the ledger recorded are missing (the file was cut "
                         "back to an earlier state)").format(path=path)
            if ends[number - 1] != size or hashes[number - 1] != sha:
                return _("{path}: revision {n} differs from the one the ledger recorded: the "
                         "file's history was rewritten").format(path=path, n=number)
        return None

    @staticmethod
    def _signed_details(outcome: Any, cert_sha256: str) -> dict[str, Any]:
        return {"field": outcome.field, "member": outcome.member, "role": outcome.role,
                "signer": outcome.signer, "certificate_sha256": cert_sha256,
                "sha256_before": outcome.sha256_before, "sha256_after": outcome.sha256_after}

    def intend_signature(self, path: Path, outcome: Any, cert_sha256: str) -> int:
        """Journal a signature before its file is renamed into place: if the process dies
        between the rename and ``record_signature``, the next opening of the ledger finds
        the file signed and records it (or finds it unsigned and drops the intent)."""
        details = self._signed_details(outcome, cert_sha256)
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        with self._transaction():
            cur = self.db.execute(
                "INSERT INTO pending (path, sha256_before, sha256_after, details, at) "
                "VALUES (?, ?, ?, ?, ?)", (self.stored_path(path), outcome.sha256_before,
                                           outcome.sha256_after, json.dumps(details), now))
        return int(cur.lastrowid or 0)

    def record_signature(self, path: Path, data: bytes, outcome: Any, cert_sha256: str,
                         pending: int | None = None) -> None:
        identity, new = self._observe(path, data, quiet=True)
        with self._transaction():
            self._append("signed", identity, path, {
                **self._signed_details(outcome, cert_sha256), "revisions_sha256": new})
            if pending is not None:
                self.db.execute("DELETE FROM pending WHERE id = ?", (pending,))

    # --- the register of outgoing documents (signflow.signing.numbering) ----------------

    @contextmanager
    def register_lock(self, timeout: float) -> Iterator[None]:
        """One numbering at a time per ledger, across processes: the next number is read,
        written into the document and recorded before another office takes one."""
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.path.parent / f".{self.path.name}.register.lock"),
                        is_singleton=False)
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise SigningError(_("the register of outgoing documents is busy (another "
                                 "office is numbering); try again")) from None
        try:
            yield
        finally:
            lock.release()

    def next_number(self, member: str, year: int, symbol: str) -> int:
        """The next number of ``member``'s series (year, symbol): one more than the
        highest recorded or journalled (a number being written is taken)."""
        highest = 0
        rows = self.db.execute("SELECT details FROM events WHERE action IN "
                               "('numbered', 'numbering-interrupted')")
        pending = self.db.execute("SELECT details FROM pending")
        for (text,) in [*rows.fetchall(), *pending.fetchall()]:
            details = _details(text)
            if details.get("member") == member and details.get("year") == year and \
                    details.get("symbol") == symbol and isinstance(details.get("number"), int):
                highest = max(highest, details["number"])
        return highest + 1

    def intend_number(self, path: Path, details: dict[str, Any]) -> int:
        """Journal a numbering before its file is renamed into place (as a signature)."""
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        with self._transaction():
            cur = self.db.execute(
                "INSERT INTO pending (path, sha256_before, sha256_after, details, at) "
                "VALUES (?, ?, ?, ?, ?)", (self.stored_path(path), details["sha256_before"],
                                           details["sha256_after"],
                                           json.dumps({**details, "event": "numbered"}), now))
        return int(cur.lastrowid or 0)

    def record_number(self, path: Path, data: bytes, details: dict[str, Any],
                      pending: int | None = None) -> None:
        identity, new = self._observe(path, data, quiet=True)
        with self._transaction():
            self._append("numbered", identity, path, {
                **{k: v for k, v in details.items() if k != "path"}, "revisions_sha256": new})
            if pending is not None:
                self.db.execute("DELETE FROM pending WHERE id = ?", (pending,))

    def record_archive(self, path: Path, data: bytes, details: dict[str, Any]) -> None:
        identity, new = self._observe(path, data, quiet=True)
        self.record("archived", path, {**details, "revisions_sha256": new}, document=identity)

    def record_received(self, path: Path, data: bytes, details: dict[str, Any]) -> None:
        """A copy signed elsewhere, checked and written at ``path`` (signflow receive)."""
        identity, new = self._observe(path, data, quiet=True)
        self.record("received", path, {**details, "revisions_sha256": new},
                    document=identity)

    def recorded_revisions(self, identity: str) -> list[tuple[int, int, str]] | None:
        """The revisions (number, size, sha256) of a document as the ledger recorded them,
        only those the hash chain names (as ``disagreement`` reads them); None for a
        document the ledger does not know."""
        row = self.db.execute("SELECT id FROM documents WHERE identity = ?",
                              (identity,)).fetchone()
        if row is None:
            return None
        chained = self.chained_revisions().get(identity, set())
        return [(int(number), int(size), str(sha)) for number, size, sha in self.db.execute(
            "SELECT number, size, sha256 FROM revisions WHERE document_id = ? ORDER BY number",
            (row[0],)).fetchall() if sha in chained]

    def _explain_conflict(self, identity: str, known: list[tuple[int, int, str]],
                          ends: list[int], hashes: list[str]) -> str | None:
        """When the file agrees with what the hash chain vouches for and only the ledger's
        revision rows disagree, the ledger was altered: say so instead of blaming the file."""
        chained = self.chained_revisions().get(identity, set())
        altered = [number for number, _size, sha in known
                   if number <= len(hashes) and hashes[number - 1] != sha
                   and hashes[number - 1] in chained and sha not in chained]
        # the file's bytes up to that revision hash to what the chain names, but the
        # recorded size differs: the size was edited
        altered += [number for number, size, sha in known
                    if number <= len(hashes) and hashes[number - 1] == sha and sha in chained
                    and ends[number - 1] != size]
        if not altered:
            return None
        return _("the ledger {path} was altered (its record of a revision is not the one its "
                 "audit log vouches for); check it with signflow log --verify").format(
                     path=self.path)

    def chained_revisions(self) -> dict[str, set[str]]:
        """Per document, the revision hashes named by events of the hash chain. Computed
        once per state of the chain (status and the audit ask once per document)."""
        head = self.head()
        if self._chained is not None and self._chained[0] == head:
            return self._chained[1]
        named: dict[str, set[str]] = {}
        for event in self.events():
            if event.document is None:
                continue
            hashes = named.setdefault(event.document, set())
            for key in ("sha256", "sha256_after"):
                if isinstance(event.details.get(key), str):
                    hashes.add(event.details[key])
            listed = event.details.get("revisions_sha256")  # (details is always a dict)
            if isinstance(listed, list):
                hashes.update(h for h in listed if isinstance(h, str))
        self._chained = (head, named)
        return named

    def reconcile(self) -> list[str]:
        """Complete or drop the signatures a killed process journalled but did not record.

        Each is looked at under its document's write lock (an intent whose writer is still
        alive is left alone): the file holds the signed revision (the rename happened) ->
        the "signed" event is recorded now, marked recovered; it does not -> the intent is
        dropped, with an event saying so. Returns what was done, for messages."""
        from signflow._internal.locks import try_writing

        done: list[str] = []
        try:
            rows = self.db.execute("SELECT id, path, sha256_before, sha256_after, details "
                                   "FROM pending ORDER BY id").fetchall()
        except sqlite3.DatabaseError:
            return done
        for pending_id, path_text, before, after, details_text in rows:
            path = self.resolve(path_text)
            with try_writing(path) as locked:
                if not locked:
                    continue  # its writer is alive (or the folder is gone): later
                try:
                    done.append(self._reconcile_one(pending_id, path, before, after,
                                                    json.loads(details_text)))
                except (OSError, sqlite3.DatabaseError, SigningError):
                    continue  # read-only media or a conflicting file: other checks say so
        return done

    def _reconcile_one(self, pending_id: int, path: Path, before: str, after: str,
                       details: dict[str, Any]) -> str:
        try:
            data = path.read_bytes()
        except OSError:
            data = b""
        prefixes = {hashlib.sha256(data[:end]).hexdigest()
                    for end in (revision_ends(data) if data else [])}
        numbering = details.pop("event", None) == "numbered"
        if numbering:
            details.pop("path", None)
        if after in prefixes:
            identity, new = self._observe(path, data, quiet=True)
            with self._transaction():
                self._append("numbered" if numbering else "signed", identity, path,
                             {**details, "recovered": True, "revisions_sha256": new})
                self.db.execute("DELETE FROM pending WHERE id = ?", (pending_id,))
            return _("{path}: a signature written before an interruption was recorded"
                     ).format(path=path)
        with self._transaction():
            if numbering:  # the number stays taken: the register shows it was not used
                self._append("numbering-interrupted", None, path, {
                    "member": details.get("member"), "year": details.get("year"),
                    "symbol": details.get("symbol"), "number": details.get("number"),
                    "sha256_before": before})
            else:
                self._append("signing-interrupted", None, path, {
                    "member": details.get("member"), "role": details.get("role"),
                    "sha256_before": before})
            self.db.execute("DELETE FROM pending WHERE id = ?", (pending_id,))
        return _("{path}: an interrupted signing left no signature").format(path=path)

    def record(self, action: str, path: Path | None, details: dict[str, Any],
               document: str | None = None) -> None:
        with self._transaction():
            self._append(action, document, path, details)

    # --- anchoring the chain outside the ledger -----------------------------------------

    def head(self) -> tuple[int, str] | None:
        row = self.db.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def anchor(self, tsa: str, stamp: Callable[[bytes], bytes]) -> Anchor | None:
        """Have the chain head timestamped (``stamp``: digest -> RFC 3161 token, DER) and
        store the token. A rewrite of any event up to the head then no longer matches a
        token the ledger's holder cannot forge. None when the head is anchored already."""
        head = self.head()
        if head is None:
            return None
        seq, digest = head
        if self.db.execute("SELECT 1 FROM anchors WHERE seq = ?", (seq,)).fetchone():
            return None
        token = stamp(anchor_digest(digest))  # outside the transaction: a network call
        at = token_time(token).isoformat(timespec="seconds")
        with self._transaction():
            self.db.execute("INSERT OR IGNORE INTO anchors (seq, head, tsa, token, at) "
                            "VALUES (?, ?, ?, ?, ?)", (seq, digest, tsa, token, at))
        return Anchor(seq, digest, tsa, token, at)

    def anchors(self) -> list[Anchor]:
        """The stored anchors; a damaged row raises InputError (the audit reports it)."""
        try:
            rows = self.db.execute(
                "SELECT seq, head, tsa, token, at FROM anchors ORDER BY seq").fetchall()
        except sqlite3.OperationalError:  # a ledger from before anchors existed
            return []
        anchors = []
        for r in rows:
            if not (isinstance(r[0], int) and isinstance(r[3], bytes)
                    and all(isinstance(v, str) for v in (r[1], r[2], r[4]))):
                raise InputError(_("a timestamp row of the ledger is damaged"))
            anchors.append(Anchor(r[0], r[1], r[2], r[3], r[4]))
        return anchors

    def documents(self) -> list[tuple[str, str, list[tuple[int, int, str]]]]:
        """(identity, path last seen, [(number, size, sha256)]) of every document."""
        result = []
        for doc_id, identity, path in self.db.execute(
                "SELECT id, identity, path FROM documents ORDER BY id").fetchall():
            rows = self.db.execute("SELECT number, size, sha256 FROM revisions WHERE "
                                   "document_id = ? ORDER BY number", (doc_id,)).fetchall()
            result.append((identity, path, [(int(n), int(z), str(h)) for n, z, h in rows]))
        return result

    def disagreement(self, data: bytes) -> str | None:
        """How this file and the ledger's record of it disagree (None: they agree)."""
        ends = revision_ends(data)
        hashes = [hashlib.sha256(data[:end]).hexdigest() for end in ends]
        row = self.db.execute("SELECT id FROM documents WHERE identity = ?",
                              (hashes[0],)).fetchone()
        if row is None:
            return _("the ledger has no record of this document")
        # a row the hash chain does not name is not the ledger's record (an inserted row
        # would otherwise make a changed file look recorded)
        chained = self.chained_revisions().get(hashes[0], set())
        rows = [(number, size, sha) for number, size, sha in self.db.execute(
            "SELECT number, size, sha256 FROM revisions WHERE document_id = ? ORDER BY number",
            (row[0],)).fetchall() if sha in chained]
        for index, (number, size, sha) in enumerate(rows):
            if number != index + 1:
                return _("the ledger's record of revision {n} is missing").format(n=index + 1)
            if number <= len(hashes) and (hashes[number - 1] != sha or ends[number - 1] != size):
                return _("revision {n} differs from the ledger's record").format(n=number)
        if len(hashes) > len(rows):
            return _("revisions {first}-{last} of the file are not in the ledger").format(
                first=len(rows) + 1, last=len(hashes))
        if len(rows) > len(hashes):
            return _("revisions {first}-{last} the ledger recorded are missing from the "
                     "file").format(first=len(hashes) + 1, last=len(rows))
        return None

    # --- what was already checked ------------------------------------------------------

    def mark_checked(self, data: bytes) -> None:
        """Remember that this exact file (all its revisions) passed the signing checks."""
        ends = revision_ends(data)
        digest = hashlib.sha256(data[:ends[-1]]).hexdigest()
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        with self._transaction():
            self.db.execute("INSERT OR IGNORE INTO checked (sha256, revisions, at) "
                            "VALUES (?, ?, ?)", (digest, len(ends), now))

    def checked_revisions(self, data: bytes) -> int:
        """How many leading revisions of this file are byte-identical to a file that passed
        the signing checks before (0: none). Only a cache: deleting it costs time, not
        safety, and verification never relies on it."""
        ends = revision_ends(data)
        for n in range(len(ends), 0, -1):
            digest = hashlib.sha256(data[:ends[n - 1]]).hexdigest()
            if self.db.execute("SELECT 1 FROM checked WHERE sha256 = ?", (digest,)).fetchone():
                return n
        return 0

    # --- reading -----------------------------------------------------------------------

    def events(self) -> list[Event]:
        rows = self.db.execute(
            "SELECT seq, at, action, document, path, details, prev_hash, hash FROM events "
            "ORDER BY seq").fetchall()
        return [Event(r[0], r[1], r[2], r[3], r[4], _details(r[5]), r[6], r[7]) for r in rows]

    def first_event(self) -> Event | None:
        row = self.db.execute(
            "SELECT seq, at, action, document, path, details, prev_hash, hash FROM events "
            "ORDER BY seq LIMIT 1").fetchone()
        return Event(row[0], row[1], row[2], row[3], row[4], _details(row[5]), row[6],
                     row[7]) if row else None

    def document_paths(self) -> dict[str, str]:
        """Per document, where its latest event saw it (events are in the hash chain; the
        documents table's path is not)."""
        paths: dict[str, str] = {}
        for event in self.events():
            if event.document is not None and isinstance(event.path, str):
                paths[event.document] = event.path
        return paths

    def verify_chain(self) -> list[str]:
        """Problems with the hash chain (empty: intact)."""
        problems = []
        prev = GENESIS
        expected_seq = 1
        rows = self.db.execute(
            "SELECT seq, at, action, document, path, details, prev_hash, hash FROM events "
            "ORDER BY seq").fetchall()
        for seq, at, action, document, path, details, prev_hash, digest in rows:
            if seq != expected_seq:
                problems.append(_("event {n} is missing").format(n=expected_seq))
            if prev_hash != prev:
                problems.append(_("event {n} does not follow the event before it").format(n=seq))
            if _event_hash(prev_hash, seq, at, action, document, path, details) != digest:
                problems.append(_("event {n} was altered").format(n=seq))
            prev = digest
            expected_seq = seq + 1
        triggers = {r[0] for r in self.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        guards = ["events_no_update", "events_no_delete", "revisions_no_update",
                  "revisions_no_delete"]
        if self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'anchors'").fetchone():
            guards += ["anchors_no_update", "anchors_no_delete"]
        for name in guards:
            if name not in triggers:
                problems.append(_("the append-only guard {name} was removed").format(name=name))
        return problems
