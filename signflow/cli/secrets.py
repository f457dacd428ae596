"""Keys and their secrets on the command line.

A PKCS#12 passphrase or a token PIN comes from a file (``--passphrase-file``,
``--pin-file``), the environment (``SIGNFLOW_PASSPHRASE``, ``SIGNFLOW_PIN``), a hidden
prompt, or the token's own PIN pad: never from the command line, never echoed, never
logged.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from signflow.i18n import _


def key_source_options(f: Callable) -> Callable:
    """Where a key (or just its certificate) comes from: a PKCS#12 file or a token."""
    options = [
        click.option("--pkcs12", "pkcs12_path", type=click.Path(dir_okay=False, path_type=Path),
                     help=_("PKCS#12 file (.p12/.pfx) holding the key and certificate.")),
        click.option("--passphrase-file", type=click.Path(dir_okay=False, path_type=Path),
                     help=_("File holding the PKCS#12 passphrase (else $SIGNFLOW_PASSPHRASE, "
                            "else a hidden prompt).")),
        click.option("--pkcs11-lib", help=_("PKCS#11 module of the token (a .so file).")),
        click.option("--token-label", help=_("Label of the token.")),
        click.option("--slot", type=int, help=_("Slot number of the token.")),
        click.option("--key-label", help=_("Label of the key on the token.")),
        click.option("--key-id", help=_("CKA_ID of the key on the token, in hex.")),
        click.option("--pin-file", type=click.Path(dir_okay=False, path_type=Path),
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
                    pinpad: bool) -> Any:
    """The credential the key source options name; a token stays open until ``stack``
    closes. Secrets come from files, the environment or a hidden prompt only."""
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
    pin = PINPAD if pinpad else read_secret(pin_file, "SIGNFLOW_PIN", _("PIN"))
    return stack.enter_context(open_pkcs11(
        pkcs11_lib, token_label=token_label, slot=slot, key_label=key_label,
        key_id=key_id_bytes, pin=pin))

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
        raise InputError(_("no {what} given: use a file option or the {env} environment "
                           "variable (there is no terminal to ask on)").format(
            what=prompt.lower(), env=env_var))
    return click.prompt(prompt, hide_input=True, err=True)
