"""A real PKCS#11 token for the demo and the tests: SoftHSM2, with keys imported from the
demo PKI.

SoftHSM reads ``SOFTHSM2_CONF`` once per process, at C_Initialize: keys are imported by a
child Python process, so that the calling process is not pinned to this token folder
(see ``activate_softhsm``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from signflow._internal.files import atomic_write_bytes
from signflow.errors import SigningError, ToolMissingError
from signflow.i18n import _

SOFTHSM_MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")

TOKEN_LABEL = "signflow-demo"

def read_secret(path: Path) -> str:
    """A passphrase or PIN file: written without a newline, but a hand-edited one may
    end with one, and no secret here ends in whitespace."""
    return Path(path).read_text(encoding="utf-8").rstrip("\r\n")

@dataclass(frozen=True)
class SoftHsmToken:
    conf: Path
    module: Path
    token_label: str
    pin_file: Path
    serial: str = ""  # the token's serial number: every demo token has the same label

    def pin(self) -> str:
        return read_secret(self.pin_file)

def _require_softhsm() -> None:
    if shutil.which("softhsm2-util") is None or not SOFTHSM_MODULE.is_file():
        raise ToolMissingError(_("SoftHSM2 is not installed (softhsm2-util, {module}): "
                                 "install the Debian package softhsm2").format(
                                     module=SOFTHSM_MODULE))

def _create_token(
    out: Path,
    objects: Sequence[tuple[str, Path, Path]],
    certs: Mapping[str, x509.Certificate],
    ca_certs: Sequence[Path] = (),
) -> tuple[SoftHsmToken, dict[str, str]]:
    """Initialise a token in out/softhsm and import (label, key PEM, cert PEM) into it.

    Returns the token and the CKA_ID (hex) of each label: the certificate's subject key
    identifier, as most CAs' tokens do, so that it is distinct per key. ``ca_certs`` go on
    the token too, as Vietnamese CAs ship their chain on the token, so that signatures made
    with it carry the intermediate certificate.
    """
    folder = out / "softhsm"
    tokens = folder / "tokens"
    tokens.mkdir(parents=True, mode=0o700)
    folder.chmod(0o700)
    tokens.chmod(0o700)
    conf = folder / "softhsm2.conf"
    atomic_write_bytes(conf, (
        f"directories.tokendir = {tokens}\n"
        "objectstore.backend = file\n"
        "log.level = ERROR\n"
        "slots.removable = false\n"
    ).encode(), mode=0o600)
    pin, so_pin = secrets.token_hex(8), secrets.token_hex(8)
    pin_file = folder / "pin"
    atomic_write_bytes(pin_file, pin.encode("ascii"), mode=0o600)
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    # The PINs are on the command line for a moment: acceptable for a throw-away token.
    result = subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", TOKEN_LABEL,
         "--pin", pin, "--so-pin", so_pin],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    if result.returncode != 0:
        raise SigningError(_("softhsm2-util could not create the token: {reason}").format(
            reason=(result.stderr or result.stdout).strip()))

    ids = {label: certs[label].extensions.get_extension_for_class(
        x509.SubjectKeyIdentifier).value.digest.hex() for label, _k, _c in objects}
    request = {
        "module": str(SOFTHSM_MODULE), "token": TOKEN_LABEL, "pin": pin,
        "objects": [{"label": label, "id": ids[label], "key": str(key), "cert": str(cert)}
                    for label, key, cert in objects],
        "ca_certs": [str(p) for p in ca_certs],
    }
    # The package may not be installed in the interpreter (a checkout run in place).
    pythonpath = os.pathsep.join(
        p for p in (str(Path(__file__).resolve().parent.parent), env.get("PYTHONPATH")) if p)
    result = subprocess.run(
        [sys.executable, "-c", "from signflow.demo.softhsm import _token_import_main; "
                               "_token_import_main()"],
        input=json.dumps(request), env={**env, "PYTHONPATH": pythonpath},
        capture_output=True, text=True, timeout=300, check=False,
    )
    if result.returncode != 0:
        raise SigningError(_("the keys could not be imported into the SoftHSM token: "
                             "{reason}").format(reason=result.stderr.strip()[-2000:]))
    serial = json.loads(result.stdout)["serial"]
    return SoftHsmToken(conf=conf, module=SOFTHSM_MODULE, token_label=TOKEN_LABEL,
                        pin_file=pin_file, serial=serial), ids

def _token_import_main() -> None:
    """Child process: import keys and certificates described as JSON on stdin."""
    import pkcs11
    from pkcs11 import Attribute
    from pkcs11.util.rsa import decode_rsa_private_key, decode_rsa_public_key
    from pkcs11.util.x509 import decode_x509_certificate

    request = json.loads(sys.stdin.read())
    lib = pkcs11.lib(request["module"])
    token = lib.get_token(token_label=request["token"])
    with token.open(rw=True, user_pin=request["pin"]) as session:
        for obj in request["objects"]:
            key = serialization.load_pem_private_key(Path(obj["key"]).read_bytes(), None)
            assert isinstance(key, rsa.RSAPrivateKey)
            cert = x509.load_pem_x509_certificate(Path(obj["cert"]).read_bytes())
            common = {Attribute.LABEL: obj["label"], Attribute.ID: bytes.fromhex(obj["id"]),
                      Attribute.TOKEN: True}
            priv = decode_rsa_private_key(key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption()))
            # Like a real token: the key signs, never leaves, and needs the PIN.
            priv.update(common)
            priv.update({Attribute.PRIVATE: True, Attribute.SENSITIVE: True,
                         Attribute.EXTRACTABLE: False, Attribute.SIGN: True,
                         Attribute.DECRYPT: False, Attribute.UNWRAP: False})
            session.create_object(priv)
            pub = decode_rsa_public_key(key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.PKCS1))
            pub.update(common)
            pub.update({Attribute.PRIVATE: False, Attribute.VERIFY: True})
            session.create_object(pub)
            cert_attrs = decode_x509_certificate(
                cert.public_bytes(serialization.Encoding.DER))
            cert_attrs.update(common)
            cert_attrs[Attribute.PRIVATE] = False
            session.create_object(cert_attrs)
        for n, path in enumerate(request.get("ca_certs", [])):
            ca = x509.load_pem_x509_certificate(Path(path).read_bytes())
            ca_attrs = decode_x509_certificate(ca.public_bytes(serialization.Encoding.DER))
            ca_attrs.update({Attribute.LABEL: f"ca-{n}", Attribute.TOKEN: True,
                             Attribute.PRIVATE: False})
            session.create_object(ca_attrs)
    print(json.dumps({"serial": _token_serial(token)}))

def _token_serial(token: Any) -> str:
    serial = token.serial
    return (serial.decode("ascii", "replace") if isinstance(serial, bytes)
            else str(serial)).strip()

def activate_softhsm(token: SoftHsmToken) -> None:
    """Point this process's SoftHSM at ``token``'s folder, before opening a session.

    SoftHSM reads ``SOFTHSM2_CONF`` when the library is initialised, once per process. If
    this process already initialised it (another demo PKI, an earlier test), the library
    is finalised and initialised again: sessions opened before are then invalid.
    """
    import pkcs11

    os.environ["SOFTHSM2_CONF"] = str(token.conf)
    lib = pkcs11.lib(str(token.module))  # initialises it if nobody has yet
    try:
        present = any(_token_serial(slot.get_token()) == token.serial
                      for slot in lib.get_slots(token_present=True))
    except pkcs11.PKCS11Error:
        present = False  # e.g. the folder it was set up with has been deleted since
    if not present:
        lib.reinitialize()
