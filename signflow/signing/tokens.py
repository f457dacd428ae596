"""What is on the PKCS#11 tokens a module can reach, and which roster member each key is.

Certificates on a token are public objects: they are read without a PIN, so the key of a
member can be found before anyone is asked for a PIN (its certificate's CKA_ID is the
key's). With one matching key on the tokens present, nobody needs to know key labels;
Vietnamese CA tokens have been seen whose key label differs from the certificate label.

Failures of the module or the token are turned into one message in the user's language
that says what to do (``token_failure``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from signflow.errors import InputError, SigningError, ToolMissingError, token_error_meaning
from signflow.i18n import _
from signflow.identity import cert_sha256, common_name

if TYPE_CHECKING:
    from asn1crypto import x509


@dataclass(frozen=True)
class TokenCertificate:
    """A certificate found on a token, with what ties it to its key."""

    slot: int  # the slot's id, as the module numbers it
    token_label: str
    token_serial: str
    label: str | None  # the certificate's CKA_LABEL
    key_id: bytes | None  # CKA_ID: the key with the same id signs for it
    cert: x509.Certificate

    @property
    def subject(self) -> str:
        return self.cert.subject.human_friendly

    @property
    def valid(self) -> tuple[dt.datetime, dt.datetime]:
        validity = self.cert["tbs_certificate"]["validity"]
        return validity["not_before"].native, validity["not_after"].native

    @property
    def sha256(self) -> str:
        return cert_sha256(self.cert)

    def describe(self) -> str:
        key = self.key_id.hex() if self.key_id else "-"
        return _("{name} (token «{token}», key id {key})").format(
            name=common_name(self.cert), token=self.token_label, key=key)


@dataclass
class TokenInventory:
    """Slots, tokens and certificates one PKCS#11 module reaches."""

    module: str
    slots: list[dict[str, Any]] = field(default_factory=list)  # id, description, token...
    certificates: list[TokenCertificate] = field(default_factory=list)


def load_module(lib: str | Path) -> Any:
    """The PKCS#11 module (initialised once per process by python-pkcs11)."""
    try:
        import pkcs11
    except ImportError:  # pragma: no cover - part of our dependencies
        raise ToolMissingError(_("PKCS#11 support is not installed (python-pkcs11)")) from None
    if not Path(lib).exists():
        raise ToolMissingError(_("PKCS#11 module not found: {path} (install the token's "
                                 "software, or give the path of its .so file)").format(path=lib))
    try:
        return pkcs11.lib(str(lib))
    except (pkcs11.PKCS11Error, RuntimeError, OSError) as exc:
        raise ToolMissingError(_("{path} is not a usable PKCS#11 module: {reason}").format(
            path=lib, reason=token_failure(exc))) from None


def inventory(lib: str | Path, token_label: str | None = None,
              slot: int | None = None, rescan: bool = False) -> TokenInventory:
    """Every token present (or the one named) and the certificates on it, read without a
    PIN.

    ``rescan``: finalise and initialise the module first, for modules that see tokens
    plugged in only when initialised (SoftHSM2 among them; real middleware usually updates
    its slot list by itself). Sessions open in this process become invalid: only for a
    caller that holds none (the ceremony between two signers)."""
    import pkcs11
    from asn1crypto import x509 as asn1_x509
    from pkcs11 import Attribute, ObjectClass

    module = load_module(lib)
    if rescan:
        try:
            module.reinitialize()
        except pkcs11.PKCS11Error as exc:
            raise SigningError(_("cannot list the token slots: {reason}").format(
                reason=token_failure(exc))) from None
    found = TokenInventory(module=str(lib))
    try:
        slots = module.get_slots(token_present=True)
    except pkcs11.PKCS11Error as exc:
        raise SigningError(_("cannot list the token slots: {reason}").format(
            reason=token_failure(exc))) from None
    for each in slots:
        try:
            token = each.get_token()
        except pkcs11.PKCS11Error:
            continue  # a reader whose card went away while we looked
        if not token.flags & pkcs11.TokenFlag.TOKEN_INITIALIZED:
            continue  # an empty slot of the module (SoftHSM keeps one free), nothing on it
        label = (token.label or "").strip()
        if token_label is not None and label != token_label:
            continue
        if slot is not None and each.slot_id != slot:
            continue
        serial = _text(token.serial)
        pinpad = bool(token.flags & pkcs11.TokenFlag.PROTECTED_AUTHENTICATION_PATH)
        found.slots.append({"slot": each.slot_id, "description": _text(each.slot_description),
                            "token": label, "serial": serial, "pinpad": pinpad})
        try:
            with token.open() as session:  # public objects only: no PIN
                for obj in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE}):
                    try:
                        cert = asn1_x509.Certificate.load(bytes(obj[Attribute.VALUE]))
                        cert.native  # noqa: B018 - parse it now, not later
                    except (ValueError, TypeError, KeyError):
                        continue  # not an X.509 certificate we can read
                    found.certificates.append(TokenCertificate(
                        slot=each.slot_id, token_label=label, token_serial=serial,
                        label=_attribute(obj, Attribute.LABEL),
                        key_id=_attribute(obj, Attribute.ID, raw=True), cert=cert))
        except pkcs11.PKCS11Error as exc:
            raise SigningError(_("cannot read the token «{token}»: {reason}").format(
                token=label, reason=token_failure(exc))) from None
    return found


def choose_certificate(found: TokenInventory, matches: Callable[[x509.Certificate], bool],
                       who: str) -> TokenCertificate:
    """The one certificate on the tokens that ``matches`` the signer; an InputError that
    lists what is there when none or several do."""
    candidates = [c for c in found.certificates if matches(c.cert)]
    if len(candidates) == 1:
        return candidates[0]
    listed = [c.describe() for c in found.certificates] or [_("(no certificate)")]
    if not found.slots:
        raise InputError(_("no token is plugged in (module {module}): plug in the token of "
                           "{who}").format(module=found.module, who=who))
    if not candidates:
        raise InputError(_("no key on the token(s) belongs to {who}; found: {found}").format(
            who=who, found="; ".join(listed)))
    raise InputError(_("several keys on the token(s) belong to {who}: choose one with "
                       "--key-id ({found})").format(
        who=who, found="; ".join(c.describe() for c in candidates)))


def token_failure(exc: BaseException) -> str:
    """What a PKCS#11 error means for the person at the token, in their language."""
    meaning = token_error_meaning(exc)
    if meaning is not None:
        return meaning
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def pin_tries_left(lib: str | Path, token_serial: str) -> str | None:
    """What the token says about the PIN tries left after a wrong PIN, if anything."""
    import pkcs11

    try:
        for each in load_module(lib).get_slots(token_present=True):
            token = each.get_token()
            if _text(token.serial) != token_serial:
                continue
            if token.flags & pkcs11.TokenFlag.USER_PIN_LOCKED:
                return _("the PIN is now locked")
            if token.flags & pkcs11.TokenFlag.USER_PIN_FINAL_TRY:
                return _("one try left before the PIN locks")
            if token.flags & pkcs11.TokenFlag.USER_PIN_COUNT_LOW:
                return _("few tries left before the PIN locks")
    except (pkcs11.PKCS11Error, ToolMissingError):
        return None
    return None


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value or "").strip()


def _attribute(obj: Any, attribute: Any, raw: bool = False) -> Any:
    try:
        value = obj[attribute]
    except Exception:  # noqa: BLE001 - an attribute the token does not give: absent
        return None
    if raw:
        return bytes(value) if value else None
    return _text(value) or None
