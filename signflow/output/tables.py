"""Plain-text tables for terminals (status, verification)."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from pathlib import Path

from signflow.i18n import _
from signflow.roster import Roster
from signflow.validation.status import DocumentStatus
from signflow.validation.verdicts import FileVerdict, identity_note, modification_label

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


def _short(text: str, most: int = 24) -> str:
    """Long names (pyHanko's document timestamps are "Timestamp-<uuid>") cut for a
    terminal; JSON and the HTML report keep them whole."""
    return text if width(text) <= most else text[:most - 1] + "…"


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


def _mark(value: bool | None) -> str:
    return "?" if value is None else ("✓" if value else "✗")


def verify_table(verdicts: Sequence[FileVerdict]) -> str:
    """Per file: the verdict, then one line per signature, then the problems."""
    out: list[str] = []
    for v in verdicts:
        if not v.readable:
            verdict = _("UNREADABLE")
        elif v.ok:
            verdict = _("VALID") + ("" if v.complete is None else " - " + _("complete"))
        else:
            verdict = _("PROBLEMS FOUND")
        out.append(f"{Path(v.file).name}: {verdict}")
        if v.signatures:
            headers = ["#", _("Field"), _("Signer"), _("Intact"), _("Valid"), _("Trusted"),
                       _("Not revoked"), _("Level"), _("Time"), _("Changes after")]
            rows = []
            for i, s in enumerate(v.signatures, 1):
                who = s.signer or "?"
                if s.member:
                    who = f"{who} ({s.member}/{_('head') if s.role == 'head' else _('seal')})"
                elif s.is_timestamp:
                    who = f"{who} ({_('document timestamp')})"
                # ✓ like the other columns: good news (checked, not revoked); ? unknown
                revoked = "?" if s.revoked is None else ("✗" if s.revoked else "✓")
                rows.append([str(i), _short(s.field), who, _mark(s.intact), _mark(s.valid),
                             _mark(s.trusted), revoked, s.level or "-",
                             s.timestamp or s.signing_time or "-",
                             modification_label(s.modifications)])
            out.append(render_table(headers, rows))
        if v.complete is False:
            missing = ", ".join(f"{m['member']}/{_('head') if m['role'] == 'head' else _('seal')}"
                                for m in v.missing)
            out.append(_("Missing signatures: {list}").format(list=missing))
        if v.identities_by_name:
            out.append(identity_note())
        # A change after signing concerns every earlier signature: say it once, with the
        # fields it concerns.
        concerned: dict[str, list[str]] = {}
        for s in v.signatures:
            for p in s.problems:
                concerned.setdefault(p, []).append(s.field)
        for p, fields in concerned.items():
            where = fields[0] if len(fields) == 1 else _("{n} signatures").format(n=len(fields))
            out.append(f"  ✗ {where}: {p}")
        for p in v.problems:
            out.append(f"  ✗ {p}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
