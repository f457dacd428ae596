"""Keys and their secrets on the command line.

A PKCS#12 passphrase or a token PIN comes from a file (``--passphrase-file``,
``--pin-file``), the environment (``SIGNFLOW_PASSPHRASE``, ``SIGNFLOW_PIN``), a hidden
prompt, or the token's own PIN pad: never from the command line, never echoed, never
logged. So do a remote signing service's access token (``--csc-token-file``,
``SIGNFLOW_CSC_TOKEN``; never prompted) and the user's authorisation for it (PIN:
``--csc-pin-file``, ``SIGNFLOW_CSC_PIN``; OTP: ``--csc-otp-file``, ``SIGNFLOW_CSC_OTP``;
else hidden prompts).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from signflow.i18n import _
from signflow.roster import Member, Role


def key_source_options(f: Callable) -> Callable:
    """Where a key (or just its certificate) comes from: a PKCS#12 file, a token, or a
    remote signing service (CSC API)."""
    options = [
        click.option("--pkcs12", "pkcs12_path", metavar=_("FILE"),
                     type=click.Path(dir_okay=False, path_type=Path),
                     help=_("PKCS#12 file (.p12/.pfx) holding the key and certificate.")),
        click.option("--passphrase-file", metavar=_("FILE"),
                     type=click.Path(dir_okay=False, path_type=Path),
                     help=_("File holding the PKCS#12 passphrase (else $SIGNFLOW_PASSPHRASE, "
                            "else a hidden prompt).")),
        click.option("--pkcs11-lib", metavar=_("LIBRARY"),
                     help=_("PKCS#11 module of the token (a .so file).")),
        click.option("--token-label", metavar=_("LABEL"), help=_("Label of the token.")),
        click.option("--slot", metavar=_("N"), type=int, help=_("Slot number of the token.")),
        click.option("--key-label", metavar=_("LABEL"), help=_("Label of the key on the token.")),
        click.option("--key-id", metavar=_("HEX"),
                     help=_("CKA_ID of the key on the token, in hex.")),
        click.option("--pin-file", metavar=_("FILE"),
                     type=click.Path(dir_okay=False, path_type=Path),
                     help=_("File holding the token PIN (else $SIGNFLOW_PIN, else a hidden "
                            "prompt).")),
        click.option("--pinpad", is_flag=True,
                     help=_("Enter the PIN on the token's own PIN pad.")),
        click.option("--csc-url", metavar="URL",
                     help=_("Remote signing service (Cloud Signature Consortium API v1): "
                            "its https:// address, the part before /csc/v1.")),
        click.option("--csc-credential", metavar=_("CREDENTIAL_ID"),
                     help=_("Credential id at the remote signing service (default: the one "
                            "whose certificate is the signer's).")),
        click.option("--csc-token-file", metavar=_("FILE"),
                     type=click.Path(dir_okay=False, path_type=Path),
                     help=_("File holding the access token of the remote signing service "
                            "(else $SIGNFLOW_CSC_TOKEN, else none).")),
        click.option("--csc-pin-file", metavar=_("FILE"),
                     type=click.Path(dir_okay=False, path_type=Path),
                     help=_("File holding the PIN of the remote signing credential, when "
                            "the service asks for one (else $SIGNFLOW_CSC_PIN, else a hidden "
                            "prompt).")),
        click.option("--csc-otp-file", metavar=_("FILE"),
                     type=click.Path(dir_okay=False, path_type=Path),
                     help=_("File holding the one-time password (OTP), when the service "
                            "asks for one (else $SIGNFLOW_CSC_OTP, else a hidden prompt); "
                            "one OTP serves one authorisation.")),
    ]
    for option in reversed(options):
        f = option(f)
    return f

def check_key_source(pkcs12_path: Path | None, pkcs11_lib: str | None,
                     csc_url: str | None = None, **_rest: Any) -> None:
    from signflow.errors import InputError

    if sum(source is not None for source in (pkcs12_path, pkcs11_lib, csc_url)) != 1:
        raise InputError(_("choose one key source: --pkcs12 FILE, --pkcs11-lib LIB or "
                           "--csc-url URL"))

def open_key_source(stack: Any, pkcs12_path: Path | None, passphrase_file: Path | None,
                    pkcs11_lib: str | None, token_label: str | None, slot: int | None,
                    key_label: str | None, key_id: str | None, pin_file: Path | None,
                    pinpad: bool, csc_url: str | None = None, csc_credential: str | None = None,
                    csc_token_file: Path | None = None, csc_pin_file: Path | None = None,
                    csc_otp_file: Path | None = None, signer: KeyOwner | None = None) -> Any:
    """The credential the key source options name; a token stays open until ``stack``
    closes. Secrets come from files, the environment or a hidden prompt only.

    ``signer``: who signs (member, role, roster) and how many documents: on a token, their
    key is found by its certificate when no key is named, and the PIN prompt says whose
    key on which token for how many documents."""
    from signflow.errors import InputError
    from signflow.signing.credentials import PINPAD, open_pkcs11, open_pkcs12

    check_key_source(pkcs12_path, pkcs11_lib, csc_url)
    if csc_url is not None:
        return open_remote(stack, csc_url, csc_credential, csc_token_file, csc_pin_file,
                           csc_otp_file, signer)
    if pkcs12_path is not None:
        secret = read_secret(passphrase_file, "SIGNFLOW_PASSPHRASE", _("Passphrase"))
        return open_pkcs12(pkcs12_path, secret.encode("utf-8"))
    assert pkcs11_lib is not None
    try:
        key_id_bytes = bytes.fromhex(key_id) if key_id else None
    except ValueError:
        raise InputError(_("--key-id must be hexadecimal")) from None

    def pin_for(token: str) -> str | object:
        if pinpad:
            return PINPAD
        if signer is None:
            prompt = _("PIN of the token «{token}»").format(token=token)
        else:
            prompt = _("PIN of the token «{token}» ({name}, {n} document(s))").format(
                token=token, name=signer.name, n=signer.documents)
        return read_secret(pin_file, "SIGNFLOW_PIN", prompt)

    return stack.enter_context(open_pkcs11(
        pkcs11_lib, token_label=token_label, slot=slot, key_label=key_label,
        key_id=key_id_bytes, pin=pin_for,
        matches=signer.matches if signer is not None else None,
        who=signer.name if signer is not None else ""))


def open_remote(stack: Any, url: str, credential_id: str | None, token_file: Path | None,
                pin_file: Path | None, otp_file: Path | None, signer: KeyOwner | None) -> Any:
    """A credential at a remote signing service (CSC). The access token comes from a file
    or the environment; the PIN and OTP only when the service asks, at the first
    signature (after every check), from a file, the environment or a hidden prompt. An
    OTP from a file or the environment serves once: a second authorisation (at SCAL2,
    the next document) asks on the terminal."""
    import os

    from signflow.errors import InputError
    from signflow.signing.credentials import CscAuthData, CscAuthRequest, open_csc

    token = read_secret(token_file, "SIGNFLOW_CSC_TOKEN", "") if token_file is not None \
        else os.environ.get("SIGNFLOW_CSC_TOKEN")
    otp_given = [False]
    documents = signer.documents if signer is not None and signer.documents else 1
    whose = (_("{name}, {n} document(s)").format(name=signer.name, n=documents)
             if signer is not None else "")

    def hidden_prompt(prompt: str) -> str:
        if not sys.stdin.isatty():
            raise InputError(_("the remote signing service asks for a new OTP for each "
                               "authorisation: type them at the prompt (on a terminal), or "
                               "sign one document at a time"))
        try:
            return str(click.prompt(prompt, hide_input=True, err=True))
        except click.exceptions.Abort:  # Ctrl+C or end of input at the prompt
            raise KeyboardInterrupt from None

    def answer(request: CscAuthRequest) -> CscAuthData:
        if request.confirm:
            click.echo(_("Confirm the signing in the remote signing provider's app or device "
                         "(credential «{credential}»{whose})...").format(
                credential=request.credential_id, whose=f"; {whose}" if whose else ""),
                err=True)
            return CscAuthData()
        pin = otp = None
        if request.pin:
            pin = read_secret(pin_file, "SIGNFLOW_CSC_PIN", _(
                "PIN of the remote signing credential «{credential}»{whose}").format(
                credential=request.credential_id, whose=f" ({whose})" if whose else ""))
        if request.otp:
            prompt = (_("One-time password (OTP) the remote signing service has just sent for "
                        "«{credential}»") if request.otp_sent else
                      _("One-time password (OTP) for «{credential}»")).format(
                credential=request.credential_id)
            if not otp_given[0]:
                otp_given[0] = True
                otp = read_secret(otp_file, "SIGNFLOW_CSC_OTP", prompt)
            else:
                otp = hidden_prompt(prompt)
        return CscAuthData(pin=pin, otp=otp)

    return stack.enter_context(open_csc(
        url, credential_id=credential_id, token=token, authorize=answer, signatures=documents,
        matches=signer.matches if signer is not None else None,
        who=signer.name if signer is not None else ""))


@dataclass(frozen=True)
class KeyOwner:
    """Who a key on a token must belong to, for finding it without its label."""

    member: Member
    role: Role
    organisation_attribute: str = "O"
    documents: int = 0

    @property
    def name(self) -> str:
        return self.member.head.name if self.role == "head" else self.member.unit

    def matches(self, cert: Any) -> bool:
        from signflow.identity import match_certificate

        return match_certificate(cert, self.member, self.role,
                                 self.organisation_attribute).matches

def read_secret(file: Path | None, env_var: str, prompt: str) -> str:
    """A passphrase or PIN from a file, the environment, or a hidden prompt, in that order.

    Never from the command line, never echoed, never logged."""
    import os

    from signflow.errors import InputError

    if file is not None:
        try:
            return file.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise InputError(_("cannot read {path}: {reason}").format(
                path=file, reason=exc.strerror or exc)) from None
    value = os.environ.get(env_var)
    if value is not None:
        return value
    if not sys.stdin.isatty():
        raise InputError(_("{what}: not given; use a file option or the {env} environment "
                           "variable (there is no terminal to ask on)").format(
            what=prompt, env=env_var))
    return click.prompt(prompt, hide_input=True, err=True)
