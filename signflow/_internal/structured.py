"""Reading the TOML and JSON files users write (roster, data, workspace settings) within
limits: a file that is too large, nested too deeply or holds too many values is refused
with one clear line instead of exhausting memory or the interpreter's stack."""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path
from typing import Any

from signflow.errors import InputError
from signflow.i18n import _

# Far above any real roster or year's content (the 2019 example: 12 KiB, depth 4).
MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 16
MAX_VALUES = 100_000


def parse_text(text: str, path: Path, fmt: str = "toml") -> dict[str, Any]:
    """Parse ``text`` (read from ``path``) as TOML or JSON and check its limits. Raises
    InputError naming the file for invalid syntax and for every limit exceeded."""
    if len(text) > MAX_BYTES:
        raise InputError(_("{path}: the file is too large ({size} KiB; at most {limit} KiB)"
                           ).format(path=path, size=len(text) // 1024,
                                    limit=MAX_BYTES // 1024))
    try:
        if fmt == "json":
            value = json.loads(text, parse_constant=_refuse_constant)
        else:
            value = tomllib.loads(text)
    except RecursionError:
        raise InputError(_("{path}: nested too deeply (at most {n} levels)").format(
            path=path, n=MAX_DEPTH)) from None
    except json.JSONDecodeError as exc:
        raise InputError(_("{path}: not valid JSON: {reason}").format(
            path=path, reason=exc)) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(_("{path}: not valid TOML: {reason}").format(
            path=path, reason=exc)) from None
    except ValueError as exc:  # JSON's NaN / Infinity (refused by _refuse_constant)
        raise InputError(_("{path}: {reason}").format(path=path, reason=exc)) from None
    if not isinstance(value, dict):
        raise InputError(_("{path}: the top level must be an object").format(path=path))
    check_limits(value, path)
    return value


def _refuse_constant(name: str) -> float:
    raise ValueError(_("{value} is not a number").format(value=name))


def check_limits(value: Any, path: Path) -> None:
    """Depth, count and finiteness of every value, walked without recursion."""
    stack: list[tuple[Any, int, str]] = [(value, 0, "")]
    count = 0
    while stack:
        item, depth, where = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise InputError(_("{path}: too many values (at most {n})").format(
                path=path, n=MAX_VALUES))
        if depth > MAX_DEPTH:
            raise InputError(_("{path}: nested too deeply (at most {n} levels)").format(
                path=path, n=MAX_DEPTH))
        if isinstance(item, float) and not math.isfinite(item):
            raise InputError(_("{path}: {key}: {value} is not a number").format(
                path=path, key=where or "?", value=item))
        if isinstance(item, dict):
            stack.extend((v, depth + 1, f"{where}.{k}" if where else str(k))
                         for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, depth + 1, f"{where}[{i}]") for i, v in enumerate(item))


def settings_table(path: Path, table: str, allowed: set[str] | frozenset[str],
                   not_a_table: str, required: bool = True) -> dict[str, Any]:
    """The ``[table]`` of a settings file (workspace, agent, portal): read within the
    limits, a table, no key outside ``allowed``. ``not_a_table``: the message when it is
    not a table (or, with ``required``, missing); ``{path}`` is filled in."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(_("cannot read the settings {path}: {reason}").format(
            path=path, reason=getattr(exc, "strerror", None) or exc)) from None
    section = parse_text(text, path).get(table, None if required else {})
    if not isinstance(section, dict):
        raise InputError(not_a_table.format(path=path))
    unknown = sorted(set(section) - set(allowed))
    if unknown:
        raise InputError(_("{path}: unknown setting(s): {keys}").format(
            path=path, keys=", ".join(unknown)))
    return section
