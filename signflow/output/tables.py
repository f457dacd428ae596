"""Plain-text tables for terminals (status, verification, the ledger's log).

By default a table fits ``MAX_WIDTH`` columns: long cells wrap at spaces, never cut in the
middle of a word, and the columns a reader needs least are left to ``--wide``, which shows
every column whole. Members are named by their province (the roster's ``province``; the
id without a roster), documents come in the order of the pack: the cluster's agreement,
then each member's documents in roster order.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import PurePath
from typing import Any

from signflow import vn
from signflow.i18n import _, time_text
from signflow.ledger import event_label
from signflow.roster import Roster, member_of
from signflow.validation.status import DocumentStatus
from signflow.validation.verdicts import (
    FileVerdict,
    SignatureVerdict,
    identity_note,
    modification_label,
    revocation_note,
)

SIGNED = "✓"
PENDING = "·"
MAX_WIDTH = 100  # columns of a terminal table unless --wide
GAP = "  "
# names listed per role in the default status table's "Next" column (--wide: all)
NEXT_NAMES = 3
# Bidirectional formatting characters can make "gpj.exe" look like "exe.jpg"; show them.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def width(text: str) -> int:
    """Display width: combining marks take no column (Vietnamese may use them), wide
    East Asian characters take two."""
    return sum(0 if unicodedata.combining(ch) else
               2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def pad(text: str, n: int) -> str:
    return text + " " * max(0, n - width(text))


def clean(value: object) -> str:
    """Text from a file (signer names, field names) safe on a terminal: control
    characters (escape sequences) replaced, bidirectional overrides shown."""
    out = []
    for ch in str(value):
        if ch in _BIDI:
            out.append(f"⟨U+{ord(ch):04X}⟩")
        elif ch in "\t\n\r":
            out.append(" ")
        elif unicodedata.category(ch) in ("Cc", "Cs"):
            out.append("\ufffd")
        else:
            out.append(ch)
    return "".join(out)


def wrap(text: str, most: int) -> list[str]:
    """Lines of at most ``most`` columns, broken at spaces; a word longer than a line (a
    file name) is broken where it must, never silently cut."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        while width(word) > most:
            if line:
                lines.append(line)
                line = ""
            cut = _fit(word, most)
            lines.append(word[:cut])
            word = word[cut:]
        if not line:
            line = word
        elif width(line) + 1 + width(word) <= most:
            line += " " + word
        else:
            lines.append(line)
            line = word
    lines.append(line)
    return lines


def _fit(word: str, most: int) -> int:
    """How many characters of ``word`` fill ``most`` columns (at least one)."""
    used = 0
    for i, ch in enumerate(word):
        used += width(ch)
        if used > most:
            return max(1, i)
    return len(word)


def _cell_width(text: str) -> int:
    return max(width(line) for line in text.split("\n"))


def _cell_lines(text: str, most: int) -> list[str]:
    return [part for line in text.split("\n")
            for part in (wrap(line, most) if width(line) > most else [line])]


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]],
                 max_width: int | None = None, wrap_columns: Iterable[int] = ()) -> str:
    """Columns separated by two spaces; a cell may hold several lines ("\n"). With
    ``max_width``, the ``wrap_columns`` give up room (the widest first) until the table
    fits, their cells wrapping onto more lines."""
    natural = [max(_cell_width(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    widths = list(natural)
    shrinkable = sorted(set(wrap_columns))
    if max_width is not None and shrinkable:
        # a column keeps its longest word (a file name) whole while it can
        least = {i: max(width(headers[i]), min(_longest_word(rows, i), MAX_WIDTH // 2))
                 for i in shrinkable}
        while sum(widths) + len(GAP) * (len(widths) - 1) > max_width:
            candidates = [i for i in shrinkable if widths[i] > least[i]]
            if not candidates:
                break
            widest = max(candidates, key=lambda i: widths[i])
            widths[widest] -= 1
    out = [GAP.join(pad(h, w) for h, w in zip(headers, widths, strict=True)).rstrip(),
           GAP.join("-" * w for w in widths)]
    for row in rows:
        cells = [_cell_lines(c, w) for c, w in zip(row, widths, strict=True)]
        for n in range(max(len(c) for c in cells)):
            out.append(GAP.join(pad(c[n] if n < len(c) else "", w)
                                for c, w in zip(cells, widths, strict=True)).rstrip())
    return "\n".join(out)


def _longest_word(rows: Sequence[Sequence[str]], i: int) -> int:
    return max((width(word) for r in rows for word in r[i].split()), default=0)


def paragraph(text: str, wide: bool, indent: str = "", hanging: str = "") -> list[str]:
    """A line of prose under a table, wrapped to the table's width unless --wide."""
    if wide:
        return [indent + text]
    lines = wrap(text, MAX_WIDTH - width(indent) - width(hanging))
    return [indent + lines[0], *(indent + hanging + line for line in lines[1:])]


# --- members and the order of documents -------------------------------------------------

def role_label(role: str | None) -> str:
    return _("head") if role == "head" else _("seal") if role == "seal" else role or "?"


def member_name(member_id: str | None, roster: Roster | None) -> str:
    """The province a member stands for, the name of a member's department; its id when
    the roster does not know it."""
    if member_id and roster is not None and roster.has_member(member_id):
        return roster.member(member_id).where
    return member_id or "?"


def _owner(path: str, members: list[str], roster: Roster | None) -> str | None:
    """The member a document belongs to, None for the cluster's own (several members sign
    it). The pack's layout says it (``<year>/<member-id>/``); else who signs it."""
    folder = PurePath(path).parent.name
    if roster is not None and roster.has_member(folder):
        return folder
    distinct = list(dict.fromkeys(member_of(m) for m in members))
    return distinct[0] if len(distinct) == 1 else None


def _pack_order(paths: Sequence[str], members: Sequence[list[str]],
                roster: Roster | None) -> list[int]:
    """Indexes in the order of the pack: the cluster's documents first, then each member's
    in roster order, each member's in the order of the kinds of document (launch plan,
    registration, internal pledge); else the order given."""
    from signflow.documents.context import KINDS

    ids = roster.member_ids if roster is not None else []
    kinds = list(KINDS)

    def kind(path: str) -> int:
        name = PurePath(path).name
        return next((n for n, k in enumerate(kinds) if name.startswith(f"{k}-")), len(kinds))

    def key(i: int) -> tuple[int, int, int, int]:
        owner = _owner(paths[i], members[i], roster)
        if owner is None:
            return (0 if members[i] else 2, 0, kind(paths[i]), i)
        return (1, ids.index(owner) if owner in ids else len(ids), kind(paths[i]), i)

    return sorted(range(len(paths)), key=key)


def _unit(owner: str | None, roster: Roster | None) -> str:
    if owner is None:
        return roster.cluster.name if roster is not None else _("the cluster")
    return member_name(owner, roster)


# --- signflow status ----------------------------------------------------------------------

def _next_text(r: DocumentStatus, roster: Roster | None, wide: bool) -> str:
    """Who signs next, by role: "heads: Quảng Ninh, Hà Nam (+6); seals: Ninh Bình"."""
    parts = []
    for role, words in (("head", _("heads sign: {names}")), ("seal", _("seals: {names}"))):
        names = [member_name(n["member"], roster) for n in r.next if n["role"] == role]
        if not names:
            continue
        shown = names if wide else names[:NEXT_NAMES]
        text = ", ".join(shown)
        if len(shown) < len(names):
            text += " " + _("(+{n} more)").format(n=len(names) - len(shown))
        parts.append(words.format(names=text))
    return "; ".join(parts) or "-"


def status_table(results: Sequence[DocumentStatus], roster: Roster | None,
                 wide: bool = False) -> str:
    """One row per document: whose it is, how many signatures it has, who is next. With
    ``wide``, a column per member (head then seal: ✓ signed, · pending) and every name."""
    order = _pack_order([r.file for r in results], [[f.member for f in r.fields]
                                                     for r in results], roster)
    results = [results[i] for i in order]
    present = [f.member for r in results for f in r.fields]
    known = sorted({m for m in present if roster is not None and roster.has_member(m)},
                   key=lambda m: roster.order_key(m) if roster is not None else (0, 0))
    members = known + [m for m in dict.fromkeys(present) if m not in known]
    headers = [_("Document"), _("Unit")]
    if wide:  # a department's column: its name (its member's column follows)
        headers += [(roster.member(m).department_name if roster is not None and "/" in m
                     and roster.has_member(m) else None) or member_name(m, roster)
                    for m in members]
    headers += [_("Signed"), _("Next")]
    rows = []
    for r in results:
        name = clean(PurePath(r.file).name)
        owner = _owner(r.file, [f.member for f in r.fields], roster)
        unit = _unit(owner, roster) if owner or r.fields else ""
        cells = []
        if wide:
            for m in members:
                marks = {f.role: SIGNED if f.signed else PENDING
                         for f in r.fields if f.member == m}
                cells.append(f"{marks.get('head', ' ')}{marks.get('seal', ' ')}"
                             if marks else "")
        if r.error:
            rows.append([name, unit, *cells, "", clean(r.error)])
            continue
        rows.append([name, unit, *cells, f"{r.signed}/{len(r.fields)}",
                     _("complete") if r.complete else _next_text(r, roster, wide)])
    if wide:
        legend = _("Each member column: head then seal; {signed} signed, {pending} pending."
                   ).format(signed=SIGNED, pending=PENDING)
        return render_table(headers, rows) + "\n\n" + legend
    return render_table(headers, rows, MAX_WIDTH, wrap_columns=(0, 1, len(headers) - 1))


# --- signflow verify ----------------------------------------------------------------------

def _mark(value: bool | None) -> str:
    return "?" if value is None else ("✓" if value else "✗")


def _result(s: SignatureVerdict) -> str:
    """The first thing wrong with a signature, in words ("valid" when nothing is)."""
    if not s.intact:
        return _("changed after signing")
    if not s.valid:
        return _("signature invalid")
    if s.revoked:
        return _("revoked")
    if not s.trusted:
        return _("not trusted")
    return _("valid") if s.ok else _("see problems")


def _signer(s: SignatureVerdict, roster: Roster | None) -> tuple[str, str]:
    """Who signed (the certificate's name) and as what (province and role)."""
    who = clean(s.signer or "?")
    if s.is_timestamp:
        return who, _("document timestamp")
    if s.member:
        return who, f"{member_name(s.member, roster)} ({role_label(s.role)})"
    return who, "-"


def _signature_table(v: FileVerdict, roster: Roster | None, wide: bool) -> str:
    rows = []
    for i, s in enumerate(v.signatures, 1):
        who, what = _signer(s, roster)
        when = s.timestamp or s.signing_time
        if wide:
            # ✓ like the other columns: good news (checked, not revoked); ? unknown
            revoked = "?" if s.revoked is None else ("✗" if s.revoked else "✓")
            rows.append([str(i), clean(s.field), who, what, _mark(s.intact), _mark(s.valid),
                         _mark(s.trusted), revoked, s.level or "-", when or "-",
                         modification_label(s.modifications)])
        else:  # who signed, and below it as what: one column, two lines
            rows.append([str(i), f"{who}\n{what}", _result(s), s.level or "-",
                         time_text(when) if when else "-",
                         modification_label(s.modifications)])
    if wide:
        headers = ["#", _("Field"), _("Signer"), _("Signed as"), _("Intact"), _("Valid"),
                   _("Trusted"), _("Not revoked"), _("Level"), _("Time"), _("Changes after")]
        return render_table(headers, rows)
    headers = ["#", _("Signer"), _("Result"), _("Level"), _("Time"), _("After signing")]
    return render_table(headers, rows, MAX_WIDTH, wrap_columns=(1, 2, 4, 5))


def _listed(entries: Iterable[dict[str, str]], roster: Roster | None) -> str:
    """"Nam Định (người đứng đầu, con dấu), Hà Nam (con dấu)": by member, in order."""
    roles: dict[str | None, list[str]] = {}
    for m in entries:
        roles.setdefault(m.get("member"), []).append(role_label(m.get("role")))
    return ", ".join(f"{member_name(member, roster)} ({', '.join(labels)})"
                     for member, labels in roles.items())


def _missing_lines(v: FileVerdict, roster: Roster | None) -> list[str]:
    """Required signatures not (validly) there, told apart: absent; there but not trusted
    at the validation time (an expired certificate without archive data); there but not
    valid."""
    present = [m for m in v.signed_not_ok]
    absent = [m for m in v.missing if m not in present]
    untrusted, invalid = [], []
    for m in present:
        sigs = [s for s in v.signatures if not s.is_timestamp
                and (s.member, s.role) == (m.get("member"), m.get("role"))]
        if any(s.intact and s.valid and not s.trusted and not s.revoked for s in sigs):
            untrusted.append(m)
        else:
            invalid.append(m)
    lines = []
    if absent:
        lines.append(_("Missing signatures: {list}").format(list=_listed(absent, roster)))
    if untrusted:
        at = time_text(v.validation_time) if v.validation_time else "?"
        lines.append(_("Signed, but not trusted at the validation time ({time}): {list}"
                       ).format(time=at, list=_listed(untrusted, roster)))
    if invalid:
        lines.append(_("Signed, but the signature is not valid: {list}").format(
            list=_listed(invalid, roster)))
    return lines


def verify_table(verdicts: Sequence[FileVerdict], roster: Roster | None = None,
                 wide: bool = False) -> str:
    """Per file: the verdict, then one line per signature, then the problems."""
    order = _pack_order([v.file for v in verdicts],
                        [[s.member for s in v.signatures if s.member and not s.is_timestamp]
                         for v in verdicts], roster)
    out: list[str] = []
    for v in (verdicts[i] for i in order):
        if not v.readable:
            verdict = _("UNREADABLE")
        elif v.ok:
            verdict = _("VALID") + ("" if v.complete is None else " - " + _("complete"))
        else:
            verdict = _("PROBLEMS FOUND")
        out += paragraph(f"{clean(PurePath(v.file).name)}: {verdict}", wide)
        if v.signatures:
            out.append(_signature_table(v, roster, wide))
        if v.complete is False:
            for line in _missing_lines(v, roster):
                out += paragraph(line, wide, hanging="  ")
        if v.identities_by_name:
            out += paragraph(identity_note(), wide, hanging="  ")
        unknown = revocation_note(v)
        if unknown:
            out += paragraph(unknown, wide, hanging="  ")
        # A change after signing concerns every earlier signature: say it once, with the
        # fields it concerns.
        concerned: dict[str, list[str]] = {}
        for s in v.signatures:
            for p in s.problems:
                concerned.setdefault(p, []).append(s.field)
        for p, fields in concerned.items():
            where = clean(fields[0]) if len(fields) == 1 else \
                _("{n} signatures").format(n=len(fields))
            out += paragraph(f"✗ {where}: {clean(p)}", wide, indent="  ", hanging="  ")
        for p in v.problems:
            out += paragraph(f"✗ {clean(p)}", wide, indent="  ", hanging="  ")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


# --- signflow log -------------------------------------------------------------------------

def _detail_names() -> dict[str, str]:
    return {
        "member": _("member"), "role": _("role"), "signer": _("signer"),
        "field": _("field"), "reason": _("reason"), "signatures": _("signatures"),
        "revisions": _("revisions"), "from": _("from revision"), "to": _("to revision"),
        "tsa": "TSA", "ledger": _("ledger"), "certificate_sha256": _("certificate SHA-256"),
        "sha256_before": _("SHA-256 before"), "sha256_after": _("SHA-256 after"),
        "sha256": "SHA-256",
        "file": _("file"), "folder": _("folder"), "signed_by": _("signed by"),
        "timestamps": _("document timestamps"), "forked_after": _("forked after revision"),
        "newest": _("newest revision"), "lost": _("would lose"), "adds": _("adds"),
        "problems": _("problems"), "first_revision": _("first revision"),
    }


def event_line(seq: int, at: str, action: str, path: str | None,
               details: dict[str, Any]) -> str:
    """One line of `signflow log`: number, time (+07:00), what happened, the file, details."""
    names = _detail_names()
    shown = []
    known = list(names)  # who and what first, the fingerprints after
    for key, value in sorted(details.items(), key=lambda kv: (
            known.index(kv[0]) if kv[0] in known else len(known))):
        if key in ("revisions_sha256", "recovered"):
            continue
        if key == "role" and isinstance(value, str):
            value = role_label(value)
        elif value is True or value is False:
            value = _("yes") if value else _("no")
        shown.append(f"{names.get(key, key)}: {value}")
    try:
        when = vn.iso_vn(dt.datetime.fromisoformat(at))
    except (TypeError, ValueError):
        when = str(at)
    label = event_label(action, details)
    return clean(f"{seq:>4}  {when}  {pad(label, 24)} {path or ''}  {'; '.join(shown)}"
                 ).rstrip()
