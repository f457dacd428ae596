"""Sign signflow documents: the right person, in the right field, in the right order.

Before anything is written, every document is checked (all of them, before the first is
signed): the field for this member and role exists and is empty; the certificate is the one
the roster expects and is valid now; a seal comes only after its own head; the roster's
order rule holds; every earlier signature is intact; and nothing but signatures, timestamps
and validation data was added since the fields were created. Any refusal leaves every file
byte-for-byte unchanged. Each signed file is written atomically (temporary file, fsync,
rename).

Signatures are PAdES (ETSI.CAdES.detached) with SHA-256, at level B-B, B-T (RFC 3161
signature timestamp), B-LT (plus revocation data in the DSS) or B-LTA (plus a document
timestamp).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from signflow._internal.files import append_revision, fault_point, sha256_bytes, unique_paths
from signflow._internal.locks import LOCK_TIMEOUT, writing
from signflow.errors import InputError, SigningError, failure_reason
from signflow.i18n import _
from signflow.identity import cert_sha256, common_name, load_trust_roots
from signflow.pdf.reader import remember_appended
from signflow.roster import Member, Role, Roster
from signflow.signing.appearance import appearance
from signflow.signing.credentials import Credential
from signflow.signing.policy import (
    certificate_problems,
    check_signing_image,
    document_problems,
)
from signflow.signing.timestamps import http_timestamper
from signflow.validation.revisions import DocumentHistory
from signflow.validation.verdicts import LEVEL_VALUES, PadesLevel

LEVELS = LEVEL_VALUES


@dataclass(frozen=True)
class SignSettings:
    level: PadesLevel = "B-B"
    tsa_url: str | None = None
    trust_roots: tuple[Path, ...] = ()  # for B-LT/B-LTA: where revocation data must chain to
    tsa_timeout: float = 30.0
    lock_timeout: float = LOCK_TIMEOUT  # how long to wait for another writer of a file

    def check(self) -> None:
        if self.level not in LEVELS:
            raise InputError(_("unknown PAdES level '{level}' (use {levels})").format(
                level=self.level, levels=", ".join(LEVELS)))
        if self.level != "B-B" and not self.tsa_url:
            raise InputError(_("level {level} needs a timestamp authority: --tsa URL").format(
                level=self.level))
        if self.level in ("B-LT", "B-LTA"):
            load_trust_roots(self.trust_roots)  # unreadable roots: said before any signing


@dataclass(frozen=True)
class SignOutcome:
    path: Path
    field: str
    member: str
    role: Role
    signer: str
    sha256_before: str
    sha256_after: str


# --- who may sign ------------------------------------------------------------------------








# --- document checks ---------------------------------------------------------------------






# --- signing -----------------------------------------------------------------------------


def _validation_context(settings: SignSettings, backend: Any) -> Any:
    from pyhanko_certvalidator import ValidationContext

    roots = load_trust_roots(settings.trust_roots)
    return ValidationContext(trust_roots=roots, allow_fetching=True, fetcher_backend=backend)


async def _sign_bytes(data: bytes, field: str, member: Member, role: Role,
                      credential: Credential, settings: SignSettings, now: dt.datetime,
                      session: Any, bytes_reserved: int | None = None) -> bytes:
    """One signature as a new revision of ``data``; ``session`` is the HTTP session shared
    by every document of the call (timestamps, revocation data). Without
    ``bytes_reserved`` pyHanko sizes the signature by making a dummy one first."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import SigSeedSubFilter
    from pyhanko.sign.general import SigningError as PdfSigningError
    from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend

    style, text_params = appearance(member, role, common_name(credential.cert), now)
    lt = settings.level in ("B-LT", "B-LTA")
    meta = signers.PdfSignatureMetadata(
        field_name=field,
        md_algorithm="sha256",
        subfilter=SigSeedSubFilter.PADES,
        location=member.place,
        embed_validation_info=lt,
        use_pades_lta=settings.level == "B-LTA",
        validation_context=_validation_context(settings, AIOHttpFetcherBackend(session))
        if lt else None,
        # Vietnamese officials' certificates carry non-repudiation; accept digital signature
        # too, as some CAs issue seal certificates with that bit only.
        signer_key_usage={"digital_signature"} if role == "seal" else {"non_repudiation"},
    )
    timestamper = None
    if settings.level != "B-B":
        if not settings.tsa_url:  # SignSettings.check() said so before any signing
            raise InputError(_("level {level} needs a timestamp authority: --tsa URL").format(
                level=settings.level))
        timestamper = http_timestamper(settings.tsa_url, timeout=int(settings.tsa_timeout),
                                       session=session)
    pdf_signer = signers.PdfSigner(meta, signer=credential.signer, timestamper=timestamper,
                                   stamp_style=style)

    async def attempt(reserved: int | None) -> bytes:
        writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
        out = io.BytesIO()
        await pdf_signer.async_sign_pdf(writer, output=out, appearance_text_params=text_params,
                                        bytes_reserved=reserved)
        return out.getvalue()

    if bytes_reserved is not None or timestamper is not None:
        return await attempt(bytes_reserved)
    try:
        return await attempt(_reservation(credential))
    except PdfSigningError as exc:
        if "larger than expected" not in str(exc):
            raise
        # an unusual signer (huge certificates, exotic attributes): let pyHanko measure
        return await attempt(None)








def _reservation(credential: Credential) -> int:
    """Room for the CMS signature (hex digits) without pyHanko's dry run, which builds a
    whole dummy signature just to measure it (a tenth of the cost of a B-B signature).

    The SignedData holds the certificates, the signature value and a bounded rest (the
    signed attributes, the SignerInfo with the issuer's name, algorithm identifiers and
    DER framing, well under 4 KiB). With a timestamp the token's size is only known by
    asking the TSA, so pyHanko's own estimate is kept there."""
    signer = credential.signer
    certs = {c.dump() for c in signer.cert_registry} | {credential.cert.dump()}
    key_bytes = (credential.cert.public_key.bit_size + 7) // 8
    # an RSA signature is key_bytes long; an ECDSA one (DER) at most 2 * key_bytes + 9
    size = sum(len(c) for c in certs) + 2 * key_bytes + 16 + 4096
    return 2 * size


def _reserved_size(signed: bytes, field: str) -> int | None:
    """The room pyHanko reserved for the signature in ``field`` (hex digits), to reuse for
    the next documents of the same call instead of estimating it again."""
    from signflow.pdf.reader import open_reader

    try:
        for emb in open_reader(signed).embedded_signatures:
            if str(emb.field_name) == field:
                return 2 * len(emb.sig_object.raw_get("/Contents"))
    except Exception:  # only an optimisation
        return None
    return None


def sign_documents(
    paths: Sequence[Path],
    roster: Roster,
    member_id: str,
    role: Role,
    credential: Credential,
    settings: SignSettings | None = None,
    ledger: Any = None,
    now: dt.datetime | None = None,
    on_wait: Callable[[Path], None] | None = None,
) -> list[SignOutcome]:
    """Check every document, then sign each one. All-or-nothing at the check stage.

    Each document's write lock is held from reading it to the rename of the signed file and
    the ledger's record: a second signer of the same file waits (``on_wait`` is told), then
    signs on top of the new revision, or is refused after ``settings.lock_timeout``."""
    settings = settings or SignSettings()
    settings.check()
    if role not in ("head", "seal"):
        raise InputError(_("unknown role '{role}' (use head or seal)").format(role=role))
    member = roster.member(member_id)
    check_signing_image(member, role)
    now = now or dt.datetime.now(dt.UTC)
    problems = certificate_problems(credential.cert, member, role, now,
                                    roster.cluster.organisation_attribute)
    if problems:
        raise SigningError(_("signing refused"), details=problems)
    unique = unique_paths(paths)
    with writing(unique, settings.lock_timeout, on_wait):
        return _check_and_sign(unique, roster, member, role, credential, settings, ledger,
                               now)


def _check_and_sign(paths: list[Path], roster: Roster, member: Member, role: Role,
                    credential: Credential, settings: SignSettings, ledger: Any,
                    now: dt.datetime) -> list[SignOutcome]:
    prepared: list[tuple[Path, bytes, str]] = []
    refusals: list[str] = []
    copies: dict[str, Path] = {}
    for path in paths:
        history = _read(path)
        known_good = 0
        if ledger is not None:
            identity = ledger.observe(path, history.data, roster=roster,
                                      reader=history.reader)
            if identity in copies:
                # the ledger keeps one history per document: signing two copies would fork
                # it, and the second copy would be refused only after it was written
                refusals.append(_("{path} is a copy of {first} (the same document): sign one "
                                  "copy, then pass it on").format(path=path,
                                                                  first=copies[identity]))
                continue
            copies[identity] = path
            known_good = ledger.checked_revisions(history.data)
        doc_problems = document_problems(history, roster, member, role, known_good)
        refusals += [f"{path}: {p}" for p in doc_problems]
        if not doc_problems:
            prepared.append((path, history.data, history.our_fields[(member.id, role)]))
    if refusals:
        raise SigningError(_("signing refused; no document was changed"), details=refusals)

    workers = _bulk_workers(prepared, credential)
    if workers > 1:
        return _sign_in_parallel(prepared, member, role, credential, settings, now, ledger,
                                 workers)
    return asyncio.run(_sign_prepared(prepared, member, role, credential, settings, now,
                                      ledger))


BULK_MINIMUM = 8  # documents per call before the work is shared between processes


def _bulk_workers(prepared: list[tuple[Path, bytes, str]], credential: Credential) -> int:
    """How many processes sign a bulk call: the CPU-bound part (building each signature)
    scales with cores. Only for keys held in memory (a token's session cannot cross into a
    child process) and only from a single-threaded process (forking with other threads
    running could deadlock the child)."""
    import multiprocessing
    import os
    import threading

    from pyhanko.sign.signers import SimpleSigner

    if (len(prepared) < BULK_MINIMUM or not isinstance(credential.signer, SimpleSigner)
            or threading.active_count() > 1
            or "fork" not in multiprocessing.get_all_start_methods()):
        return 1
    return max(1, min(os.cpu_count() or 1, len(prepared) // (BULK_MINIMUM // 2)))


def _sign_share(args: tuple) -> list[SignOutcome]:
    """One child's share of a bulk call (its own event loop, HTTP session, ledger
    connection; the parsed key was inherited from the parent)."""
    share, member, role, credential, settings, now, ledger_path = args
    from signflow.ledger import Ledger

    if ledger_path is None:
        return asyncio.run(_sign_prepared(share, member, role, credential, settings, now,
                                          None))
    with Ledger(ledger_path) as ledger:
        return asyncio.run(_sign_prepared(share, member, role, credential, settings, now,
                                          ledger))


def _sign_in_parallel(prepared: list[tuple[Path, bytes, str]], member: Member, role: Role,
                      credential: Credential, settings: SignSettings, now: dt.datetime,
                      ledger: Any, workers: int) -> list[SignOutcome]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    global _SHARED_CREDENTIAL
    _SHARED_CREDENTIAL = credential  # inherited by fork, not pickled
    shares = [prepared[i::workers] for i in range(workers)]
    ledger_path = getattr(ledger, "path", None)
    try:
        with ProcessPoolExecutor(max_workers=workers,
                                 mp_context=multiprocessing.get_context("fork")) as pool:
            results = list(pool.map(_sign_share_inherited, [
                (share, member, role, None, settings, now, ledger_path) for share in shares]))
    finally:
        _SHARED_CREDENTIAL = None
    order = {path: i for i, (path, _data, _field) in enumerate(prepared)}
    return sorted((o for part in results for o in part), key=lambda o: order[o.path])


_SHARED_CREDENTIAL: Credential | None = None


def _sign_share_inherited(args: tuple) -> list[SignOutcome]:
    share, member, role, _credential, settings, now, ledger_path = args
    assert _SHARED_CREDENTIAL is not None
    return _sign_share((share, member, role, _SHARED_CREDENTIAL, settings, now, ledger_path))


async def _sign_prepared(prepared: list[tuple[Path, bytes, str]], member: Member, role: Role,
                         credential: Credential, settings: SignSettings, now: dt.datetime,
                         ledger: Any) -> list[SignOutcome]:
    """Sign the checked documents one by one in one event loop with one HTTP session."""
    from pyhanko_certvalidator.fetchers.aiohttp_fetchers.util import LazySession

    session = LazySession()
    outcomes = []
    reserved: int | None = None  # same signer, same settings: same size, estimated once
    try:
        for path, data, field in prepared:
            try:
                signed = await _sign_bytes(data, field, member, role, credential, settings,
                                           now, session, reserved)
                if reserved is None and len(prepared) > 1:
                    reserved = _reserved_size(signed, field)
            except SigningError:
                raise
            except Exception as exc:  # TSA down or garbage, token errors, pyHanko errors
                raise SigningError(_("{path}: signing failed, the file is unchanged: {reason}")
                                   .format(path=path, reason=failure_reason(exc))) from None
            outcome = SignOutcome(path, field, member.id, role, common_name(credential.cert),
                                  sha256_bytes(data), sha256_bytes(signed))
            pending = None
            if ledger is not None:  # journalled first: a kill after the rename is recovered
                pending = ledger.intend_signature(path, outcome, cert_sha256(credential.cert))
            fault_point("before-rename")
            append_revision(path, data, signed)
            fault_point("after-rename")
            if ledger is not None:
                if settings.level in ("B-B", "B-T"):  # one revision (LT adds a DSS one)
                    remember_appended(data, signed)
                ledger.record_signature(path, signed, outcome, cert_sha256(credential.cert),
                                        pending)
                # every revision was checked above, and the new ones are our own signature
                ledger.mark_checked(signed)
            outcomes.append(outcome)
    finally:
        await session.close()
    return outcomes


def _read(path: Path) -> DocumentHistory:
    from signflow.validation.revisions import read_history

    return read_history(path)
