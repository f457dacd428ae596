"""Plain-text tables for terminals (status, verification)."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from pathlib import Path

from .i18n import _
from .roster import Roster
from .status import DocumentStatus

SIGNED = "✓"
PENDING = "·"


def width(text: str) -> int:
    """Display width: combining marks take no column (Vietnamese may use them)."""
    return sum(0 if unicodedata.combining(ch) else 1 for ch in text)


def pad(text: str, n: int) -> str:
    return text + " " * max(0, n - width(text))


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(width(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    line = "  ".join(pad(h, w) for h, w in zip(headers, widths, strict=True))
    out = [line.rstrip(), "  ".join("-" * w for w in widths)]
    out += ["  ".join(pad(c, w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(out)


def status_table(results: Sequence[DocumentStatus], roster: Roster | None) -> str:
    present = [f.member for r in results for f in r.fields]
    members = [m for m in (roster.member_ids if roster else []) if m in present]
    members += [m for m in dict.fromkeys(present) if m not in members]
    headers = [_("Document"), *members, _("Signed"), _("Next")]
    rows = []
    for r in results:
        name = Path(r.file).name
        if r.error:
            rows.append([name, *["" for _m in members], "", r.error])
            continue
        cells = []
        for m in members:
            marks = {f.role: SIGNED if f.signed else PENDING for f in r.fields if f.member == m}
            cells.append(f"{marks.get('head', ' ')}{marks.get('seal', ' ')}" if marks else "")
        nxt = ", ".join(f"{n['member']}/{_('head') if n['role'] == 'head' else _('seal')}"
                        for n in r.next[:3])
        if len(r.next) > 3:
            nxt += f" (+{len(r.next) - 3})"
        rows.append([name, *cells, f"{r.signed}/{len(r.fields)}",
                     _("complete") if r.complete else nxt])
    legend = _("Each member column: head then seal; {signed} signed, {pending} pending.").format(
        signed=SIGNED, pending=PENDING)
    return render_table(headers, rows) + "\n\n" + legend
