"""Who a certificate belongs to, as far as the roster is concerned.

A roster for real use pins each certificate: its SHA-256 fingerprint, or a subject that
names the person and the organisation (`signflow roster pin` writes both). Without a pin
a certificate matches only when its common name is the expected name *and* its
organisation attribute (O by default, or the one the roster declares) is the member's
unit: Vietnamese names collide often, and a namesake with a certificate from the same CA
must not sign another person's box. A certificate of another organisation never matches.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from signflow.errors import InputError
from signflow.i18n import _

if TYPE_CHECKING:
    from asn1crypto import x509

    from signflow.roster import CertificateExpectation, Member, Role

# how a certificate was matched to the roster
BY_FINGERPRINT = "sha256"
BY_SUBJECT = "subject"
BY_NAME = "name"  # common name and organisation only: the roster is not pinned
MATCH_METHODS = (BY_FINGERPRINT, BY_SUBJECT, BY_NAME)
ORGANISATION_ATTRIBUTES = ("O", "OU")


@dataclass(frozen=True)
class IdentityMatch:
    matches: bool
    method: str  # one of MATCH_METHODS: what the decision rested on


def cert_sha256(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.dump()).hexdigest()


def normalise(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def subject_pairs(cert: x509.Certificate) -> set[tuple[str, str]]:
    """(attribute, normalised value) of every attribute of the certificate's subject."""
    from cryptography import x509 as cx509

    name = cx509.load_der_x509_certificate(cert.dump()).subject
    pairs = set()
    for attr in name:
        key = attr.rfc4514_attribute_name.upper()
        value = attr.value if isinstance(attr.value, str) else attr.value.decode("utf-8", "replace")
        pairs.add((key, normalise(value)))
    return pairs


def subject_text(cert: x509.Certificate) -> str:
    """The subject as RFC 4514 text (most significant attribute last, as written there)."""
    from cryptography import x509 as cx509

    return cx509.load_der_x509_certificate(cert.dump()).subject.rfc4514_string()


def expected_pairs(subject: str) -> set[tuple[str, str]]:
    """'CN=Bùi Thị Yến, O=Thanh tra tỉnh Quảng Ninh' -> {(CN, ...), (O, ...)}."""
    pairs = set()
    for part in split_dn(subject):
        if "=" not in part:
            raise InputError(_("not a subject such as 'CN=..., O=...': {subject}").format(
                subject=subject))
        key, value = part.split("=", 1)
        pairs.add((key.strip().upper(), normalise(value)))
    return pairs


def split_dn(subject: str) -> list[str]:
    parts, current, escaped = [], "", False
    for ch in subject:
        if escaped:
            current += ch
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",;":
            parts.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def expectation_for(member: Member, role: Role) -> CertificateExpectation | None:
    return member.head.certificate if role == "head" else member.seal_certificate


def match_certificate(cert: x509.Certificate, member: Member, role: Role,
                      organisation_attribute: str = "O") -> IdentityMatch:
    """Is this the certificate the roster expects for this member and role?

    A pin in the roster decides alone: the fingerprint, and the subject too when both are
    given (as `signflow roster pin` writes them; both must hold). Without one: the head's
    certificate names the head (CN) and the member's unit (the organisation attribute);
    the seal's names the unit (CN) and the unit or its parent body."""
    expected = expectation_for(member, role)
    if expected is not None and expected.sha256:
        ok = cert_sha256(cert) == expected.sha256 and (
            expected.subject is None
            or expected_pairs(expected.subject) <= subject_pairs(cert))
        return IdentityMatch(ok, BY_FINGERPRINT)
    if expected is not None:
        return IdentityMatch(expected_pairs(expected.subject or "") <= subject_pairs(cert),
                             BY_SUBJECT)
    return IdentityMatch(names_member(cert, member, role, organisation_attribute), BY_NAME)


def names_member(cert: x509.Certificate, member: Member, role: Role,
                 organisation_attribute: str = "O") -> bool:
    """The rule without a pin: the head's certificate names the head (CN) and the unit
    (organisation attribute); the seal's names the unit (CN) and the unit or its parent."""
    pairs = subject_pairs(cert)
    organisations = {value for key, value in pairs if key == organisation_attribute}
    if role == "head":
        return ("CN", normalise(member.head.name)) in pairs and \
            normalise(member.unit) in organisations
    return ("CN", normalise(member.unit)) in pairs and bool(
        organisations & {normalise(member.unit), normalise(member.parent)})



# The smallest keys accepted, for signing and in verification alike: the national minimum
# for RSA (and pyHanko's default policy), its usual equivalent for elliptic curves.
MIN_KEY_BITS = {"rsa": 2048, "ec": 256}


def key_strength_problem(cert: x509.Certificate) -> str | None:
    """Why the certificate's key is too weak to rely on, or None. Ed25519 and Ed448 are
    strong by construction; any other algorithm (DSA, unknown) is named as unsupported."""
    public_key = cert.public_key
    algo = public_key.algorithm
    if algo in ("ed25519", "ed448"):
        return None
    if algo not in MIN_KEY_BITS:
        return _("unsupported key type {algo}").format(algo=str(algo).upper())
    bits = public_key.bit_size
    if bits < MIN_KEY_BITS[algo]:
        return _("the key of {signer} is too weak ({algo} {bits} bits)").format(
            signer=common_name(cert), algo=algo.upper(), bits=bits)
    return None


def common_name(cert: x509.Certificate) -> str:
    try:
        return str(cert.subject.native.get("common_name") or cert.subject.human_friendly)[:]
    except Exception:  # malformed names in hostile files
        return "?"


# --- certificates from files -----------------------------------------------------------


def load_trust_roots(paths: Iterable[Path | str]) -> list[x509.Certificate]:
    """The certificates in trust-root files (PEM or DER), or an InputError naming the file
    that cannot be read or holds no certificate."""
    from pyhanko.sign.general import load_certs_from_pemder

    roots: list[x509.Certificate] = []
    for path in paths:
        try:
            found = list(load_certs_from_pemder([str(path)]))
        except (OSError, ValueError) as exc:
            raise InputError(_("cannot read the trust root {path}: {reason}").format(
                path=path, reason=exc)) from None
        if not found:
            # e.g. a private key given by mistake: trusting nothing would call every
            # signature untrusted instead of saying what is wrong
            raise InputError(_("the trust root {path} holds no certificate (give the root "
                               "CA's certificate, PEM or DER)").format(path=path))
        roots += found
    return roots


def load_certificate(path: Path) -> x509.Certificate:
    """The one certificate in a PEM or DER file, or an InputError saying why not."""
    from pyhanko.sign.general import load_certs_from_pemder

    try:
        found = list(load_certs_from_pemder([str(path)]))
    except (OSError, ValueError) as exc:
        raise InputError(_("cannot read the certificate {path}: {reason}").format(
            path=path, reason=getattr(exc, "strerror", None) or exc)) from None
    if len(found) != 1:
        raise InputError(_("{path} must hold exactly one certificate (it holds {n})").format(
            path=path, n=len(found)))
    return found[0]
