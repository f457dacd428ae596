"""Signing keys: a PKCS#12 file, or a key on a PKCS#11 token (USB token, SoftHSM2).

One opened credential serves any number of documents: one passphrase or PIN entry, one
token login, one parsed private key. Secrets are passed in as bytes/str by the caller and
never logged or put into messages.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asn1crypto import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from signflow._internal.files import read_input
from signflow.errors import InputError, SigningError, ToolMissingError
from signflow.i18n import _


@dataclass
class Credential:
    """An opened signing key with its certificate, ready for pyHanko."""

    signer: Any  # pyhanko.sign.signers.Signer
    cert: x509.Certificate
    source: str  # for messages: "PKCS#12 <file>" or "PKCS#11 <token>/<key>"


def _simple_signer_class() -> type:
    """signflow's ``ParsedKeySigner``; pyHanko's own ``SimpleSigner`` when signflow's
    pyHanko overrides are off (``signflow._internal.pyhanko.supported``)."""
    from pyhanko.sign.general import get_pyca_cryptography_hash
    from pyhanko.sign.signers import SimpleSigner

    from signflow._internal.pyhanko import supported

    if not supported():
        return SimpleSigner

    class ParsedKeySigner(SimpleSigner):
        """SimpleSigner that parses its private key once, not twice per signature
        (pyHanko re-loads the DER key on every raw signature, about 0.05 s each)."""

        _parsed: Any = None

        def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
            mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
            try:
                algo = mechanism.signature_algo
            except ValueError:
                algo = mechanism["algorithm"].native
            if algo not in ("rsassa_pkcs1v15", "ecdsa"):
                return super().sign_raw(data, digest_algorithm)
            if self._parsed is None:
                self._parsed = serialization.load_der_private_key(
                    self.signing_key.dump(), password=None)
            hash_algo = get_pyca_cryptography_hash(digest_algorithm)
            if algo == "ecdsa" and isinstance(self._parsed, ec.EllipticCurvePrivateKey):
                return self._parsed.sign(data, ec.ECDSA(hash_algo))
            if isinstance(self._parsed, rsa.RSAPrivateKey):
                return self._parsed.sign(data, padding.PKCS1v15(), hash_algo)
            return super().sign_raw(data, digest_algorithm)

    return ParsedKeySigner


def open_pkcs12(path: Path, passphrase: bytes | None) -> Credential:
    """Load a PKCS#12 file; a wrong passphrase or a damaged file is an InputError."""
    from cryptography.hazmat.primitives.serialization import pkcs12
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    data = read_input(path)
    try:
        key, cert, others = pkcs12.load_key_and_certificates(data, passphrase)
    except (ValueError, TypeError):
        raise InputError(_("{path}: cannot open the PKCS#12 file (wrong passphrase, or not a "
                           "PKCS#12 file)").format(path=path)) from None
    if key is None or cert is None:
        raise InputError(_("{path}: the PKCS#12 file holds no private key and certificate")
                         .format(path=path))
    from asn1crypto import keys as asn1_keys

    der = lambda c: c.public_bytes(serialization.Encoding.DER)  # noqa: E731
    signing_cert = x509.Certificate.load(der(cert))
    chain = [x509.Certificate.load(der(c)) for c in others or []]
    key_info = asn1_keys.PrivateKeyInfo.load(key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    signer = _simple_signer_class()(
        signing_cert=signing_cert, signing_key=key_info,
        cert_registry=SimpleCertificateStore.from_certs([signing_cert, *chain]))
    if hasattr(signer, "_parsed"):
        signer._parsed = key  # ParsedKeySigner: the key cryptography has just parsed
    return Credential(signer=signer, cert=signing_cert, source=f"PKCS#12 {path.name}")


PINPAD = object()  # ask the token's own PIN pad (protected authentication path)


@contextlib.contextmanager
def open_pkcs11(
    lib: str | Path,
    *,
    token_label: str | None = None,
    slot: int | None = None,
    key_label: str | None = None,
    key_id: bytes | None = None,
    cert_label: str | None = None,
    pin: str | object | None = None,
) -> Iterator[Credential]:
    """Log in to a PKCS#11 token once and yield a credential; logs out on exit.

    Vietnamese CA tokens have been seen where the key label differs from the certificate
    label: keys can be chosen by CKA_ID, and the certificate is then found by the same id.
    """
    try:
        import pkcs11 as p11
        from pyhanko.config.pkcs11 import TokenCriteria
        from pyhanko.sign import pkcs11 as hanko_p11
    except ImportError:  # pragma: no cover - part of our dependencies
        raise ToolMissingError(_("PKCS#11 support is not installed (python-pkcs11)")) from None
    if not Path(lib).exists():
        raise ToolMissingError(_("PKCS#11 module not found: {path}").format(path=lib))
    if key_label is None and key_id is None and cert_label is None:
        raise InputError(_("name the key on the token: --key-label or --key-id"))
    user_pin = p11.PROTECTED_AUTH if pin is PINPAD else pin
    try:
        session = hanko_p11.open_pkcs11_session(
            str(lib), slot_no=slot,
            token_criteria=TokenCriteria(label=token_label) if token_label else None,
            user_pin=user_pin)
    except p11.PinIncorrect:
        raise SigningError(_("the token refused the PIN")) from None
    except p11.PinLocked:
        raise SigningError(_("the token's PIN is locked")) from None
    except p11.NoSuchToken:
        raise InputError(_("no token found (label: {label}, slot: {slot})").format(
            label=token_label or "-", slot="-" if slot is None else slot)) from None
    except (p11.PKCS11Error, RuntimeError, OSError) as exc:
        raise SigningError(_("cannot open the PKCS#11 token: {reason}").format(
            reason=type(exc).__name__)) from None
    try:
        try:
            signer = hanko_p11.PKCS11Signer(
                session, key_label=key_label, key_id=key_id,
                cert_label=cert_label or (key_label if key_id is None else None),
                cert_id=key_id if cert_label is None else None,
                other_certs_to_pull=None)
            cert = signer.signing_cert
        except (p11.NoSuchKey, p11.MultipleObjectsReturned) as exc:
            raise InputError(_("key or certificate not found on the token ({reason})").format(
                reason=type(exc).__name__)) from None
        except p11.PKCS11Error as exc:
            raise SigningError(_("cannot use the key on the token: {reason}").format(
                reason=type(exc).__name__)) from None
        label = token_label or (f"slot {slot}" if slot is not None else "token")
        yield Credential(signer=signer, cert=cert,
                         source=f"PKCS#11 {label}/{key_label or (key_id or b'').hex()}")
    finally:
        with contextlib.suppress(Exception):
            session.close()
