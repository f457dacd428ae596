"""Long-term archiving: fresh validation data and a new document timestamp (PAdES B-LTA).

`signflow archive` is run after the last signature, and again every few years before the
newest document timestamp's certificate expires: each run embeds, in the DSS, the
certificates and revocation data (OCSP, CRL) that prove every signature and timestamp
valid today, then seals the whole file with a new RFC 3161 document timestamp. A validator
decades later can then check every signature offline, as of the time the chain proves.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from signflow._internal.files import append_revision, sha256_bytes
from signflow._internal.locks import writing
from signflow.errors import InputError, SigningError, failure_reason
from signflow.i18n import _
from signflow.signing.timestamps import http_timestamper
from signflow.validation.revisions import read_history


@dataclass(frozen=True)
class ArchiveOutcome:
    path: Path
    signatures: int
    sha256_before: str
    sha256_after: str
    # signatures made without a timestamp of their own (B-B): from now on their time is
    # proven by this document timestamp (they count as signed no later than it)
    untimestamped: int = 0


def _validation_context(trust_roots: list[Any], backend: Any) -> Any:
    from pyhanko_certvalidator import ValidationContext

    # hard-fail: revocation data must be obtainable for every certificate that declares
    # where to find it; an archive without it would not stand on its own later.
    return ValidationContext(trust_roots=trust_roots, allow_fetching=True,
                             revocation_mode="hard-fail", fetcher_backend=backend)


async def _archive(data: bytes, tsa_url: str, trust_roots: list[Any]) -> bytes:

    from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend

    backend = AIOHttpFetcherBackend()
    try:
        return await _archive_with(data, tsa_url, _validation_context(trust_roots, backend))
    finally:
        await backend.close()


async def _archive_with(data: bytes, tsa_url: str, vc: Any) -> bytes:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
    from pyhanko.sign.validation.dss import DocumentSecurityStore, collect_validation_info

    from signflow._internal.pyhanko.reader import open_pdf_reader

    reader = open_pdf_reader(io.BytesIO(data), strict=False)  # signflow's: reads signatures fast
    writer = IncrementalPdfFileWriter.from_reader(reader)
    existing = _vri_keys(reader)
    for emb in reader.embedded_signatures:
        paths = await collect_validation_info(emb, vc)
        # A signature's VRI entry, once written, stays as it is: a later archive that
        # rewrote it would be an unexplained change to pyHanko's difference analysis
        # (and to ours). The fresh data still goes into the DSS's own arrays.
        contents = emb.pkcs7_content.hex().encode("ascii")
        known = str(DocumentSecurityStore.sig_content_identifier(contents))[1:] in existing
        DocumentSecurityStore.supply_dss_in_writer(
            writer, None if known else contents, validation_context=vc, paths=paths)
    with_dss = io.BytesIO()
    writer.write(with_dss)
    stamper = PdfTimeStamper(http_timestamper(tsa_url, timeout=30))
    out = io.BytesIO()
    await stamper.async_timestamp_pdf(
        IncrementalPdfFileWriter(io.BytesIO(with_dss.getvalue()), strict=False), "sha256",
        validation_context=vc, output=out)
    return out.getvalue()


def _vri_keys(reader: Any) -> set[str]:
    """The VRI keys already in the document's DSS (upper-case SHA-1 hex)."""
    try:
        vri = reader.root["/DSS"]["/VRI"]
    except KeyError:
        return set()
    return {str(key)[1:] for key in vri}


def archive_document(path: Path, tsa_url: str, trust_roots: list[Any],
                     ledger: Any = None,
                     on_wait: Callable[[Path], None] | None = None) -> ArchiveOutcome:
    """Add validation data and a document timestamp; the file is unchanged on any error.
    The document's write lock is held throughout (see ``signflow._locks``)."""
    if not trust_roots:
        raise InputError(_("archiving needs the trust roots the signatures chain to: --trust"))
    with writing([path], on_wait=on_wait):
        return _archive_locked(path, tsa_url, trust_roots, ledger)


def _archive_locked(path: Path, tsa_url: str, trust_roots: list[Any],
                    ledger: Any) -> ArchiveOutcome:
    history = read_history(path)
    data = history.data
    regular = [s for s in history.signatures if not s.is_timestamp]
    if not regular:
        raise InputError(_("{path}: the document carries no signature to archive").format(
            path=path))
    if ledger is not None:
        ledger.observe(path, data)
    try:
        archived = asyncio.run(_archive(data, tsa_url, trust_roots))
    except Exception as exc:  # TSA or OCSP/CRL unreachable, garbage answers, invalid paths
        raise SigningError(_("{path}: archiving failed, the file is unchanged: {reason}")
                           .format(path=path, reason=failure_reason(exc))) from None
    after = append_revision(path, data, archived)
    if ledger is not None:
        ledger.record_archive(path, archived, {"signatures": len(regular), "tsa": tsa_url,
                                               "sha256_after": after})
    untimestamped = sum(1 for s in regular if not s.has_signature_timestamp)
    return ArchiveOutcome(path, len(regular), sha256_bytes(data), after, untimestamped)
