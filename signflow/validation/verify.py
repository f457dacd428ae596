"""Verification for archivists: is every required signature there, valid, made by the right
person, and did nothing change after signing?

Per signature: integrity (the signed bytes), the signature value, the certificate path to a
given trust root, revocation (offline from the embedded validation data; with --online the
status must be established, fetched or embedded, or that is a problem), signing and
timestamp time, PAdES level, coverage, and what changed after it. A signature covered by a
valid chain of document timestamps is judged at the time its own timestamp proves, with
the embedded validation data, so that it still validates after its certificate has
expired (`--at`).

Changes after signing are judged by signflow's strict workflow policy (history.py), not by
generic "form filling is fine" rules: only later signatures in our own fields, validation
data and document timestamps may follow a signature.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from signflow import vn
from signflow.errors import InputError, failure_reason
from signflow.i18n import _
from signflow.identity import (
    BY_NAME,
    cert_sha256,
    common_name,
    key_strength_problem,
    match_certificate,
)
from signflow.roster import (
    ROLES,
    Roster,
    departments_left_out,
    departments_left_out_message,
    is_department,
    member_of,
)
from signflow.validation.revisions import DocumentHistory, SignatureRecord, read_history
from signflow.validation.verdicts import (
    FileVerdict,
    PadesLevel,
    SignatureVerdict,
    modification_label,
)

# seconds each OCSP, CRL or certificate request may take online before it counts as failed
FETCH_TIMEOUT = 10

# The validation contexts' revocation modes: certvalidator's revocation mode, and whether
# revocation data may be fetched. Offline, revocation is checked with the embedded data
# when the certificate says where (CRL/OCSP) and some applies, else left unknown
# ("soft-fail" without fetching); "none" judges a chain without revocation at all. Online
# ("hard-fail" with fetching) the status of every certificate that names a CRL or an OCSP
# responder must be established: a responder or CRL that cannot be reached or answers
# garbage fails the check instead of being skipped. "embedded" is the same requirement met
# by the embedded data alone (when it already proves the status, fetching is not needed),
# and "lenient" the online check tolerating failed fetches: it only tells a revocation
# status that could not be established apart from other failures, and collects why.
REVOCATION_MODES = {
    "offline": ("soft-fail", False),
    "none": ("none", False),
    "online": ("hard-fail", True),
    "embedded": ("hard-fail", False),
    "lenient": ("soft-fail", True),
}

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
        from signflow.identity import load_trust_roots

        return load_trust_roots(self.trust_roots)


@dataclass
class _Context:
    """What one file's verification knows beyond the policy."""

    policy: VerifyPolicy
    roots: list[Any]
    dss: dict[str, Any] = field(default_factory=dict)  # embedded validation data
    dss_problems: list[str] = field(default_factory=list)  # validation data that is unusable
    # revisions adding revocation data, with what the new data is about
    dss_updates: dict[int, frozenset[tuple[Any, ...]]] = field(default_factory=dict)
    ts_moments: dict[int, dt.datetime | None] = field(default_factory=dict)  # doc timestamps
    # the unbroken chain of trusted document timestamps ending with the newest one:
    # (revision, the time it proves), oldest first
    chain: list[tuple[int, dt.datetime]] = field(default_factory=list)
    newest_timestamp: int | None = None
    revocation_unknown: set[int] = field(default_factory=set)
    # online: the revisions whose certificate's revocation status could not be established,
    # with the problem that says why
    revocation_unchecked: dict[int, str] = field(default_factory=dict)
    # one validation context per (moment, revocation mode), shared by the signatures judged
    # at that moment, as pyHanko's own CLI shares one per file: the CA certificates' paths
    # and revocation checks are then worked out once, not once per signature
    contexts: dict[tuple[dt.datetime | None, str], Any] = field(default_factory=dict)
    # online: one HTTP fetcher backend per file, and one set of fetchers shared by all its
    # validation contexts (each OCSP response or CRL is fetched once per file, and a fetch
    # that failed stays failed)
    backend: Any = None
    fetchers: Any = None
    # one event loop for the file's operations (making one per operation costs more than
    # some operations); closed when the file is done
    loop: asyncio.AbstractEventLoop | None = None

    def proven_existence(self, revision: int) -> dt.datetime | None:
        """The time at which a trusted document timestamp proves that the signature of
        ``revision`` existed: the oldest one of the trusted chain that covers it."""
        for stamp_revision, moment in self.chain:
            if stamp_revision > revision:
                return moment
        return None


def _run(ctx: _Context, operation: Any) -> Any:
    """Run one top-level pyHanko operation in an event loop of its own. The HTTP session
    that fetching opened is closed within that loop, as certvalidator asks of every
    top-level operation (``ValidationContext.aclose``): a session left open is bound to a
    closed loop, and the next operation's fetches would fail on it."""

    async def run() -> Any:
        try:
            return await operation
        finally:
            if ctx.backend is not None:
                await ctx.backend.close()

    if ctx.loop is None:
        ctx.loop = asyncio.new_event_loop()
    return ctx.loop.run_until_complete(run())


def _iso(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return vn.iso_vn(moment)


def _worst(levels: Sequence[str]) -> str:
    return max(levels, key=MODIFICATION_ORDER.index) if levels else "none"


def _dss_updates(history: DocumentHistory) -> dict[int, frozenset[tuple[Any, ...]]]:
    """Revisions that added revocation data (OCSP responses, CRLs) to the DSS, each with
    what its new data is about: ("ocsp", serial number, issuer name hash) per single
    response, ("crl", issuer name hash) per CRL (read as written: whether it is good is
    certvalidator's verdict, see ``_has_revocation_data``)."""
    reader = history.reader
    updates: dict[int, frozenset[tuple[Any, ...]]] = {}
    seen: set[tuple[Any, ...]] = set()
    parsed: dict[bytes, frozenset[tuple[Any, ...]]] = {}
    previous = 0
    for revision in range(history.total_revisions):
        try:
            dss = reader.get_historical_resolver(revision).root.get("/DSS")
            dss = dss.get_object() if dss is not None else None
            lists = {} if dss is None else {
                k: dss[k].get_object() for k in ("/OCSPs", "/CRLs") if k in dss}
            count = sum(len(items) for items in lists.values())
            if count <= previous:
                previous = count
                continue
            about: set[tuple[Any, ...]] = set()
            for key, items in lists.items():
                for item in items:
                    data = item.get_object().data
                    if data not in parsed:
                        parsed[data] = _revocation_data_about(key, data)
                    about |= parsed[data]
        except Exception:  # an unreadable DSS adds no validation data (named elsewhere)
            continue
        updates[revision] = frozenset(about - seen)
        seen |= about
        previous = count
    return updates


def _revocation_data_about(key: str, data: bytes) -> frozenset[tuple[Any, ...]]:
    from asn1crypto import crl as asn1_crl
    from asn1crypto import ocsp as asn1_ocsp

    try:
        if key == "/CRLs":
            issuer = asn1_crl.CertificateList.load(data)["tbs_cert_list"]["issuer"]
            return frozenset({("crl", issuer.sha256)})
        basic = asn1_ocsp.OCSPResponse.load(data)["response_bytes"]["response"].parsed
        return frozenset(("ocsp", single["cert_id"]["serial_number"].native,
                          single["cert_id"]["issuer_name_hash"].native)
                         for single in basic["tbs_response_data"]["responses"])
    except Exception:  # about nothing that can be told
        return frozenset()


def _pades_level(record: SignatureRecord, history: DocumentHistory, time_proven: bool,
                 dss_updates: dict[int, frozenset[tuple[Any, ...]]],
                 has_data: bool) -> PadesLevel:
    """The PAdES baseline level the signature really has: B-T needs a trusted time
    assertion (its own signature timestamp, or a trusted document timestamp over it);
    B-LT, validation data added after it that certvalidator validated for its signer's
    certificate (another member's OCSP response in the same DSS proves nothing about this
    one); B-LTA, a document timestamp after the revision that added that data."""
    if not time_proven:
        return "B-B"
    later_dss = sorted(r for r in dss_updates if r > record.revision)
    if not later_dss or not has_data:
        return "B-T"
    try:
        cert = record.signer_cert
        serial, issuer = cert.serial_number, cert.issuer
        own = {("ocsp", serial, issuer.sha1), ("ocsp", serial, issuer.sha256),
               ("crl", issuer.sha256)}
    except Exception:
        own = set()
    added = next((r for r in later_dss if dss_updates[r] & own), later_dss[0])
    later_ts = [r for r in history.signatures if r.is_timestamp and r.revision >= added]
    return "B-LTA" if later_ts else "B-LT"


def _declares_revocation_sources(record: SignatureRecord) -> bool:
    try:
        cert = record.signer_cert
        return bool(cert.ocsp_urls or cert.crl_distribution_points)
    except Exception:
        return False


def _has_revocation_data(record: SignatureRecord, ctx: _Context, status: Any,
                         moment: dt.datetime | None) -> bool:
    """Whether certvalidator itself, with the embedded data alone, establishes the status
    of the signer's certificate (an OCSP response or CRL it validated: signature, issuer,
    scope, freshness). Data it does not accept (a delta CRL without its complete CRL,
    garbage or a forgery with the right issuer and serial) does not count."""
    from pyhanko_certvalidator.errors import RevokedError
    from pyhanko_certvalidator.revinfo.validate_crl import verify_crl
    from pyhanko_certvalidator.revinfo.validate_ocsp import verify_ocsp_response

    path = getattr(status, "validation_path", None)
    if path is None or not (ctx.dss.get("ocsps") or ctx.dss.get("crls")):
        return False
    try:
        cert = record.signer_cert
        context = _context_at(ctx, moment, "offline")
    except Exception:
        return False
    for check in (verify_ocsp_response, verify_crl):
        try:
            _run(ctx, check(cert, path, context))
            return True
        except RevokedError:  # data about it that says revoked
            return True
        except Exception:  # no match, or nothing certvalidator could establish
            continue
    return False


@dataclass
class _Judgement:
    """pyHanko's status of one signature and what signflow concluded about its time."""

    status: Any
    timestamp_trusted: bool = False  # its signature timestamp is intact, valid, trusted
    timestamp_problem: str | None = None
    judged_at: dt.datetime | None = None  # the moment its certificate was judged at


def _judged(record: SignatureRecord, ctx: _Context) -> _Judgement | Exception:
    """``_judge``, or what it raised (hostile or malformed signatures: reported by
    ``_verify_signature``, which then checks the signature's integrity alone)."""
    try:
        return _judge(record, ctx)
    except Exception as exc:
        return exc


def _verify_signature(record: SignatureRecord, history: DocumentHistory, ctx: _Context,
                      after: dict[int, list[str]],
                      judged: _Judgement | Exception) -> SignatureVerdict:
    from signflow.validation.revisions import signature_intact

    emb = record.embedded
    problems: list[str] = []
    try:
        cert = record.signer_cert
        signer = common_name(cert)
        cert_fp = cert_sha256(cert)
        # named here: pyHanko's policy refuses a weak key too, but its chain validation
        # then says only "not trusted", which sends an archivist after the wrong cause
        weak = key_strength_problem(cert)
    except Exception as exc:  # hostile CMS: no certificate to judge
        cert, signer, cert_fp, weak = None, None, None, None
        problems.append(_("the signer's certificate cannot be read ({reason})").format(
            reason=failure_reason(exc)))
    if weak:
        problems.append(weak)
    try:
        coverage_level = emb.evaluate_signature_coverage()
        coverage = COVERAGE_NAMES.get(coverage_level.name, "unclear")
    except Exception:  # named below as a coverage problem
        coverage = "unclear"
    intact = valid = trusted = False
    revoked: bool | None = None
    has_data = False
    ts_time: dt.datetime | None = None
    time_proven = False
    try:
        if isinstance(judged, Exception):
            raise judged
        judgement = judged
        status = judgement.status
        intact, valid = bool(status.intact), bool(status.valid)
        trusted = bool(status.trusted)
        revoked = _revoked(status)
        has_data = _has_revocation_data(
            record, ctx, status, ctx.ts_moments.get(record.revision, ctx.policy.at)
            if record.is_timestamp else judgement.judged_at)
        if record.revision in ctx.revocation_unknown:
            revoked = None
        elif revoked is False and not has_data and not (
                ctx.policy.online and _declares_revocation_sources(record)):
            # "not revoked" means data about this certificate said so: embedded data that
            # certvalidator validated, or online, the sources the certificate names (which
            # must answer); a chain trusted without any (a B-B signature offline, or a
            # certificate that names no OCSP responder nor CRL) has its status unknown
            revoked = None
        if record.is_timestamp:
            ts_time = getattr(status, "timestamp", None)
        else:
            if judgement.timestamp_problem:
                problems.append(judgement.timestamp_problem)
            if judgement.timestamp_trusted:
                ts_time = status.timestamp_validity.timestamp
            time_proven = judgement.timestamp_trusted or \
                ctx.proven_existence(record.revision) is not None
        if not trusted and revoked is not True:
            problems.append(_("the certificate does not chain to a trusted root at the "
                              "validation time"))
        if record.revision in ctx.revocation_unchecked:
            problems.append(ctx.revocation_unchecked[record.revision])
    except Exception as exc:  # hostile or malformed signatures: report, don't crash
        intact = signature_intact(record)
        valid = False
        unjudged = True  # whether the value verifies is not known: not said either way
        problems.append(_("the signature could not be validated: {reason}").format(
            reason=failure_reason(exc)))
    else:
        unjudged = False
    if not intact:
        problems.append(_("the signed content was changed (digest mismatch)"))
    elif not valid and not unjudged:
        problems.append(_("the signature value does not verify"))
    if revoked:
        problems.append(_("the signer's certificate is revoked"))
    if coverage not in ("entire_file", "entire_revision"):
        problems.append(_("the signature does not cover its whole revision ({coverage})").format(
            coverage=coverage))
    later = [r for r in after if r > record.revision]
    modifications = _worst([history.review(r).level
                            for r in range(record.revision + 1, history.total_revisions)]
                           + ["other" for r in later if after[r]])
    for revision in sorted(later):
        problems += [_("after signing, revision {n}: {problem}").format(n=revision + 1,
                                                                        problem=p)
                     for p in after[revision]]
    if modifications in ("annotations", "other") and not later:
        problems.append(_("changed after signing: {what}").format(
            what=modification_label(modifications)))
    identity = None
    roster = ctx.policy.roster
    if roster is not None and not record.is_timestamp:
        if (record.member is None or record.role is None
                or not roster.has_member(record.member)):
            problems.append(_("the signature is not in a field of a roster member ({field})")
                            .format(field=record.field))
        elif cert is not None:
            match = match_certificate(cert, roster.member(record.member), record.role,
                                      roster.cluster.organisation_attribute)
            identity = match.method
            if not match.matches:
                problems.append(_("signed with a certificate the roster does not expect for "
                                  "{member} ({role})").format(
                    member=record.member,
                    role=_("head") if record.role == "head" else _("seal")))
    claimed = record.claimed_time
    ok = not problems and intact and valid and trusted
    return SignatureVerdict(
        field=record.field, signer=signer, member=record.member, role=record.role,
        intact=intact, valid=valid, trusted=trusted, revoked=revoked, coverage=coverage,
        modifications=modifications, signing_time=_iso(claimed), timestamp=_iso(ts_time),
        level=None if record.is_timestamp else _pades_level(record, history, time_proven,
                                                             ctx.dss_updates, has_data),
        ok=ok, problems=problems, is_timestamp=record.is_timestamp,
        certificate_sha256=cert_fp, identity=identity)


def _revoked(status: Any) -> bool | None:
    if getattr(status, "revocation_details", None) is not None:
        return True
    if status.validation_path is not None and status.trusted:
        return False
    return None


def _dss_material(history: DocumentHistory) -> tuple[dict[str, list[Any]], list[str]]:
    """Certificates, OCSP responses and CRLs embedded in the document's DSS, and what could
    not be read there (a problem: validation data that is present must be usable)."""
    from asn1crypto import crl as asn1_crl
    from asn1crypto import ocsp as asn1_ocsp
    from pyhanko.sign.validation.dss import DocumentSecurityStore, NoDSSFoundError

    material: dict[str, list[Any]] = {"other_certs": [], "ocsps": [], "crls": []}
    try:
        store = DocumentSecurityStore.read_dss(history.reader)
    except NoDSSFoundError:
        return material, []
    except Exception as exc:
        return material, [_("the validation data (DSS) cannot be read ({reason})").format(
            reason=failure_reason(exc))]
    problems = []
    for key, read in (
            ("other_certs", lambda: list(store.load_certs())),
            ("ocsps", lambda: [asn1_ocsp.OCSPResponse.load(r.get_object().data)
                               for r in store.ocsps]),
            ("crls", lambda: [asn1_crl.CertificateList.load(c.get_object().data)
                              for c in store.crls])):
        try:
            items = read()
            for item in items:
                item.native  # noqa: B018 - parse fully: garbage raises here, not later
            material[key] = items
        except Exception as exc:
            problems.append(_("the validation data (DSS) cannot be read ({reason})").format(
                reason=failure_reason(exc)))
    return material, problems


def _context_at(ctx: _Context, moment: dt.datetime | None, mode: str | None = None) -> Any:
    """The shared validation context for ``moment`` in one of REVOCATION_MODES; by default
    "online" or "offline" as the policy says. Revocation data issued after the signing time
    counts (retroactive): that is how archived validation data works."""
    from signflow.validation._revinfo import validation_context

    mode = mode or ("online" if ctx.policy.online else "offline")
    shared = ctx.contexts.get((moment, mode))
    if shared is not None:
        return shared
    revocation, fetch = REVOCATION_MODES[mode]
    if fetch and ctx.fetchers is None:
        ctx.backend, ctx.fetchers = _fetchers()
    context = ctx.contexts[(moment, mode)] = validation_context(
        trust_roots=ctx.roots, moment=moment, allow_fetching=fetch,
        fetchers=ctx.fetchers if fetch else None, revocation_mode=revocation,
        other_certs=ctx.dss.get("other_certs", []), ocsps=ctx.dss.get("ocsps", []),
        crls=ctx.dss.get("crls", []))
    return context


def _fetchers() -> tuple[Any, Any]:
    """An HTTP fetcher backend and fetchers that keep certvalidator's fetcher contract: a
    response, CRL or certificate that cannot be obtained raises the fetch error of its kind
    (OCSPFetchError, CRLFetchError, CertificateFetchError). The aiohttp fetchers let some
    failures through as they are (a timeout as TimeoutError, an answer that parses into
    nonsense as TypeError); here they become the failed fetch they are, which the online
    check then reports as such."""
    from pyhanko_certvalidator import errors
    from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
    from pyhanko_certvalidator.fetchers.api import (
        CertificateFetcher,
        CRLFetcher,
        Fetchers,
        OCSPFetcher,
    )

    def failed(kind: type[Exception], what: str, urls: Sequence[str]) -> Exception:
        where = f" from {', '.join(urls)}" if urls else ""
        return kind(f"Failed to fetch {what}{where}")

    def ocsp_urls(cert: Any) -> list[str]:
        return list(getattr(cert, "ocsp_urls", None) or [])

    def crl_urls(cert: Any) -> list[str]:
        points = getattr(cert, "crl_distribution_points", None) or []
        return [p.url for p in points if getattr(p, "url", None)]

    class Ocsp(OCSPFetcher):
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def fetch(self, cert: Any, authority: Any) -> Any:
            try:
                return await self.inner.fetch(cert, authority)
            except errors.OCSPFetchError:
                raise
            except Exception as exc:
                raise failed(errors.OCSPFetchError, "OCSP response",
                             ocsp_urls(cert)) from exc

        def fetched_responses(self) -> Any:
            return self.inner.fetched_responses()

        def fetched_responses_for_cert(self, cert: Any) -> Any:
            return self.inner.fetched_responses_for_cert(cert)

    class Crl(CRLFetcher):
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def fetch(self, cert: Any, *, use_deltas: Any = None) -> Any:
            try:
                return await self.inner.fetch(cert, use_deltas=use_deltas)
            except errors.CRLFetchError:
                raise
            except Exception as exc:
                raise failed(errors.CRLFetchError, "CRL", crl_urls(cert)) from exc

        def fetched_crls(self) -> Any:
            return self.inner.fetched_crls()

        def fetched_crls_for_cert(self, cert: Any) -> Any:
            return self.inner.fetched_crls_for_cert(cert)

    class Certs(CertificateFetcher):
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def _issuers(self, fetch: Any, of: Any) -> Any:
            try:
                async for cert in fetch(of):
                    yield cert
            except errors.CertificateFetchError:
                raise
            except Exception as exc:
                raise failed(errors.CertificateFetchError, "issuer certificates",
                             []) from exc

        def fetch_cert_issuers(self, cert: Any) -> Any:
            return self._issuers(self.inner.fetch_cert_issuers, cert)

        def fetch_crl_issuers(self, certificate_list: Any) -> Any:
            return self._issuers(self.inner.fetch_crl_issuers, certificate_list)

        def fetched_certs(self) -> Any:
            return self.inner.fetched_certs()

    backend = AIOHttpFetcherBackend(per_request_timeout=FETCH_TIMEOUT)
    inner = backend.get_fetchers()
    return backend, Fetchers(ocsp_fetcher=Ocsp(inner.ocsp_fetcher),
                             crl_fetcher=Crl(inner.crl_fetcher),
                             cert_fetcher=Certs(inner.cert_fetcher))


def _fetch_failure(exc: BaseException) -> str:
    """One line on a failed OCSP/CRL fetch: what it says (it names the URL), then what
    caused it (connection refused, an HTTP status, a timeout, an unparsable answer)."""

    def first_line(e: BaseException) -> str:
        lines = str(e).strip().splitlines()
        text = lines[0] if lines else ""
        return text if len(text) <= 160 else text[:159] + "…"

    text = first_line(exc) or type(exc).__name__
    cause = exc.__cause__ or exc.__context__
    if cause is None:
        return text
    detail = first_line(cause)
    return f"{text} ({type(cause).__name__}{': ' + detail if detail else ''})"


def _settle(ctx: _Context, moment: dt.datetime | None, validate: Any,
            settled: Any) -> tuple[Any, str | None, str]:
    """Validate at ``moment``; online, establish the revocation status or say why not.

    ``validate(context)`` returns pyHanko's status; ``settled(status)`` says that another
    revocation mode would not change it (trusted, revoked, or broken for another reason).
    Returns the status, the problem when the revocation status could not be established
    online (None otherwise), and the mode of the context that gave the status.

    Offline, one validation with the embedded data, as always. Online, first with every
    declared revocation source checked (fetching); when that does not settle it, with the
    embedded data alone (which may prove the status where a fetch failed); when that does
    not either, with failed fetches tolerated: if the chain is then trusted, only the
    revocation status is missing, and that is the problem, with the failed fetches as its
    reason. Anything that raises propagates: the caller reports "not ok, because ...".
    """
    if not ctx.policy.online:
        return validate(_context_at(ctx, moment)), None, "offline"
    status = validate(_context_at(ctx, moment, "online"))
    if settled(status):
        return status, None, "online"
    embedded = validate(_context_at(ctx, moment, "embedded"))
    if settled(embedded):
        return embedded, None, "embedded"
    lenient_context = _context_at(ctx, moment, "lenient")
    seen = len(lenient_context.soft_fail_exceptions)
    lenient = validate(lenient_context)
    if not settled(lenient):  # not trusted for another reason: that reason is named
        return lenient, None, "lenient"
    failures = list(dict.fromkeys(_fetch_failure(e)
                                  for e in lenient_context.soft_fail_exceptions[seen:]))
    reason = "; ".join(failures) if failures else _(
        "no revocation data (OCSP/CRL) could be obtained for a certificate of the chain: is "
        "the CA's OCSP/CRL service reachable?")
    return lenient, _("the revocation status could not be checked online ({reason})").format(
        reason=reason), "lenient"


def _status_settled(status: Any) -> bool:
    return bool(status.trusted) or getattr(status, "revocation_details", None) is not None


def _timing_settled(tsv: Any) -> bool:
    return tsv is None or not (tsv.intact and tsv.valid) or bool(tsv.trusted)


def _judge(record: SignatureRecord, ctx: _Context) -> _Judgement:
    """pyHanko's signature status, with trust and revocation judged at a proven time.

    A time counts only when a trusted token proves it. The signature's own timestamp is
    checked first (intact, valid, its TSA chaining to the trust roots), at the time a
    trusted document timestamp proves, or now. Then the signer's certificate is judged:
    when a trusted chain of document timestamps covers the signature, at the time of its
    trusted signature timestamp, or else at the time the oldest covering document
    timestamp proves (with the embedded validation data: long-term validation);
    otherwise at the validation time itself (now, or --at). A claimed signing time is
    never used.
    """
    from pyhanko.sign.validation import async_validate_pdf_signature
    from pyhanko.sign.validation.generic_cms import collect_timing_info

    if record.is_timestamp:
        return _Judgement(_timestamp_status(record, ctx))
    covered = ctx.proven_existence(record.revision)
    ts_moment = covered or ctx.policy.at
    emb = record.embedded
    if covered is None and not ctx.policy.online:
        # Offline, with no document timestamp over it, the signer is judged at the
        # validation time whatever its timestamp says, in the context its timestamp is
        # judged in: pyHanko's one validation (which checks the signature timestamp with
        # that context first) answers both questions.
        context = _context_at(ctx, ts_moment)
        status = _run(ctx, async_validate_pdf_signature(
            emb, signer_validation_context=context, ts_validation_context=context,
            skip_diff=True))
        trusted_ts, problem = _timestamp_judgement(status.timestamp_validity, None)
        return _Judgement(status, trusted_ts, problem, ctx.policy.at)

    def timing(context: Any) -> Any:
        return _run(ctx, collect_timing_info(
            emb.signer_info, context, raw_digest=emb.compute_digest)).get("timestamp_validity")

    # the signature timestamp's TSA certificate: revocation as for the signer's (online, a
    # status that cannot be established means its time is not used)
    tsv, ts_unchecked, ts_mode = _settle(ctx, ts_moment, timing, _timing_settled)
    trusted_ts, problem = _timestamp_judgement(tsv, ts_unchecked)
    invalid = tsv is not None and not (tsv.intact and tsv.valid)
    if ts_unchecked is not None and not invalid:
        ts_mode = "online"  # its status is not established: pyHanko must not trust it either
    signer_moment = ctx.policy.at
    if covered is not None:
        signer_moment = min(covered, tsv.timestamp) if trusted_ts else covered
    ts_context = _context_at(ctx, ts_moment, ts_mode)

    def signer(context: Any) -> Any:
        return _run(ctx, async_validate_pdf_signature(
            emb, signer_validation_context=context, ts_validation_context=ts_context,
            skip_diff=True))

    status, unchecked, _mode = _settle(ctx, signer_moment, signer, _status_settled)
    _note_unchecked(ctx, record, unchecked)
    return _Judgement(status, trusted_ts, problem, signer_moment)


def _timestamp_judgement(tsv: Any, unchecked: str | None) -> tuple[bool, str | None]:
    """Whether the signature timestamp ``tsv`` (pyHanko's status, None when there is none)
    proves a time, and if not, why (``unchecked``: its revocation status could not be
    established online)."""
    trusted = tsv is not None and bool(tsv.intact and tsv.valid and tsv.trusted) and \
        unchecked is None
    if tsv is not None and not (tsv.intact and tsv.valid):
        return trusted, _("the signature timestamp is not valid")
    if unchecked is not None:
        return trusted, _("the signature timestamp is not used: {problem}").format(
            problem=unchecked)
    if tsv is not None and not tsv.trusted:
        return trusted, _("the signature timestamp is not from a trusted timestamp "
                          "authority: its time is not used")
    return trusted, None


def _note_unchecked(ctx: _Context, record: SignatureRecord, problem: str | None) -> None:
    if problem is not None:
        ctx.revocation_unchecked[record.revision] = problem
        ctx.revocation_unknown.add(record.revision)


def _timestamp_status(record: SignatureRecord, ctx: _Context) -> Any:
    from pyhanko.sign.validation.pdf_embedded import async_validate_pdf_timestamp

    moment = ctx.ts_moments.get(record.revision, ctx.policy.at)

    def validate(context: Any) -> Any:
        return _run(ctx, async_validate_pdf_timestamp(record.embedded,
                                                      validation_context=context))

    status, unchecked, _mode = _settle(ctx, moment, validate, _status_settled)
    _note_unchecked(ctx, record, unchecked)
    newest = record.revision == ctx.newest_timestamp
    if newest and not status.trusted and not ctx.policy.online:
        # Offline, years later, nobody has fresh revocation data for the newest document
        # timestamp (the embedded data has long passed its next update): its chain is then
        # judged without revocation, and the revocation status reported as unknown.
        status = validate(_context_at(ctx, moment, "none"))
        ctx.revocation_unknown.add(record.revision)
    return status


def _prove_times(history: DocumentHistory, ctx: _Context) -> None:
    """Walk the document timestamp chain from the newest back: the newest is judged at the
    validation time, each older one at the time of the next. The unbroken trusted part of
    the chain proves when everything before each of its timestamps existed."""
    from signflow.validation.revisions import signature_intact

    chain = [r for r in history.signatures if r.is_timestamp]
    ctx.newest_timestamp = chain[-1].revision if chain else None
    next_moment: dt.datetime | None = ctx.policy.at
    proven: list[tuple[int, dt.datetime]] = []
    for record in reversed(chain):
        ctx.ts_moments[record.revision] = next_moment
        try:
            status = _timestamp_status(record, ctx)
            # online, a timestamp whose TSA certificate's revocation status could not be
            # established proves nothing
            ok = bool(status.intact and status.valid and status.trusted) and \
                signature_intact(record) and status.timestamp is not None and \
                record.revision not in ctx.revocation_unchecked
        except Exception:  # a broken timestamp ends the chain; its verdict names why
            ok = False
        if not ok:
            break
        proven.append((record.revision, status.timestamp))
        next_moment = status.timestamp
    ctx.chain = sorted(proven)


def _completeness(history: DocumentHistory, roster: Roster,
                  verdicts: list[SignatureVerdict]
                  ) -> tuple[list[dict[str, str]], list[str], bool]:
    """Missing signatures, order problems, and whether who must sign is known at all:
    judged against the anchors in the page content the first signature covers (so that
    neither deleting a field nor appending a revision can make a signature "not
    required")."""
    problems: list[str] = []
    try:
        required = {(a.member, a.role) for a in history.anchors}
    except InputError as exc:
        required = set()
        problems.append(_("the signature anchors cannot be read: {reason}").format(
            reason=exc.message))
    if not required and not problems:
        problems.append(_("the signed content names no signers (no signature anchors)"))
    unknown = sorted({m for m, _r in required if not roster.has_member(m)})
    if unknown:
        problems.append(_("the document names members that are not in the roster: {ids}")
                        .format(ids=", ".join(unknown)))
    for member, left in departments_left_out(roster, {m for m, _r in required}).items():
        problems.append(departments_left_out_message(member, left))
        required |= {(signer, "head") for signer in left}  # missing, never waited for
    good = {(v.member, v.role) for v in verdicts if v.ok and not v.is_timestamp}
    missing = [{"member": m, "role": r}
               for m, r in sorted(required, key=lambda k: (roster.order_key(k[0]),
                                                            ROLES.index(k[1])
                                                            if k[1] in ROLES else 9))
               if (m, r) not in good]
    # order rules: a member's departments before its head, a seal after its own head;
    # heads in roster order when required
    revision = {(r.member, r.role): r.revision for r in history.signatures
                if r.member and not r.is_timestamp}
    for member, role in revision:
        if role == "seal":
            head = revision.get((member, "head"))
            if head is None or head > revision[(member, "seal")]:
                problems.append(_("the seal of {member} was applied before its head signed")
                                .format(member=member))
        elif is_department(member):
            head = revision.get((member_of(member), "head"))
            if head is not None and head < revision[(member, role)]:
                problems.append(_("{department} signed after the head of {member} had "
                                  "confirmed").format(department=member,
                                                      member=member_of(member)))
    if roster.cluster.signing_order == "roster":
        heads = [(roster.order_key(m), rev) for (m, r), rev in revision.items()
                 if r == "head" and not is_department(m)]
        heads.sort()
        if any(a[1] > b[1] for a, b in zip(heads, heads[1:], strict=False)):
            problems.append(_("the heads did not sign in roster order"))
    return missing, problems, bool(required)


def verify_file(path: Path, policy: VerifyPolicy, roots: list[Any] | None = None,
                history: DocumentHistory | None = None, *,
                split: bool = False) -> FileVerdict:
    """``history``: the file already read (the bytes judged are then exactly those a
    caller holds, e.g. ``signflow receive``, not the file as it is on disk now).
    ``split``: analyse the revisions in a forked child while this process judges the
    signatures (single-threaded callers on a machine with more than one core; the verdict
    is the same)."""
    at = policy.at or dt.datetime.now(dt.UTC)
    try:
        if history is None:
            history = read_history(path)
            if not split:
                # before anything else reads the objects: each is then parsed once (with
                # a child, the child scans)
                history.scan_duplicate_keys()
        history.signatures  # noqa: B018 - parse every signature now, inside the guard
    except InputError as exc:
        return FileVerdict(file=str(path), ok=False, complete=None, readable=False,
                           problems=[exc.message], validation_time=_iso(at))
    except Exception as exc:
        return FileVerdict(file=str(path), ok=False, complete=None, readable=False,
                           problems=[_("cannot read the signatures: {reason}").format(
                               reason=failure_reason(exc))],
                           validation_time=_iso(at))
    ctx = _Context(policy=policy, roots=roots if roots is not None else policy.load_roots())
    try:
        return _verify_history(path, history, ctx, at, split)
    finally:
        if ctx.loop is not None:
            try:
                ctx.loop.run_until_complete(ctx.loop.shutdown_asyncgens())
            finally:
                ctx.loop.close()


def _verify_history(path: Path, history: DocumentHistory, ctx: _Context,
                    at: dt.datetime, split: bool = False) -> FileVerdict:
    from signflow.validation import _split

    policy = ctx.policy
    history.prime_digests()
    # on a file with many revisions, pyHanko's difference analysis and the duplicate-key
    # scan run in a child process while this one judges the signatures (when asked to)
    child = _split.ForkedFindings(history) if split else None
    try:
        file_problems: list[str] = []
        ctx.dss, ctx.dss_problems = _dss_material(history)
        file_problems += ctx.dss_problems
        ctx.dss_updates = _dss_updates(history)
        _prove_times(history, ctx)
        judgements = [_judged(r, ctx) for r in history.signatures]
        if child is not None:
            history.apply_own_rules()  # what needs no difference analysis, meanwhile
            child.adopt()
    finally:
        if child is not None:
            child.close()
    # every revision after the first signature must be explained by the workflow, judged
    # against what that signature covers
    after: dict[int, list[str]] = {}
    for revision, message in history.workflow_problems():
        after.setdefault(revision, []).append(message)
    file_problems += history.geometry_problems()
    verdicts = [_verify_signature(r, history, ctx, after, judged)
                for r, judged in zip(history.signatures, judgements, strict=True)]
    regular = [v for v in verdicts if not v.is_timestamp]
    if not regular:
        file_problems.append(_("the document carries no signature"))
    complete: bool | None = None
    missing: list[dict[str, str]] = []
    if policy.roster is not None:
        if not history.is_signflow:
            file_problems.append(_("the document has no signflow signature fields in what "
                                   "its first signature covers"))
        missing, order_problems, known = _completeness(history, policy.roster, verdicts)
        file_problems += order_problems
        complete = known and not missing and history.is_signflow
    by_name = any(v.identity == BY_NAME for v in regular)
    ok = bool(regular) and all(v.ok for v in verdicts) and not file_problems and \
        complete is not False
    return FileVerdict(file=str(path), ok=ok, complete=complete, missing=missing,
                       problems=file_problems, signatures=verdicts, validation_time=_iso(at),
                       identities_by_name=by_name)


def _verify_one(args: tuple[Path, VerifyPolicy]) -> FileVerdict:
    path, policy = args
    return verify_file(path, policy)


def verify_files(paths: Sequence[Path], policy: VerifyPolicy,
                 workers: int | None = None) -> list[FileVerdict]:
    """Verify several files; with more than one, in parallel worker processes (the work is
    CPU-bound Python), results in the order given. One file with many revisions on a
    machine with more than one core: its revision analysis is shared with a child process
    (``verify_file(split=True)``)."""
    import os

    roots = policy.load_roots()  # fail early, once, on an unreadable trust root
    cores = workers or os.cpu_count() or 1
    if min(cores, len(paths)) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        if "fork" in multiprocessing.get_all_start_methods():
            # fork: the workers inherit the loaded libraries instead of importing them again
            with ProcessPoolExecutor(max_workers=min(cores, len(paths)),
                                     mp_context=multiprocessing.get_context("fork")) as pool:
                return list(pool.map(_verify_one, [(p, policy) for p in paths]))
    return [verify_file(p, policy, roots, split=cores > 1) for p in paths]
