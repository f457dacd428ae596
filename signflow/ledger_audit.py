"""`signflow log --verify`: is the ledger's account of what happened the one it gave then?

A hash chain alone proves nothing to someone who can rewrite the whole chain. The audit
therefore checks the ledger against two things its holder does not control:

- the chain head as a timestamp authority saw it (RFC 3161 tokens stored at each signing
  and archive): an event edited, inserted or removed before an anchored event no longer
  leads to the head the authority signed;
- the PDFs themselves: every revision a document has must be one the ledger recorded and
  the reverse, so that cutting events (and their anchor) off the end is seen in the files.

Each check fails closed: a token that cannot be read, a TSA certificate that does not chain
to the trust roots, a signing no timestamp covers, is a problem, never a silent pass.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from signflow.errors import failure_reason
from signflow.i18n import _, time_text
from signflow.ledger import Anchor, Ledger, anchor_digest, event_label
from signflow.pdf.reader import revision_ends

__all__ = ["LedgerAudit", "audit_ledger"]

# Events that change a document: each must be covered by a later anchor.
_ANCHORED_ACTIONS = ("signed", "archived")
# A TSA's clock and ours may differ a little; more than this is a rewritten time.
_CLOCK_SKEW = dt.timedelta(minutes=10)
# How long after a signing or archive its timestamp may come (one `sign` call of many
# documents, a slow TSA); later, the event is not proven to have been as recorded.
_TIMELY = dt.timedelta(hours=1)


@dataclass
class LedgerAudit:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    anchors: int = 0
    documents_compared: int = 0


def audit_ledger(ledger: Ledger, trust_roots: list[Any], files: list[Path] | None = None
                 ) -> LedgerAudit:
    """Every check of the ledger; ``files``: the PDFs to compare with it (default: each
    document where the ledger last saw it, when it is still there)."""
    audit = LedgerAudit()
    try:
        audit.problems += ledger.verify_chain()
        events = ledger.events()
        anchors = ledger.anchors()
        audit.anchors = len(anchors)
        _check_anchors(audit, events, anchors, trust_roots)
        _check_revision_rows(audit, ledger)
        _compare_files(audit, ledger, files)
    except Exception as exc:  # a damaged ledger is a finding, not a crash
        message = getattr(exc, "message", None) or failure_reason(exc)
        audit.problems.append(_("the ledger is damaged and cannot be fully checked: {reason}"
                                ).format(reason=message))
    return audit


# --- anchors ---------------------------------------------------------------------------

def _check_anchors(audit: LedgerAudit, events: list[Any], anchors: list[Anchor],
                   trust_roots: list[Any]) -> None:
    by_seq = {e.seq: e for e in events}
    last_anchor = anchors[-1].seq if anchors else 0
    # every event that records revisions of a document (a signing, an archive, a file
    # registered or seen with new revisions) must be covered: demoting a signing to "seen"
    # would otherwise pass
    uncovered = [e.seq for e in events if e.seq > last_anchor and _names_revisions(e)]
    if uncovered:
        audit.problems.append(_(
            "events {first}-{last} (signings, archives or revisions recorded) are not covered "
            "by a timestamp of the audit trail: they could have been rewritten unseen (the "
            "TSA was not given or not reachable, or the timestamp was removed); run signflow "
            "log --anchor").format(first=uncovered[0], last=uncovered[-1]))
    elif events and events[-1].seq > last_anchor:
        audit.notes.append(_("events {first}-{last} are not covered by a timestamp yet"
                             ).format(first=last_anchor + 1, last=events[-1].seq))
    if anchors and not trust_roots:
        audit.problems.append(_("the audit trail's timestamps cannot be checked without the "
                                "trust roots of the timestamp authority (--trust)"))
        return
    previous: dt.datetime | None = None
    proven: dict[int, dt.datetime] = {}
    for anchor in anchors:
        event = by_seq.get(anchor.seq)
        if event is None:
            audit.problems.append(_("event {n} was timestamped on {at} but is missing from "
                                    "the audit trail").format(n=anchor.seq,
                                                              at=time_text(anchor.at)))
            continue
        if event.hash != anchor.head:
            audit.problems.append(_(
                "the audit trail up to event {n} is not the one timestamped on {at}: an event "
                "up to it was altered, inserted or removed").format(n=anchor.seq,
                                                                     at=time_text(anchor.at)))
        problem, moment = _check_token(anchor, trust_roots)
        if problem is not None:
            audit.problems.append(_("timestamp of event {n}: {problem}").format(
                n=anchor.seq, problem=problem))
            continue
        assert moment is not None
        proven[anchor.seq] = moment
        if previous is not None and moment < previous:
            audit.problems.append(_("timestamp of event {n} is older than the one before it"
                                    ).format(n=anchor.seq))
        previous = moment
        recorded = _event_time(event.at)
        if recorded is None or recorded > moment + _CLOCK_SKEW:
            audit.problems.append(_(
                "event {n} says it happened at {at}, after its timestamp ({stamped})").format(
                    n=anchor.seq, at=time_text(event.at), stamped=time_text(moment)))
    # A token proves the head existed at its time, not earlier: a history rewritten today
    # and timestamped today would cover signings it dates years back. Each signing and
    # archive must be timestamped soon after it says it happened.
    anchor_seqs = [a.seq for a in anchors]
    for event in events:
        if event.action not in _ANCHORED_ACTIONS or event.seq > last_anchor:
            continue
        covering = next(seq for seq in anchor_seqs if seq >= event.seq)
        moment = proven.get(covering)
        recorded = _event_time(event.at)
        if moment is None or recorded is None:
            continue  # the covering token's own problem is reported above
        if moment - recorded > _TIMELY:
            audit.problems.append(_(
                "event {n} ({action}, {at}) was first timestamped {hours} hours later: what "
                "happened before that timestamp is not proven (the history may have been "
                "rewritten and timestamped again)").format(
                    n=event.seq, action=event_label(event.action), at=time_text(event.at),
                    hours=int((moment - recorded).total_seconds() // 3600)))


def _names_revisions(event: Any) -> bool:
    return event.document is not None and any(
        key in event.details for key in ("revisions_sha256", "sha256", "sha256_after"))


def _event_time(text: str) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else None


def _check_token(anchor: Anchor, trust_roots: list[Any]) -> tuple[str | None, dt.datetime | None]:
    """(problem, the token's time): the token is one the TSA made over this head."""
    from asn1crypto import cms, tsp
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
    from pyhanko.sign.validation.status import TimestampSignatureStatus
    from pyhanko_certvalidator import ValidationContext

    try:
        info = cms.ContentInfo.load(anchor.token)
        signed_data = info["content"]
        tst = signed_data["encap_content_info"]["content"].parsed
        if not isinstance(tst, tsp.TSTInfo):
            return _("not a timestamp token"), None
        moment = tst["gen_time"].native
        if moment.isoformat(timespec="seconds") != anchor.at:
            return _("the time recorded beside it ({at}) is not the token's ({token})").format(
                at=anchor.at, token=moment.isoformat(timespec="seconds")), None  # to the second
        expected = anchor_digest(anchor.head)

        def imprint(algorithm: str) -> bytes:
            # requested with SHA-256; any other algorithm cannot be over our digest
            return expected if algorithm == "sha256" else hashlib.sha256(b"").digest()

        # the TSA's certificate as of the token's time: an expired one years later is
        # still the one that vouched for the head then
        context = ValidationContext(trust_roots=trust_roots, moment=moment,
                                    allow_fetching=False, revocation_mode="soft-fail")
        kwargs = asyncio.run(validate_tst_signed_data(signed_data, context, imprint))
        status = TimestampSignatureStatus(**kwargs)
    except Exception as exc:  # an unreadable or forged token is a problem, never a pass
        return _("cannot be checked: {reason}").format(reason=failure_reason(exc)), None
    if not status.intact:
        return _("it was not made over this audit trail (its imprint differs)"), None
    if not status.valid:
        return _("its signature is not valid"), None
    if not status.trusted:
        return _("its authority does not chain to the trust roots"), None
    return None, moment


# --- revision rows against the chain --------------------------------------------------

def _check_revision_rows(audit: LedgerAudit, ledger: Ledger) -> None:
    chained = ledger.chained_revisions()
    for identity, path, rows in ledger.documents():
        named = chained.get(identity, set())
        recorded = {sha for _number, _size, sha in rows}
        for number, _size, sha in rows:
            if sha not in named:
                audit.problems.append(_(
                    "{path}: the ledger's record of revision {n} is not the one its audit log "
                    "names (the record was altered)").format(path=path, n=number))
        if named - recorded:
            audit.problems.append(_(
                "{path}: the audit log names {n} revision(s) the ledger has no record of (the "
                "records were removed)").format(path=path, n=len(named - recorded)))
        if [n for n, _z, _h in rows] != list(range(1, len(rows) + 1)):
            audit.problems.append(_("{path}: the ledger's revision numbers have gaps").format(
                path=path))


# --- the files -------------------------------------------------------------------------

def _compare_files(audit: LedgerAudit, ledger: Ledger, files: list[Path] | None) -> None:
    """Each document against its file: by default every document where its last event (in
    the hash chain) saw it, a file not found there being a problem; or the files named,
    each of which must be a document of the ledger."""
    documents = {identity: rows for identity, _path, rows in ledger.documents()}
    if files is None:
        located = ledger.document_paths()
        origin = _origin(ledger)
        targets: list[tuple[Path, str | None]] = []
        for identity in documents:
            recorded = located.get(identity)
            found = _locate(recorded, ledger, origin) if recorded else None
            if found is None:
                audit.problems.append(_(
                    "{path}: not found where the ledger last saw it, so not compared (name "
                    "the files: signflow log --verify FILE...)").format(
                        path=recorded or identity[:16]))
            else:
                targets.append((found, identity))
    else:
        targets = [(f, None) for f in files]
    compared: set[str] = set()
    for path, recorded_identity in targets:
        try:
            data = path.read_bytes()
            first = hashlib.sha256(data[:revision_ends(data)[0]]).hexdigest()
            problem = ledger.disagreement(data)
        except Exception as exc:  # unreadable file: say so, do not skip it silently
            audit.problems.append(_("{path}: cannot be compared with the ledger: {reason}"
                                    ).format(path=path, reason=failure_reason(exc)))
            continue
        if recorded_identity is not None and first != recorded_identity:
            audit.problems.append(_("{path}: the file there is not the document the ledger "
                                    "recorded").format(path=path))
            continue
        if first in documents and first not in compared:
            compared.add(first)
            audit.documents_compared += 1
        if problem is not None:
            audit.problems.append(_("{path}: {problem}").format(path=path, problem=problem))
    if files is not None and len(compared) < len(documents):
        audit.notes.append(_("{n} of the ledger's {m} documents were compared with a file"
                             ).format(n=len(compared), m=len(documents)))


def _origin(ledger: Ledger) -> Path | None:
    """Where the ledger was created (its first event says so), to find its documents when
    the whole folder was moved or copied (an archive, a backup)."""
    first = ledger.first_event()
    if first is not None and first.action == "created":
        where = first.details.get("ledger")
        if isinstance(where, str):
            return Path(where)
    return None


def _locate(recorded: str, ledger: Ledger, origin: Path | None) -> Path | None:
    """Where a recorded document is now. A path relative to the ledger is where it says,
    wherever the ledger is now. An absolute one (ledgers written before paths were kept
    relative): beside this ledger as it was beside the original when the ledger moved,
    else where it was recorded."""
    path = ledger.resolve(recorded)
    ledger_path = ledger.path
    candidates = [path]
    if (Path(recorded).is_absolute() and origin is not None
            and origin.absolute() != ledger_path.absolute()):
        try:
            moved = ledger_path.absolute().parent / path.relative_to(origin.parent)
        except ValueError:
            moved = None
        if moved is not None:
            candidates = [moved]  # a moved ledger is checked against its own folder's files
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None
