"""The agent's settings: a TOML file (``signflow agent --config FILE``) and command-line
flags over it.

    [agent]
    roster = "roster.toml"                     # who signs where (required)
    trust = ["trust/root.pem"]                 # trust roots for the check after signing
    tsa = "http://tsa.example.vn/tsa"          # optional: signatures at PAdES B-T
    level = "B-T"                              # optional (B-B, or B-T with a TSA)
    pkcs11 = ["C:/Windows/System32/<ca>.dll"]  # default: DEFAULT_PKCS11_MODULES
    allowed_origins = ["https://congthongtin.example.gov.vn"]
    pairing_secret_file = "pairing-secret.txt" # default: <work>/pairing-secret.txt
    work = "signflow-agent"                    # opened and signed files, the ledger
    ledger = "signflow-agent/signflow-ledger.sqlite"
    port = 8787
    max_document_mb = 50

Relative paths are relative to the settings file (to the current folder for flags). The
agent listens on 127.0.0.1 only: a ``host`` other than that is refused. The pairing secret
is read from a file, never from the command line; a missing file is created with a new
random secret, readable by its owner only.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from signflow._internal.structured import settings_table
from signflow.errors import InputError
from signflow.i18n import _

HOST = "127.0.0.1"  # the only address the agent listens on
DEFAULT_PORT = 8787
DEFAULT_WORK = Path("signflow-agent")
SECRET_NAME = "pairing-secret.txt"
MIN_SECRET_LENGTH = 24
DEFAULT_MAX_DOCUMENT_MB = 50

# The PKCS#11 modules tried when the settings name none, per operating system: the one place
# this list lives. The Vietnamese CAs' token middleware (VNPT-CA, Viettel-CA, BKAV-CA,
# FPT-CA, ...) installs its own module, usually a DLL in C:\Windows\System32 on Windows,
# under a name that depends on the vendor and version. Those names were not checked here
# (no vendor installer runs on this project's machines), so none is listed: set `pkcs11`
# in the settings to the module your CA's installer put on the machine (`signflow keys
# list --pkcs11-lib PATH` shows what it reaches), and add it here once confirmed. Missing
# entries are skipped.
DEFAULT_PKCS11_MODULES: dict[str, tuple[str, ...]] = {
    "win32": (),  # to be filled with confirmed vendor DLL paths
    "darwin": (),
    # OpenSC (Debian/Ubuntu package opensc-pkcs11): smart cards and many USB tokens
    "linux": ("/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",),
}

_KEYS = {"roster", "trust", "tsa", "level", "pkcs11", "allowed_origins", "pairing_secret_file",
         "work", "ledger", "port", "host", "max_document_mb"}
_LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")


def default_modules(platform: str | None = None) -> tuple[str, ...]:
    platform = platform or sys.platform
    key = "win32" if platform.startswith("win") else ("darwin" if platform == "darwin"
                                                      else "linux")
    return DEFAULT_PKCS11_MODULES.get(key, ())


Origin = tuple[str, str, int]  # scheme, host (lower case), port


def parse_origin(text: str) -> Origin | None:
    """An origin as browsers send it (``scheme://host[:port]``, no path), with the default
    port made explicit; None for anything else (``null``, a path, user info, a wildcard)."""
    if not isinstance(text, str) or text != text.strip() or not text:
        return None
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username \
            or parts.password or "*" in text:
        return None
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    return (parts.scheme, parts.hostname.lower(), port)


def url_origin(url: str) -> Origin | None:
    """The origin of a URL (http or https, no user info), or None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username \
            or parts.password:
        return None
    return (parts.scheme, parts.hostname.lower(),
            port if port is not None else (443 if parts.scheme == "https" else 80))


def origin_text(origin: Origin) -> str:
    scheme, host, port = origin
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{host}" + ("" if port == default else f":{port}")


@dataclass(frozen=True)
class AgentConfig:
    roster: Path
    trust: tuple[Path, ...] = ()
    tsa: str | None = None
    level: str | None = None
    pkcs11: tuple[str, ...] = field(default_factory=default_modules)
    allowed_origins: tuple[Origin, ...] = ()
    pairing_secret_file: Path | None = None  # None: <work>/pairing-secret.txt
    work: Path = DEFAULT_WORK
    ledger: Path | None = None  # None: <work>/signflow-ledger.sqlite
    port: int = DEFAULT_PORT
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_MB * 1024 * 1024

    @property
    def secret_path(self) -> Path:
        return self.pairing_secret_file or self.work / SECRET_NAME

    @property
    def ledger_path(self) -> Path:
        return self.ledger or self.work / "signflow-ledger.sqlite"

    @property
    def pades_level(self) -> str:
        return self.level or ("B-T" if self.tsa else "B-B")

    def check(self) -> None:
        """What must hold before the agent starts (said in one line each)."""
        from signflow.identity import load_trust_roots
        from signflow.roster import load_roster

        load_roster(self.roster)
        if not self.trust:
            raise InputError(_("the agent needs the trust roots (trust = [...] in its settings, "
                               "or --trust): every signed file is verified before it is "
                               "shown or returned"))
        load_trust_roots(self.trust)
        if self.pades_level not in _LEVELS:
            raise InputError(_("unknown PAdES level '{level}' (use {levels})").format(
                level=self.pades_level, levels=", ".join(_LEVELS)))
        if self.pades_level != "B-B" and not self.tsa:
            raise InputError(_("level {level} needs a timestamp authority: --tsa URL").format(
                level=self.pades_level))


def load_agent_config(path: Path | None = None, defaults: dict[str, Any] | None = None,
                      **overrides: Any) -> AgentConfig:
    """The settings from ``path`` (TOML, section [agent]) with ``overrides`` (flags; None
    means not given) on top; ``defaults`` (the workspace's settings) fill in what neither
    gives."""
    values: dict[str, Any] = {}
    if path is not None:
        values = _read(path)
    given = {k: v for k, v in overrides.items() if v is not None and v != ()}
    fallback = {k: v for k, v in (defaults or {}).items()
                if v is not None and v != () and k not in values and k not in given}
    for key, value in {**fallback, **given}.items():
        if key not in _KEYS:
            raise TypeError(key)
        if key == "allowed_origins":
            values[key] = tuple(_origin(v, "--allow-origin") for v in value)
        elif key == "port":
            values[key] = value
        elif key in ("trust", "pkcs11"):
            values[key] = tuple(Path(v).resolve() if key == "trust" else str(v) for v in value)
        elif key in ("roster", "work", "ledger", "pairing_secret_file"):
            values[key] = Path(value).resolve()
        else:
            values[key] = value
    if "roster" not in values:
        raise InputError(_("the agent needs the cluster's roster: roster = \"...\" in its "
                           "settings, or --roster FILE"))
    values.setdefault("work", DEFAULT_WORK.resolve())  # said in full when the agent starts
    return AgentConfig(**values)


def _read(path: Path) -> dict[str, Any]:
    section = settings_table(path, "agent", _KEYS,
                             _("{path}: the agent's settings go in an [agent] table"))
    base = path.resolve().parent
    values: dict[str, Any] = {}

    def text_value(key: str) -> str | None:
        value = section.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise InputError(_("{path}: {key} must be text").format(path=path, key=key))
        return value

    def texts(key: str) -> list[str]:
        value = section.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise InputError(_("{path}: {key} must be a list of paths").format(path=path,
                                                                              key=key))
        return value

    host = section.get("host", HOST)
    if host != HOST:
        raise InputError(_("{path}: the agent listens on 127.0.0.1 only (host = {host!r} is "
                           "refused): other computers must never reach the PIN page").format(
            path=path, host=host))
    for key in ("roster", "work", "ledger", "pairing_secret_file"):
        value = text_value(key)
        if value is not None:
            values[key] = (base / value).resolve()
    if "trust" in section:
        values["trust"] = tuple((base / v).resolve() for v in texts("trust"))
    if "pkcs11" in section:
        values["pkcs11"] = tuple(str(base / v) if not Path(v).is_absolute() else v
                                 for v in texts("pkcs11"))
    for key in ("tsa", "level"):
        value = text_value(key)
        if value is not None:
            values[key] = value
    if "allowed_origins" in section:
        values["allowed_origins"] = tuple(_origin(v, f"{path}: allowed_origins")
                                          for v in texts("allowed_origins"))
    if "port" in section:
        port = section["port"]
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            raise InputError(_("{path}: port must be a number from 1 to 65535").format(
                path=path))
        values["port"] = port
    if "max_document_mb" in section:
        size = section["max_document_mb"]
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 1024:
            raise InputError(_("{path}: max_document_mb must be a number from 1 to 1024"
                               ).format(path=path))
        values["max_document_bytes"] = size * 1024 * 1024
    return values


def _origin(text: Any, where: str) -> Origin:
    origin = parse_origin(text) if isinstance(text, str) else None
    if origin is None:
        raise InputError(_("{where}: {value!r} is not an origin (scheme://host:port, no path, "
                           "no wildcard)").format(where=where, value=text))
    return origin


def read_pairing_secret(config: AgentConfig) -> str:
    """The pairing secret, from its file; a missing file is created with a new secret
    (owner-only permissions where the system has them)."""
    from signflow._internal.files import atomic_write_bytes

    path = config.secret_path
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, secrets.token_urlsafe(32).encode("ascii"), mode=0o600)
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(_("cannot read the pairing secret {path}: {reason}").format(
            path=path, reason=getattr(exc, "strerror", None) or exc)) from None
    if len(secret) < MIN_SECRET_LENGTH or not secret.isprintable():
        raise InputError(_("the pairing secret in {path} is too short (at least {n} "
                           "characters): delete the file and a new one is made").format(
            path=path, n=MIN_SECRET_LENGTH))
    return secret


def with_port(config: AgentConfig, port: int) -> AgentConfig:
    return replace(config, port=port)


def describe_modules(modules: Sequence[str]) -> list[tuple[str, bool]]:
    """Each configured module and whether it is there."""
    return [(m, Path(m).is_file()) for m in modules]
