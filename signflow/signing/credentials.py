"""Signing keys: a PKCS#12 file, or a key on a PKCS#11 token (USB token, SoftHSM2).

One opened credential serves any number of documents: one passphrase or PIN entry, one
token login, one parsed private key. Secrets are passed in as bytes/str by the caller and
never logged or put into messages.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asn1crypto import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from signflow._internal.files import read_input
from signflow.errors import InputError, SigningError
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
    pin: str | object | Callable[[str], str | object] | None = None,
    matches: Callable[[x509.Certificate], bool] | None = None,
    who: str = "",
) -> Iterator[Credential]:
    """Log in to a PKCS#11 token once and yield a credential; logs out on exit.

    Without a key label, id or certificate label, the key is the one whose certificate
    ``matches`` the signer (``who`` names them in messages), on whichever token present
    holds it: nobody needs to know key labels. Vietnamese CA tokens have been seen where
    the key label differs from the certificate label: keys are then found by CKA_ID.

    ``pin``: the PIN, ``PINPAD`` for the token's own PIN pad, or a function that is given
    the token's label (known only once the key is found) and returns one of those.
    """
    import pkcs11 as p11
    from pyhanko.config.pkcs11 import TokenCriteria
    from pyhanko.sign import pkcs11 as hanko_p11

    from signflow.signing.tokens import (
        choose_certificate,
        inventory,
        load_module,
        pin_tries_left,
        token_failure,
    )

    load_module(lib)  # a missing or broken module: said before anything else
    found = inventory(lib, token_label=token_label, slot=slot)
    chosen = None
    if key_label is None and key_id is None and cert_label is None:
        if matches is None:
            raise InputError(_("name the key on the token: --key-label or --key-id"))
        chosen = choose_certificate(found, matches, who)
        key_id = chosen.key_id
        if key_id is None:
            raise InputError(_("the certificate of {who} on the token has no key id: name "
                               "its key with --key-label").format(who=who))
    elif not found.slots:
        raise InputError(_("no token found (label: {label}, slot: {slot})").format(
            label=token_label or "-", slot="-" if slot is None else slot))
    elif len(found.slots) > 1 and token_label is None and slot is None:
        raise InputError(_("the module has several tokens ({tokens}): name one with "
                           "--token-label or --slot (signflow keys list shows them)").format(
            tokens=", ".join(f"«{s['token']}»" for s in found.slots)))
    token = ({"token": chosen.token_label, "serial": chosen.token_serial} if chosen
             else found.slots[0])
    if chosen is None:  # a key named: its certificate must be there (checked before the PIN)
        on_token = [c for c in found.certificates if c.token_serial == token["serial"]]
        wanted_label = cert_label or (key_label if key_id is None else None)
        if not any((wanted_label is None or c.label == wanted_label)
                   and (key_id is None or c.key_id == key_id) for c in on_token):
            named = wanted_label or (key_id or b"").hex()
            raise InputError(_("the key «{key}» is not on the token «{token}»; signflow keys "
                               "list --pkcs11-lib {lib} shows the keys").format(
                key=named, token=token["token"], lib=lib))
    secret = pin(token["token"]) if callable(pin) else pin
    if secret is PINPAD and not any(s["pinpad"] for s in found.slots
                                    if s["serial"] == token["serial"]):
        raise InputError(_("the token «{token}» has no PIN pad: leave out --pinpad and type "
                           "the PIN").format(token=token["token"]))
    user_pin = p11.PROTECTED_AUTH if secret is PINPAD else secret
    try:
        session = hanko_p11.open_pkcs11_session(
            str(lib), token_criteria=TokenCriteria(serial=token["serial"].encode()
                                                   if token["serial"] else None,
                                                   label=token["token"] or None),
            user_pin=user_pin)
    except p11.PinIncorrect:
        tries = pin_tries_left(lib, token["serial"])
        raise SigningError(_("the token «{token}» refused the PIN{tries}: nothing was "
                             "signed").format(token=token["token"],
                                              tries=f" ({tries})" if tries else "")) from None
    except (p11.PKCS11Error, RuntimeError, OSError) as exc:
        raise SigningError(_("cannot open the token «{token}»: {reason}").format(
            token=token["token"], reason=token_failure(exc))) from None
    try:
        try:
            signer = hanko_p11.PKCS11Signer(
                session, key_label=key_label, key_id=key_id,
                cert_label=cert_label or (key_label if key_id is None else None),
                cert_id=key_id if cert_label is None else None,
                other_certs_to_pull=None)
            cert = signer.signing_cert
        except (p11.NoSuchKey, p11.MultipleObjectsReturned) as exc:
            named = key_label or cert_label or (key_id or b"").hex()
            raise InputError(_("the key «{key}» is not on the token «{token}» ({reason}); "
                               "signflow keys list --pkcs11-lib {lib} shows the keys").format(
                key=named, token=token["token"], reason=token_failure(exc),
                lib=lib)) from None
        except p11.PKCS11Error as exc:
            raise SigningError(_("cannot use the key on the token «{token}»: {reason}").format(
                token=token["token"], reason=token_failure(exc))) from None
        key_name = key_label or (key_id or b"").hex()
        yield Credential(signer=signer, cert=cert,
                         source=f"PKCS#11 {token['token']}/{key_name}")
    finally:
        with contextlib.suppress(Exception):
            session.close()
