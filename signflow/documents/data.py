"""The year's content: TOML or JSON files, later files overriding earlier keys."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from signflow._internal.structured import parse_text
from signflow.errors import InputError
from signflow.i18n import _


def load_data_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(_("data file not found: {path}").format(path=path)) from None
    except IsADirectoryError:
        raise InputError(_("{path} is a folder, not a data file").format(path=path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(_("cannot read the data file {path}: {reason}").format(
            path=path, reason=exc)) from None
    return parse_text(text, path, "json" if path.suffix.lower() == ".json" else "toml")


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; any other value (lists included) is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_data(paths: Iterable[str | Path]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in paths:
        merged = deep_merge(merged, load_data_file(path))
    return merged
