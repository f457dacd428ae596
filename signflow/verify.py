"""Verification for archivists: is every required signature there, valid, made by the right
person, and did nothing change after signing?

Per signature: integrity (the signed bytes), the signature value, the certificate path to a
given trust root, revocation (embedded validation data first; online only when allowed),
signing and timestamp time, PAdES level, coverage, and what changed after it. A signature
covered by a valid chain of document timestamps is judged at the time its own timestamp
proves, with the embedded validation data, so that it still validates after its
certificate has expired (`--at`).

Changes after signing are judged by signflow's strict workflow policy (history.py), not by
generic "form filling is fine" rules: only later signatures in our own fields, validation
data and document timestamps may follow a signature.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import vn
from .errors import InputError
from .history import DocumentHistory, SignatureRecord, common_name, read_history
from .i18n import _
from .roster import ROLES, Roster
from .sign import cert_sha256, certificate_matches
from .status import signature_time
from .verdicts import FileVerdict, SignatureVerdict

MODIFICATION_ORDER = ("none", "lta_updates", "form_filling", "annotations", "other")
COVERAGE_NAMES = {"ENTIRE_FILE": "entire_file", "ENTIRE_REVISION": "entire_revision",
                  "CONTIGUOUS_BLOCK_FROM_START": "partial", "UNCLEAR": "unclear"}


@dataclass(frozen=True)
class VerifyPolicy:
    """How to verify: against which trust roots and roster, as of when, online or not."""

    trust_roots: tuple[Path, ...] = ()
    roster: Roster | None = None
    at: dt.datetime | None = None
    online: bool = False

    def load_roots(self) -> list[Any]:
        from .credentials import load_trust_roots

        return load_trust_roots(self.trust_roots)


@dataclass
class _Context:
    """What one file's verification knows beyond the policy."""

    policy: VerifyPolicy
    roots: list[Any]
    dss: dict[str, list[Any]] = field(default_factory=dict)  # embedded validation data
    dss_updates: list[int] = field(default_factory=list)  # revisions adding revocation data
    ts_moments: dict[int, dt.datetime | None] = field(default_factory=dict)  # doc timestamps
    proven: dict[int, tuple[dt.datetime, dt.datetime]] = field(default_factory=dict)
    newest_timestamp: int | None = None
    revocation_unknown: set[int] = field(default_factory=set)
    # one validation context per (moment, revocation mode), shared by the signatures judged
    # at that moment, as pyHanko's own CLI shares one per file: the CA certificates' paths
    # and revocation checks are then worked out once, not once per signature
    contexts: dict[tuple[dt.datetime | None, str], Any] = field(default_factory=dict)


def _iso(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return vn.iso_vn(moment)


def _worst(levels: Sequence[str]) -> str:
    return max(levels, key=MODIFICATION_ORDER.index) if levels else "none"


def _dss_updates(history: DocumentHistory) -> list[int]:
    """Revisions that added revocation data (OCSP responses, CRLs) to the DSS."""
    reader = history.reader
    updates = []
    previous = 0
    for revision in range(history.total_revisions):
        try:
            dss = reader.get_historical_resolver(revision).root.get("/DSS")
            dss = dss.get_object() if dss is not None else None
            count = 0 if dss is None else sum(
                len(dss[k].get_object()) for k in ("/OCSPs", "/CRLs") if k in dss)
        except Exception:
            continue
        if count > previous:
            updates.append(revision)
        previous = count
    return updates


def _pades_level(record: SignatureRecord, history: DocumentHistory, has_ts: bool,
                 dss_updates: list[int]) -> str:
    if not has_ts:
        return "B-B"
    later_dss = [r for r in dss_updates if r > record.revision]
    if not later_dss:
        return "B-T"
    later_ts = [r for r in history.signatures if r.is_timestamp and r.revision >= later_dss[0]]
    return "B-LTA" if later_ts else "B-LT"


def _verify_signature(record: SignatureRecord, history: DocumentHistory, ctx: _Context,
                      after: dict[int, list[str]]) -> SignatureVerdict:
    from .sign import signature_intact

    emb = record.embedded
    problems: list[str] = []
    try:
        cert = record.signer_cert
        signer = common_name(cert)
        cert_fp = cert_sha256(cert)
    except Exception:
        cert, signer, cert_fp = None, None, None
        problems.append(_("the signer's certificate cannot be read"))
    try:
        coverage_level = emb.evaluate_signature_coverage()
        coverage = COVERAGE_NAMES.get(coverage_level.name, "unclear")
    except Exception:
        coverage = "unclear"
    intact = valid = trusted = False
    revoked: bool | None = None
    ts_time: dt.datetime | None = None
    try:
        status = _signature_status(record, ctx)
        intact, valid = bool(status.intact), bool(status.valid)
        trusted = bool(status.trusted)
        revoked = _revoked(status)
        if record.revision in ctx.revocation_unknown:
            revoked = None
        tsv = getattr(status, "timestamp_validity", None)
        if tsv is not None:
            ts_time = tsv.timestamp
            if not (tsv.intact and tsv.valid):
                problems.append(_("the signature timestamp is not valid"))
        elif record.is_timestamp:
            ts_time = getattr(status, "timestamp", None)
        if not trusted and revoked is not True:
            problems.append(_("the certificate does not chain to a trusted root at the "
                              "validation time"))
    except Exception as exc:  # hostile or malformed signatures: report, don't crash
        intact = signature_intact(record)
        valid = intact
        problems.append(_("the signature could not be validated: {reason}").format(
            reason=f"{type(exc).__name__}: {str(exc)[:160]}"))
    if ts_time is None and not record.is_timestamp:
        when, source = signature_time(record)
        if source == "timestamp":
            ts_time = when
    if not intact:
        problems.append(_("the signed content was changed (digest mismatch)"))
    elif not valid:
        problems.append(_("the signature value does not verify"))
    if revoked:
        problems.append(_("the signer's certificate is revoked"))
    if coverage not in ("entire_file", "entire_revision"):
        problems.append(_("the signature does not cover its whole revision ({coverage})").format(
            coverage=coverage))
    modifications = _worst([history.review(r).level
                            for r in range(record.revision + 1, history.total_revisions)])
    for revision in sorted(after):
        if revision > record.revision:
            problems += [_("after signing, revision {n}: {problem}").format(n=revision + 1,
                                                                            problem=p)
                         for p in after[revision]]
    roster = ctx.policy.roster
    if roster is not None and not record.is_timestamp and cert is not None:
        if record.member is None or not roster.has_member(record.member):
            problems.append(_("the signature is not in a field of a roster member ({field})")
                            .format(field=record.field))
        elif not certificate_matches(cert, roster.member(record.member), record.role or ""):
            problems.append(_("signed with a certificate the roster does not expect for "
                              "{member} ({role})").format(member=record.member,
                                                          role=record.role))
    claimed = record.claimed_time
    ok = not problems and intact and valid and trusted
    return SignatureVerdict(
        field=record.field, signer=signer, member=record.member, role=record.role,
        intact=intact, valid=valid, trusted=trusted, revoked=revoked, coverage=coverage,
        modifications=modifications, signing_time=_iso(claimed), timestamp=_iso(ts_time),
        level=None if record.is_timestamp else _pades_level(record, history, ts_time is not None,
                                                             ctx.dss_updates),
        ok=ok, problems=problems, is_timestamp=record.is_timestamp,
        certificate_sha256=cert_fp)


def _revoked(status: Any) -> bool | None:
    if getattr(status, "revocation_details", None) is not None:
        return True
    if status.validation_path is not None and status.trusted:
        return False
    return None


def _dss_material(history: DocumentHistory) -> dict[str, list[Any]]:
    """Certificates, OCSP responses and CRLs embedded in the document's DSS."""
    from asn1crypto import crl as asn1_crl
    from asn1crypto import ocsp as asn1_ocsp
    from pyhanko.sign.validation.dss import DocumentSecurityStore, NoDSSFoundError

    try:
        store = DocumentSecurityStore.read_dss(history.reader)
    except NoDSSFoundError:
        return {"other_certs": [], "ocsps": [], "crls": []}
    except Exception:  # a malformed DSS gives no validation data, not a crash
        return {"other_certs": [], "ocsps": [], "crls": []}
    material: dict[str, list[Any]] = {"other_certs": [], "ocsps": [], "crls": []}
    try:
        material["other_certs"] = list(store.load_certs())
        material["ocsps"] = [asn1_ocsp.OCSPResponse.load(r.get_object().data)
                             for r in store.ocsps]
        material["crls"] = [asn1_crl.CertificateList.load(c.get_object().data)
                            for c in store.crls]
    except Exception:
        pass
    return material


def _context_at(ctx: _Context, moment: dt.datetime | None,
                revocation: str = "soft-fail") -> Any:
    from pyhanko_certvalidator import ValidationContext

    shared = ctx.contexts.get((moment, revocation))
    if shared is not None:
        return shared
    # Revocation is checked whenever the certificate says where (CRL/OCSP): from the
    # embedded data, or online when allowed. Without any data the status stays unknown
    # (soft-fail) rather than failing the signature. Revocation data issued after the
    # signing time counts (retroactive): that is how archived validation data works.
    context = ctx.contexts[(moment, revocation)] = ValidationContext(
        trust_roots=ctx.roots, moment=moment, allow_fetching=ctx.policy.online,
        revocation_mode=revocation, retroactive_revinfo=True, **ctx.dss)
    return context


def _signature_status(record: SignatureRecord, ctx: _Context) -> Any:
    """pyHanko's signature status, with trust and revocation judged at the right time.

    Long-term validation (PAdES B-LTA) the way archives rely on it: when an intact chain of
    document timestamps, valid at the validation time, covers the signature and the
    validation data, the signature's certificate is judged at the time proven by its
    signature timestamp, with the embedded revocation data. Otherwise it is judged at the
    validation time itself (now, or --at).
    """
    from pyhanko.sign.validation import async_validate_pdf_signature

    if record.is_timestamp:
        return _timestamp_status(record, ctx)
    proven = ctx.proven.get(record.revision)
    signer_moment = proven[0] if proven else ctx.policy.at
    ts_moment = proven[1] if proven else ctx.policy.at
    return asyncio.run(async_validate_pdf_signature(
        record.embedded, signer_validation_context=_context_at(ctx, signer_moment),
        ts_validation_context=_context_at(ctx, ts_moment), skip_diff=True))


def _timestamp_status(record: SignatureRecord, ctx: _Context) -> Any:
    from pyhanko.sign.validation.pdf_embedded import async_validate_pdf_timestamp

    moment = ctx.ts_moments.get(record.revision, ctx.policy.at)
    status = asyncio.run(async_validate_pdf_timestamp(
        record.embedded, validation_context=_context_at(ctx, moment)))
    newest = record.revision == ctx.newest_timestamp
    if newest and not status.trusted and not ctx.policy.online:
        # Offline, years later, nobody has fresh revocation data for the newest document
        # timestamp (the embedded data has long passed its next update): its chain is then
        # judged without revocation, and the revocation status reported as unknown.
        status = asyncio.run(async_validate_pdf_timestamp(
            record.embedded, validation_context=_context_at(ctx, moment, "none")))
        ctx.revocation_unknown.add(record.revision)
    return status


def _prove_times(history: DocumentHistory, ctx: _Context) -> None:
    """Walk the document timestamp chain from the newest back: the newest is judged at the
    validation time, each older one at the time of the next. A signature followed by a
    valid chain is then judged at its own signature timestamp's time."""
    from .sign import signature_intact

    chain = [r for r in history.signatures if r.is_timestamp]
    ctx.newest_timestamp = chain[-1].revision if chain else None
    ts_moments = ctx.ts_moments
    proven = ctx.proven
    next_moment: dt.datetime | None = ctx.policy.at
    valid_from: int | None = None  # lowest revision of an unbroken valid chain
    for record in reversed(chain):
        ts_moments[record.revision] = next_moment
        try:
            status = _timestamp_status(record, ctx)
            ok = bool(status.intact and status.valid and status.trusted) and \
                signature_intact(record)
        except Exception:
            ok = False
        if not ok:
            break
        valid_from = record.revision
        next_moment = status.timestamp
    if valid_from is not None:
        for record in history.signatures:
            if record.is_timestamp or record.revision >= valid_from:
                continue
            when, source = signature_time(record)
            if source == "timestamp" and when is not None:
                # the chain's oldest valid timestamp proves the signature timestamp itself
                proven[record.revision] = (when, next_moment or when)


def _completeness(history: DocumentHistory, roster: Roster,
                  verdicts: list[SignatureVerdict]) -> tuple[list[dict[str, str]], list[str]]:
    """Missing signatures and order problems, judged against the anchors in the signed
    page content (so that deleting a field cannot make a signature "not required")."""
    problems: list[str] = []
    try:
        with_anchors = {(a.member, a.role) for a in find_anchors_bytes(history)}
    except Exception:
        with_anchors = set()
    required = with_anchors or set(history.our_fields)
    unknown = sorted({m for m, _r in required if not roster.has_member(m)})
    if unknown:
        problems.append(_("the document names members that are not in the roster: {ids}")
                        .format(ids=", ".join(unknown)))
    good = {(v.member, v.role) for v in verdicts if v.ok and not v.is_timestamp}
    order = {m.id: i for i, m in enumerate(roster.members)}
    missing = [{"member": m, "role": r}
               for m, r in sorted(required, key=lambda k: (order.get(k[0], 999),
                                                            ROLES.index(k[1])))
               if (m, r) not in good]
    # order rules: a seal after its own head; heads in roster order when required
    revision = {(r.member, r.role): r.revision for r in history.signatures
                if r.member and not r.is_timestamp}
    for member, role in revision:
        if role == "seal":
            head = revision.get((member, "head"))
            if head is None or head > revision[(member, "seal")]:
                problems.append(_("the seal of {member} was applied before its head signed")
                                .format(member=member))
    if roster.cluster.signing_order == "roster":
        heads = [(order.get(m, 999), rev) for (m, r), rev in revision.items() if r == "head"]
        heads.sort()
        if any(a[1] > b[1] for a, b in zip(heads, heads[1:], strict=False)):
            problems.append(_("the heads did not sign in roster order"))
    return missing, problems


def find_anchors_bytes(history: DocumentHistory) -> list[Any]:
    """Anchors of the original page content (pdfium reads the whole file)."""
    import tempfile

    from .fields import find_anchors

    with tempfile.NamedTemporaryFile(suffix=".pdf") as tmp:
        tmp.write(history.data)
        tmp.flush()
        return find_anchors(Path(tmp.name))


def verify_file(path: Path, policy: VerifyPolicy, roots: list[Any] | None = None) -> FileVerdict:
    at = policy.at or dt.datetime.now(dt.UTC)
    try:
        history = read_history(path)
        history.signatures  # noqa: B018 - parse every signature now, inside the guard
    except InputError as exc:
        return FileVerdict(file=str(path), ok=False, complete=None, readable=False,
                           problems=[exc.message], validation_time=_iso(at))
    except Exception as exc:
        return FileVerdict(file=str(path), ok=False, complete=None, readable=False,
                           problems=[_("cannot read the signatures: {reason}").format(
                               reason=f"{type(exc).__name__}: {str(exc)[:160]}")],
                           validation_time=_iso(at))
    ctx = _Context(policy=policy, roots=roots if roots is not None else policy.load_roots())
    history.prime_digests()
    ctx.dss = _dss_material(history)
    ctx.dss_updates = _dss_updates(history)
    _prove_times(history, ctx)
    file_problems: list[str] = []
    # every revision after a signature must be explained by the workflow (or, for files
    # without signflow fields, by the first signature's revision onwards)
    start = history.fields_revision
    if start is None and history.signatures:
        start = history.signatures[0].revision
    after: dict[int, list[str]] = {}
    if start is not None:
        for revision, message in history.workflow_problems(after=start):
            after.setdefault(revision, []).append(message)
    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)  # our own report says it all
    logging.getLogger("pyhanko_certvalidator").setLevel(logging.CRITICAL)
    verdicts = [_verify_signature(r, history, ctx, after) for r in history.signatures]
    regular = [v for v in verdicts if not v.is_timestamp]
    if not regular:
        file_problems.append(_("the document carries no signature"))
    complete: bool | None = None
    missing: list[dict[str, str]] = []
    if policy.roster is not None:
        missing, order_problems = _completeness(history, policy.roster, verdicts)
        file_problems += order_problems
        complete = not missing
    ok = bool(regular) and all(v.ok for v in verdicts) and not file_problems and \
        complete is not False
    return FileVerdict(file=str(path), ok=ok, complete=complete, missing=missing,
                       problems=file_problems, signatures=verdicts, validation_time=_iso(at))


def _verify_one(args: tuple[Path, VerifyPolicy]) -> FileVerdict:
    path, policy = args
    return verify_file(path, policy)


def verify_files(paths: Sequence[Path], policy: VerifyPolicy,
                 workers: int | None = None) -> list[FileVerdict]:
    """Verify several files; with more than one, in parallel worker processes (the work is
    CPU-bound Python), results in the order given."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    roots = policy.load_roots()  # fail early, once, on an unreadable trust root
    n = min(workers or os.cpu_count() or 1, len(paths))
    if n <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [verify_file(p, policy, roots) for p in paths]
    # fork: the workers inherit the loaded libraries instead of importing them again
    with ProcessPoolExecutor(max_workers=n,
                             mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(_verify_one, [(p, policy) for p in paths]))
