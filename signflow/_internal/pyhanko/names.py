"""Certificate name comparison for the signatures signflow reads.

asn1crypto compares certificate names attribute by attribute after preparing each string
(RFC 5280 7.1, RFC 4518 stringprep: slow for Vietnamese names), and caches the prepared
strings on the parsed objects only. To find a signature's certificate, pyHanko compares the
issuer named by the SignerInfo with the issuer of every embedded certificate, on fresh
copies of the certificates each time (``generic_cms.extract_certs_for_validation`` untags
them), several times per signature; its byte-for-byte shortcut
(``general.match_issuer_serial``) never holds for the CA and root certificates, so the
same few pairs of names were compared the slow way again and again.

``SignflowName`` answers exactly as ``x509.Name`` (asn1crypto's own methods, asked once per
pair of encodings: the answer depends on the encodings only) and remembers the answers.
signflow's reader gives that class to the SignerInfo's issuer of every signature it
returns (``adopt_names``; the SignerInfo is parsed once and kept by pyHanko, unlike the
certificates); Python asks the subclass first whichever side of ``==`` it is on. No other
name object in the process is touched.

(The signing-certificate attribute is compared the slow way too, but pyHanko re-encodes it
for every check: out of reach. Upstream, comparing ``expected_issuer.untag().dump()`` in
``match_issuer_serial`` would let its byte shortcut hold there.)
"""

from __future__ import annotations

from typing import Any

from asn1crypto import x509

_EQUAL: dict[tuple[bytes, bytes], bool] = {}
_HASHABLE: dict[bytes, str] = {}
_LIMIT = 8192


class SignflowName(x509.Name):
    """``x509.Name`` whose comparisons (and prepared form) are remembered by encoding."""

    __hash__ = x509.Name.__hash__  # as asn1crypto's (none: names are not hashable)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, x509.Name):
            return False
        a, b = self.dump(), other.dump()
        key = (a, b) if a < b else (b, a)  # equality is symmetric
        known = _EQUAL.get(key)
        if known is None:
            if len(_EQUAL) > _LIMIT:
                _EQUAL.clear()
            # asn1crypto's answer (or its error, not remembered)
            known = _EQUAL[key] = bool(x509.Name.__eq__(self, other))
        return known

    def __ne__(self, other: object) -> bool:
        return not self == other

    @property
    def hashable(self) -> str:
        encoded = self.dump()
        value = _HASHABLE.get(encoded)
        if value is None:
            if len(_HASHABLE) > _LIMIT:
                _HASHABLE.clear()
            value = _HASHABLE[encoded] = x509.Name.hashable.fget(self)
        return value


def _adopt(name: Any) -> None:
    if type(name) is x509.Name:
        name.__class__ = SignflowName


def adopt_names(signed_data: Any) -> None:
    """Give ``SignflowName`` to the issuer that ``signed_data``'s SignerInfos name (a CMS
    SignedData, as parsed by signflow's reader). Anything unexpected is left as it is:
    this only ever makes comparisons faster."""
    try:
        for signer_info in signed_data["signer_infos"]:
            sid = signer_info["sid"]
            if sid.name == "issuer_and_serial_number":
                _adopt(sid.chosen["issuer"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return
