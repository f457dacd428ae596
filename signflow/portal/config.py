"""The portal's settings: a TOML file (``signflow serve --config FILE``) and flags over it.

    [portal]
    roster = "roster.toml"                 # the cluster's roster (required, except the demo)
    trust = ["trust/root.pem"]             # trust roots: every upload is judged against them
    tsa = "http://tsa.example.vn/tsa"      # timestamp authority for the archive (B-LTA)
    database_url = "postgresql+psycopg://signflow@/signflow"   # default: SQLite in data_dir
    data_dir = "portal-data"               # documents, ledgers, secrets (by generated ids)
    host = "127.0.0.1"                     # listen address (behind a reverse proxy)
    port = 8800
    public_url = "https://thiduacum2.example.gov.vn"   # the address people open (links, mail)
    packs = ["out/2026"]                   # generated packs a round may be created from
    max_upload_mb = 50
    link_days = 30                         # how long a member's personal link lasts
    rate_per_minute = 120                  # requests per personal link per minute

    [portal.smtp]                          # optional: e-mail (links, reminders)
    host = "smtp.example.vn"
    port = 587
    sender = "vanphong@example.vn"
    starttls = true
    username = "vanphong"
    password_file = "smtp-password.txt"

    [portal.emails]                        # optional: where each member office is mailed
    ninh-binh = "thanhtra@ninhbinh.gov.vn"

Relative paths are relative to the settings file. Secrets (the SMTP password) come from
files, never from the command line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from signflow._internal.structured import settings_table
from signflow.errors import InputError
from signflow.i18n import _

DEFAULT_PORT = 8800
DEFAULT_DATA = Path("signflow-portal")
_KEYS = {"roster", "trust", "tsa", "database_url", "data_dir", "host", "port", "public_url",
         "packs", "max_upload_mb", "link_days", "rate_per_minute", "smtp", "emails"}
_SMTP_KEYS = {"host", "port", "sender", "starttls", "username", "password_file"}
_EMAIL = re.compile(r"^[^@\s<>\"']+@[^@\s<>\"']+\.[^@\s<>\"']+$")


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    sender: str = "signflow@localhost"
    starttls: bool = False
    username: str | None = None
    password_file: Path | None = None

    def password(self) -> str | None:
        if self.password_file is None:
            return None
        try:
            return self.password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InputError(_("cannot read the SMTP password file {path}: {reason}").format(
                path=self.password_file, reason=exc.strerror or exc)) from None


@dataclass
class PortalConfig:
    roster: Path | None = None
    trust: tuple[Path, ...] = ()
    tsa: str | None = None
    database_url: str | None = None  # None: SQLite in data_dir
    data_dir: Path = field(default_factory=lambda: DEFAULT_DATA.resolve())
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    public_url: str | None = None
    packs: tuple[Path, ...] = ()
    max_upload_bytes: int = 50 * 1024 * 1024
    link_days: int = 30
    rate_per_minute: int = 120
    smtp: SmtpSettings | None = None
    emails: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The database URL (SQLite in the data folder by default)."""
        return self.database_url or f"sqlite:///{self.data_dir / 'portal.sqlite'}"

    def base_url(self, bound_port: int | None = None) -> str:
        """The address people open: ``public_url``, else the listening address."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{bound_port or self.port}"


def load_portal_config(path: Path | None = None, **overrides: Any) -> PortalConfig:
    """The settings from ``path`` ([portal] table) with ``overrides`` (flags; None means
    not given) on top."""
    values: dict[str, Any] = _read(path) if path is not None else {}
    for key, value in overrides.items():
        if value is None or value == ():
            continue
        if key in ("roster", "data_dir"):
            values[key] = Path(value).resolve()
        elif key in ("trust", "packs"):
            values[key] = tuple(Path(v).resolve() for v in value)
        else:
            values[key] = value
    if "public_url" in values:
        values["public_url"] = _public_url(values["public_url"], "--public-url")
    return PortalConfig(**values)


def _public_url(value: Any, where: str) -> str:
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname \
            or parts.query or parts.fragment:
        raise InputError(_("{where}: public_url must be an http(s) address such as "
                           "https://thiduacum2.example.gov.vn").format(where=where))
    return str(value).rstrip("/")


def _read(path: Path) -> dict[str, Any]:
    section = settings_table(path, "portal", _KEYS,
                             _("{path}: the portal's settings go in a [portal] table"))
    base = path.resolve().parent
    values: dict[str, Any] = {}

    def text(key: str, where: dict[str, Any] = section) -> str | None:
        value = where.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise InputError(_("{path}: {key} must be text").format(path=path, key=key))
        return value

    def number(key: str, low: int, high: int, where: dict[str, Any] = section) -> int | None:
        value = where.get(key)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise InputError(_("{path}: {key} must be a number from {low} to {high}").format(
                path=path, key=key, low=low, high=high))
        return value

    def paths(key: str) -> tuple[Path, ...]:
        value = section.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise InputError(_("{path}: {key} must be a list of paths").format(path=path,
                                                                              key=key))
        return tuple((base / v).resolve() for v in value)

    for key in ("roster", "data_dir"):
        value = text(key)
        if value is not None:
            values[key] = (base / value).resolve()
    for key in ("trust", "packs"):
        if key in section:
            values[key] = paths(key)
    for key in ("tsa", "database_url", "host"):
        value = text(key)
        if value is not None:
            values[key] = value
    if text("public_url") is not None:
        values["public_url"] = _public_url(section["public_url"], str(path))
    for key, low, high in (("port", 1, 65535), ("link_days", 1, 366),
                           ("rate_per_minute", 1, 100000)):
        count = number(key, low, high)
        if count is not None:
            values[key] = count
    size = number("max_upload_mb", 1, 1024)
    if size is not None:
        values["max_upload_bytes"] = size * 1024 * 1024
    smtp = section.get("smtp")
    if smtp is not None:
        if not isinstance(smtp, dict) or set(smtp) - _SMTP_KEYS or not text("host", smtp):
            raise InputError(_("{path}: [portal.smtp] needs host (and may have port, sender, "
                               "starttls, username, password_file)").format(path=path))
        password_file = text("password_file", smtp)
        values["smtp"] = SmtpSettings(
            host=str(smtp["host"]), port=number("port", 1, 65535, smtp) or 25,
            sender=text("sender", smtp) or "signflow@localhost",
            starttls=bool(smtp.get("starttls", False)), username=text("username", smtp),
            password_file=(base / password_file).resolve() if password_file else None)
    emails = section.get("emails", {})
    if not isinstance(emails, dict) or not all(
            isinstance(v, str) and _EMAIL.match(v) for v in emails.values()):
        raise InputError(_("{path}: [portal.emails] maps member ids to e-mail addresses"
                           ).format(path=path))
    values["emails"] = dict(emails)
    return values
