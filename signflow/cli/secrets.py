"""Keys and their secrets on the command line.

A PKCS#12 passphrase or a token PIN comes from a file (``--passphrase-file``,
``--pin-file``), the environment (``SIGNFLOW_PASSPHRASE``, ``SIGNFLOW_PIN``), a hidden
prompt, or the token's own PIN pad: never from the command line, never echoed, never
logged.
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
    """Where a key (or just its certificate) comes from: a PKCS#12 file or a token."""
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
    ]
    for option in reversed(options):
        f = option(f)
    return f

def check_key_source(pkcs12_path: Path | None, pkcs11_lib: str | None, **_rest: Any) -> None:
    from signflow.errors import InputError

    if (pkcs12_path is None) == (pkcs11_lib is None):
        raise InputError(_("choose one key source: --pkcs12 FILE or --pkcs11-lib LIB"))

def open_key_source(stack: Any, pkcs12_path: Path | None, passphrase_file: Path | None,
                    pkcs11_lib: str | None, token_label: str | None, slot: int | None,
                    key_label: str | None, key_id: str | None, pin_file: Path | None,
                    pinpad: bool, signer: KeyOwner | None = None) -> Any:
    """The credential the key source options name; a token stays open until ``stack``
    closes. Secrets come from files, the environment or a hidden prompt only.

    ``signer``: who signs (member, role, roster) and how many documents: on a token, their
    key is found by its certificate when no key is named, and the PIN prompt says whose
    key on which token for how many documents."""
    from signflow.errors import InputError
    from signflow.signing.credentials import PINPAD, open_pkcs11, open_pkcs12

    check_key_source(pkcs12_path, pkcs11_lib)
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
