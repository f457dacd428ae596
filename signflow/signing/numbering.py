"""The clerical office's number and date: the register of outgoing documents.

Decree 30/2020 (Art. 15 and 16) has the clerical office number and date a document when it
is issued: after the competent person has signed, before the seal. A member's document
generated without a number carries two empty, read-only text fields in its header (the
number's and the date's, created with the signature fields). ``number_documents`` fills
them in one incremental update with the next number of the year in the member's register
(sổ văn bản đi) and today's date; the register is the ledger's hash-chained "numbered"
events. The seal can only follow that update, and the verifier accepts exactly it: the two
fields' values and appearances, after the head, before the seal, once
(``signflow.validation.revisions``).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from signflow import vn
from signflow._internal.locks import LOCK_TIMEOUT, writing
from signflow.errors import InputError, SigningError
from signflow.i18n import _
from signflow.pdf.anchors import DATE_SIZE_PT, NUMBER_SIZE_PT, issue_field_name
from signflow.roster import Roster
from signflow.signing.policy import numbering_problems
from signflow.validation.revisions import DocumentHistory, read_history


@dataclass(frozen=True)
class NumberOutcome:
    """One document numbered: what the register records."""

    path: Path
    member: str
    number: int
    symbol: str
    year: int
    issued: dt.date
    sha256_before: str
    sha256_after: str

    @property
    def number_line(self) -> str:
        """'Số: 05/KH-TTr'."""
        return vn.number_line(self.number, self.symbol)

    def details(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        data["issued"] = self.issued.isoformat()
        return data


def number_documents(paths: Sequence[Path], roster: Roster, ledger: Any,
                     today: dt.date | None = None, lock_timeout: float = LOCK_TIMEOUT,
                     on_wait: Callable[[Path], None] | None = None,
                     on_skip: Callable[[Path, str], None] | None = None) -> list[NumberOutcome]:
    """Check every document, then number each one (all or nothing at the check stage).

    A document with no number fields (numbered when generated) or already numbered is
    left alone and ``on_skip`` told why, so that an office can name a whole folder; when
    nothing is left to number, that is an error.

    Each document's write lock is held from reading it to the rename and the register's
    record; the register itself is locked while a number is taken, written and recorded,
    so that two offices numbering at once never get the same number."""
    from signflow._internal.files import unique_paths

    if ledger is None:
        raise InputError(_("numbering needs the ledger: the register of outgoing documents "
                           "is kept there"))
    issued = today or vn.today_in_vietnam()
    unique = unique_paths(paths)
    with writing(unique, lock_timeout, on_wait):
        checked: list[tuple[Path, DocumentHistory, str, str]] = []
        refusals: list[str] = []
        skipped: list[str] = []
        for path in unique:
            history = read_history(path)
            ledger.observe(path, history.data, roster=roster, reader=history.reader)
            if history.fields_revision is not None and (
                    not history.issue_fields or history.numbering_revision is not None):
                reason = numbering_problems(history, roster, 0, issued)[2][0]
                skipped.append(f"{path}: {reason}")
                if on_skip is not None:
                    on_skip(path, reason)
                continue
            known_good = ledger.checked_revisions(history.data)
            member, symbol, problems = numbering_problems(history, roster, known_good,
                                                          issued)
            refusals += [f"{path}: {p}" for p in problems]
            if not problems:
                assert member is not None and symbol is not None
                checked.append((path, history, member, symbol))
        if refusals:
            raise SigningError(_("numbering refused; no document was changed"),
                               details=refusals)
        if not checked:
            raise InputError(_("no document to number"), details=skipped)
        return [_number_one(path, history, member, symbol, issued, ledger, lock_timeout)
                for path, history, member, symbol in checked]


def _number_one(path: Path, history: DocumentHistory, member: str, symbol: str,
                issued: dt.date, ledger: Any, lock_timeout: float) -> NumberOutcome:
    from signflow._internal.files import append_revision, fault_point, sha256_bytes

    with ledger.register_lock(lock_timeout):
        number = ledger.next_number(member, issued.year, symbol)
        data = history.data
        numbered = fill_issue_fields(history, member, number, issued)
        outcome = NumberOutcome(path, member, number, symbol, issued.year, issued,
                                sha256_bytes(data), sha256_bytes(numbered))
        pending = ledger.intend_number(path, outcome.details())
        fault_point("before-rename")
        append_revision(path, data, numbered)
        fault_point("after-rename")
        ledger.record_number(path, numbered, outcome.details(), pending)
        ledger.mark_checked(numbered)
    return outcome


def fill_issue_fields(history: DocumentHistory, member: str, number: int,
                      issued: dt.date) -> bytes:
    """The document with its number and date fields filled, as one incremental update."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    shape = history.shape(history.total_revisions - 1)
    writer = IncrementalPdfFileWriter(io.BytesIO(history.data), strict=False)
    for part, value in (("number", vn.number_text(number)), ("date", vn.date_words(issued))):
        fixed = shape.fields.get(issue_field_name(member, part))  # type: ignore[arg-type]
        if fixed is None or fixed.ref is None or fixed.rect is None:
            raise SigningError(_("the document has no {part} field for {member}").format(
                part=part, member=member))
        # the reference as this writer knows it (the shape's belongs to the history's reader)
        ref = generic.Reference(fixed.ref.idnum, fixed.ref.generation, writer)
        field = writer.get_object(ref)
        field[generic.NameObject("/V")] = generic.TextStringObject(value)
        width, height = fixed.rect[2] - fixed.rect[0], fixed.rect[3] - fixed.rect[1]
        field[generic.NameObject("/AP")] = generic.DictionaryObject({
            generic.NameObject("/N"): _appearance(writer, value, part, width, height)})
        writer.mark_update(ref)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _appearance(writer: Any, value: str, part: str, width: float, height: float) -> Any:
    """The value drawn in Liberation Serif (embedded subset), on the header's baseline:
    the number right-aligned against its "/", the date (italic, as the rest of the date
    line) from the left of its blank."""
    from pyhanko.pdf_utils import layout, text
    from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
    from pyhanko.stamp import TextStamp, TextStampStyle

    from signflow.signing.appearance import stamp_font

    size = int(NUMBER_SIZE_PT if part == "number" else DATE_SIZE_PT)
    style = TextStampStyle(
        stamp_text="%(value)s",
        text_box_style=text.TextBoxStyle(
            font=GlyphAccumulatorFactory(str(stamp_font(italic=part == "date"))),
            font_size=size, leading=size),
        border_width=0,
        background=None,
        inner_content_layout=layout.SimpleBoxLayoutRule(
            x_align=(layout.AxisAlignment.ALIGN_MAX if part == "number"
                     else layout.AxisAlignment.ALIGN_MIN),
            y_align=layout.AxisAlignment.ALIGN_MIN,
            margins=layout.Margins(left=1, right=1, top=0, bottom=1),
            inner_content_scaling=layout.InnerScaling.NO_SCALING,
        ),
    )
    stamp = TextStamp(writer, style, text_params={"value": value},
                      box=layout.BoxConstraints(width=width, height=height))
    return stamp.register()


def register_rows(ledger: Any, member: str | None = None,
                  year: int | None = None) -> list[dict[str, Any]]:
    """The register of outgoing documents, in the order numbers were given: each row with
    its member, year, symbol, number, date, document path and the time it was recorded."""
    rows = []
    for event in ledger.events():
        if event.action not in ("numbered", "numbering-interrupted"):
            continue
        d = event.details
        if member is not None and d.get("member") != member:
            continue
        if year is not None and d.get("year") != year:
            continue
        rows.append({"seq": event.seq, "at": event.at, "member": d.get("member"),
                     "year": d.get("year"), "symbol": d.get("symbol"),
                     "number": d.get("number"), "issued": d.get("issued"),
                     "path": event.path, "recovered": bool(d.get("recovered")),
                     "unused": event.action == "numbering-interrupted"})
    return rows


def register_gaps(rows: list[dict[str, Any]]) -> list[str]:
    """Numbers missing or given twice in each (member, year, symbol) series."""
    series: dict[tuple[Any, Any, Any], list[int]] = {}
    for row in rows:
        series.setdefault((row["member"], row["year"], row["symbol"]), []).append(
            int(row["number"]))
    problems = []
    for (member, year, symbol), numbers in sorted(series.items(), key=str):
        expected = list(range(1, len(numbers) + 1))
        if numbers != expected:
            problems.append(_("{member} {year} /{symbol}: the numbers are {numbers}, not "
                              "1 to {n} in order").format(
                member=member, year=year, symbol=symbol,
                numbers=", ".join(str(n) for n in numbers), n=len(numbers)))
    return problems


REGISTER_COLUMNS = ("member", "year", "symbol", "number", "issued", "path", "at")


def register_csv(rows: list[dict[str, Any]]) -> str:
    """The register as CSV (UTF-8 with a BOM, so that spreadsheet programs read the
    Vietnamese letters), one row per number given."""
    import csv

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_("Member"), _("Year"), _("Symbol"), _("Number"), _("Date of issue"),
                     _("Document"), _("Recorded at"), _("Note")])
    for row in rows:
        writer.writerow([row["member"], row["year"], row["symbol"],
                         vn.number_text(int(row["number"])), row["issued"] or "",
                         row["path"] or "", row["at"],
                         _("not used (interrupted)") if row.get("unused") else ""])
    return "\ufeff" + out.getvalue()


def register_html(rows: list[dict[str, Any]], roster: Roster | None) -> str:
    """The register as a printable page (A4 landscape), one table per member and year."""
    from html import escape

    series: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in rows:
        series.setdefault((str(row["member"]), int(row["year"])), []).append(row)
    parts = []
    for (member, year), items in sorted(series.items()):
        unit = roster.member(member).unit if roster and roster.has_member(member) else member
        body = "".join(
            "<tr><td class=n>{n}</td><td>{symbol}</td><td>{date}</td><td>{path}</td>"
            "<td>{note}</td></tr>".format(
                n=escape(vn.number_text(int(r["number"]))), symbol=escape(str(r["symbol"])),
                date=escape(_date_text(r["issued"])), path=escape(Path(str(r["path"] or "")).name),
                note=escape(_("not used (interrupted)") if r.get("unused") else ""))
            for r in items)
        parts.append(
            f"<h2>{escape(unit)} — {escape(_('year'))} {year}</h2>"
            f"<table><thead><tr><th>{escape(_('Number'))}</th><th>{escape(_('Symbol'))}</th>"
            f"<th>{escape(_('Date of issue'))}</th><th>{escape(_('Document'))}</th>"
            f"<th>{escape(_('Note'))}</th></tr></thead><tbody>{body}</tbody></table>")
    empty = f"<p>{escape(_('No document has been numbered yet.'))}</p>" if not parts else ""
    title = escape(_("Register of outgoing documents"))
    return (
        "<!doctype html><html lang=vi><meta charset=utf-8>"
        f"<title>{title}</title><style>@page{{size:A4 landscape;margin:15mm}}"
        "body{font-family:'Liberation Serif','Times New Roman',serif;font-size:13pt}"
        "h1{font-size:16pt;text-align:center;text-transform:uppercase}h2{font-size:14pt}"
        "table{border-collapse:collapse;width:100%;margin-bottom:8mm}"
        "th,td{border:1px solid #000;padding:2pt 5pt;text-align:left}td.n{text-align:right}"
        "thead{display:table-header-group}tr{break-inside:avoid}</style>"
        f"<h1>{title}</h1>{empty}{''.join(parts)}</html>")


def _date_text(iso: Any) -> str:
    try:
        return dt.date.fromisoformat(str(iso)).strftime("%d/%m/%Y")
    except ValueError:
        return ""
