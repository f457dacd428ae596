"""Workspace settings: a `signflow.toml` in the current folder or one above it.

Every command run inside a workspace picks its settings up (roster, data, templates, output
folder, trust roots, timestamp authority, ledger, PAdES level); options given on the command
line override them. Relative paths are relative to the `signflow.toml` file.

    [workspace]
    roster = "roster.toml"
    data = ["data.toml"]
    templates = "templates"
    out = "out"
    trust = ["trust/root.pem"]
    tsa = "http://127.0.0.1:8080/tsa"
    ledger = "out/signflow-ledger.sqlite"
    level = "B-T"
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from signflow._internal.structured import settings_table
from signflow.errors import InputError
from signflow.i18n import _

CONFIG_NAME = "signflow.toml"
_KEYS = {"roster", "data", "templates", "out", "trust", "tsa", "ledger", "level"}


@dataclass(frozen=True)
class Workspace:
    path: Path
    roster: Path | None = None
    data: list[Path] = field(default_factory=list)
    templates: Path | None = None
    out: Path | None = None
    trust: list[Path] = field(default_factory=list)
    tsa: str | None = None
    ledger: Path | None = None
    level: str | None = None


def find_config(start: Path | None = None) -> Path | None:
    folder = (start or Path.cwd()).resolve()
    for candidate in [folder, *folder.parents]:
        if (candidate / CONFIG_NAME).is_file():
            return candidate / CONFIG_NAME
    return None


def load_workspace(path: Path) -> Workspace:
    section = settings_table(path, "workspace", _KEYS,
                             _("{path}: [workspace] must be a table"), required=False)
    base = path.parent

    def one(key: str) -> Path | None:
        value = section.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise InputError(_("{path}: {key} must be a path").format(path=path, key=key))
        return (base / value).resolve()

    def many(key: str) -> list[Path]:
        value = section.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InputError(_("{path}: {key} must be a list of paths").format(path=path,
                                                                              key=key))
        return [(base / v).resolve() for v in value]

    tsa = section.get("tsa")
    level = section.get("level")
    for key, value in (("tsa", tsa), ("level", level)):
        if value is not None and not isinstance(value, str):
            raise InputError(_("{path}: {key} must be text").format(path=path, key=key))
    return Workspace(path=path, roster=one("roster"), data=many("data"),
                     templates=one("templates"), out=one("out"), trust=many("trust"),
                     tsa=tsa, ledger=one("ledger"), level=level)


def default_map(ws: Workspace) -> dict[str, Any]:
    """click default_map: per command, option defaults taken from the workspace."""
    def drop_none(d: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in d.items() if v not in (None, [])}

    roster = {"roster_path": ws.roster}
    return {
        "generate": drop_none({**roster, "data_files": ws.data, "templates_dir": ws.templates,
                               "out_dir": ws.out, "ledger_path": ws.ledger}),
        "prepare": drop_none(roster),
        "number": drop_none({**roster, "ledger_path": ws.ledger}),
        "register": drop_none({**roster, "ledger_path": ws.ledger}),
        # with a timestamp authority configured, signatures are B-T unless said otherwise
        "sign": drop_none({**roster, "tsa_url": ws.tsa, "trust": ws.trust,
                           "ledger_path": ws.ledger,
                           "level": ws.level or ("B-T" if ws.tsa else None)}),
        "ceremony": drop_none({**roster, "tsa_url": ws.tsa, "trust": ws.trust,
                               "ledger_path": ws.ledger,
                               "level": ws.level or ("B-T" if ws.tsa else None)}),
        "status": drop_none({**roster, "ledger_path": ws.ledger}),
        "agent": drop_none({**roster, "tsa_url": ws.tsa, "trust": ws.trust,
                            "ledger_path": ws.ledger, "level": ws.level}),
        "verify": drop_none({**roster, "trust": ws.trust}),
        "send": drop_none({**roster, "trust": ws.trust, "tsa_url": ws.tsa,
                           "ledger_path": ws.ledger}),
        "receive": drop_none({**roster, "trust": ws.trust, "tsa_url": ws.tsa,
                              "ledger_path": ws.ledger}),
        "archive": drop_none({"tsa_url": ws.tsa, "trust": ws.trust, "ledger_path": ws.ledger}),
        "log": drop_none({"ledger_path": ws.ledger, "trust": ws.trust, "tsa_url": ws.tsa}),
        "templates": {"check": drop_none({"templates_dir": ws.templates, "roster_path": ws.roster,
                                          "data_files": ws.data})},
        "keys": {"demo": drop_none(roster), "list": drop_none(roster)},
    }


# --- what the workspace remembers ------------------------------------------------------
# The ledgers it has used, each with its first event's hash: a ledger that later is
# missing, empty or another one is then an error, not a fresh start of the history.
STATE_NAME = ".signflow-state.json"


def _state_path(config: Path) -> Path:
    return config.parent / STATE_NAME


def _read_state(config: Path) -> dict[str, Any]:
    import json

    path = _state_path(config)
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise InputError(_("cannot read the workspace's record {path}: {reason}").format(
            path=path, reason=exc)) from None
    if not isinstance(state, dict) or not isinstance(state.get("ledgers", {}), dict):
        raise InputError(_("cannot read the workspace's record {path}: {reason}").format(
            path=path, reason="ledgers"))
    return state


def known_ledger(config: Path, ledger: Path) -> dict[str, Any] | None:
    """What the workspace recorded about this ledger (None: never used from here)."""
    # keyed by the path as configured (absolute, symlinks not followed: a link put in the
    # ledger's place must not make it look like a ledger never used)
    entry = _read_state(config).get("ledgers", {}).get(str(ledger.absolute()))
    return entry if isinstance(entry, dict) else None


def remember_ledger(config: Path, ledger: Path, first_event: str, created: str,
                    anchors: dict[str, str] | None = None) -> None:
    """Record the ledger (its first event's hash) and the timestamps seen in it
    (seq -> SHA-256 of the token): one removed or replaced later is then an error."""
    import json

    from signflow._internal.files import atomic_write_bytes

    state = _read_state(config)
    entries = state.setdefault("ledgers", {})
    key = str(ledger.absolute())
    entry = entries.get(key) if isinstance(entries.get(key), dict) else None
    entry = entry or {"first_event": first_event, "created": created}
    entry["anchors"] = {**entry.get("anchors", {}), **(anchors or {})}
    entries[key] = entry
    atomic_write_bytes(_state_path(config), json.dumps(state, indent=2).encode("utf-8"))
