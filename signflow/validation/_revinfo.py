"""Validation contexts whose embedded OCSP responses are offered per certificate.

Without fetching, pyhanko-certvalidator offers *every* embedded OCSP response to the
revocation check of every certificate, and counts a response from the same issuer about
another serial number as a failed check ("OCSP response certificate serial number does not
match"), not as a response that does not apply (a response from another issuer is ignored
as it should be). A document where some members signed at B-LT (their OCSP responses in
the DSS) and others at B-B or B-T (no response of their own) then had every one of the
latter judged "not trusted" offline, where the same signature in a B-B-only document is
trusted with its revocation status unknown.

``SingleCertificateOcsp`` is certvalidator's own revocation manager (its public
extension point: ``ValidationContext(revinfo_manager=...)``) that leaves out, for each
certificate, the responses that are about *another certificate of the same issuer* (issuer
name hash and key hash equal, serial number different). Nothing else changes: a response
about this certificate (good, revoked, broken or stale), any response it cannot read, and
every CRL are offered as before, so a revoked or unverifiable status is still found.
"""

from __future__ import annotations

from typing import Any


def _other_certificate_of_same_issuer(container: Any, cert: Any, authority: Any) -> bool:
    """Whether the single response in ``container`` is about another certificate issued
    by ``authority``; False whenever that cannot be told (the response stays offered)."""
    from asn1crypto import x509

    if not isinstance(cert, x509.Certificate):  # attribute certificates: as certvalidator
        return False
    try:
        basic = container.ocsp_response_data["response_bytes"]["response"].parsed
        cert_id = basic["tbs_response_data"]["responses"][container.index]["cert_id"]
        algorithm = cert_id["hash_algorithm"]["algorithm"].native
        if algorithm not in ("sha1", "sha256"):
            return False
        same_issuer = (
            cert_id["issuer_name_hash"].native == getattr(cert.issuer, algorithm)
            and cert_id["issuer_key_hash"].native == getattr(authority.public_key, algorithm))
        return same_issuer and cert_id["serial_number"].native != cert.serial_number
    except Exception:
        return False


def _manager_class() -> type:
    from pyhanko_certvalidator.revinfo.manager import RevinfoManager

    class SingleCertificateOcsp(RevinfoManager):
        async def async_retrieve_ocsps(self, cert: Any, authority: Any) -> Any:
            responses = await super().async_retrieve_ocsps(cert, authority)
            return [r for r in responses
                    if not _other_certificate_of_same_issuer(r, cert, authority)]

    return SingleCertificateOcsp


_MANAGER: type | None = None


def validation_context(*, trust_roots: list[Any], moment: Any, allow_fetching: bool,
                       fetchers: Any, revocation_mode: str, other_certs: list[Any],
                       ocsps: list[Any], crls: list[Any]) -> Any:
    """A ``ValidationContext`` as signflow makes them (retroactive revocation data), with
    the embedded data in a ``SingleCertificateOcsp``."""
    from pyhanko_certvalidator import ValidationContext
    from pyhanko_certvalidator.ltv.poe import POEManager
    from pyhanko_certvalidator.registry import CertificateRegistry
    from pyhanko_certvalidator.revinfo.archival import CRLContainer, OCSPContainer

    global _MANAGER
    if _MANAGER is None:
        _MANAGER = _manager_class()
    fetchers = fetchers if allow_fetching else None
    registry = CertificateRegistry.build(
        other_certs, cert_fetcher=fetchers.cert_fetcher if fetchers is not None else None)
    manager = _MANAGER(
        certificate_registry=registry, poe_manager=POEManager(),
        crls=[CRLContainer(c) for c in crls],
        ocsps=[single for response in ocsps for single in OCSPContainer.load_multi(response)],
        fetchers=fetchers)
    return ValidationContext(
        trust_roots=trust_roots, moment=moment, allow_fetching=allow_fetching,
        fetchers=fetchers, revocation_mode=revocation_mode, retroactive_revinfo=True,
        certificate_registry=registry, revinfo_manager=manager)
