"""Reading a table that an office keeps as a spreadsheet (a staff list): CSV or .xlsx.

Files come from outside, so they are read within limits (size, rows, columns, the length
of a cell, the unpacked size of an .xlsx) and read-only: an .xlsx is never written back and
its formulas are never evaluated (a formula cell is reported, not computed). What a cell
means is the caller's business: this returns the header and the rows as text, each row
with the number the spreadsheet shows for it, so that problems can name row and column.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from signflow.errors import InputError
from signflow.i18n import _

MAX_BYTES = 10 * 1024 * 1024  # far above a staff list of a thousand people
MAX_UNPACKED = 64 * 1024 * 1024  # an .xlsx is a zip: its unpacked parts, all together
MAX_ROWS = 20_000
MAX_COLUMNS = 50
MAX_CELL = 2_000  # characters
SUFFIXES = (".csv", ".xlsx")


@dataclass
class Sheet:
    """A spreadsheet's header (the first non-empty row) and its other non-empty rows."""

    path: Path
    header: list[str]
    header_row: int
    rows: list[tuple[int, list[str]]] = field(default_factory=list)
    # cells that cannot be read as text (formulas), as (row, column index, message)
    problems: list[tuple[int, int, str]] = field(default_factory=list)


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA: the column as the spreadsheet names it."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def read_sheet(path: Path) -> Sheet:
    """Read ``path`` (.csv in UTF-8, with or without a BOM, or .xlsx: its first sheet).

    Raises InputError naming the file when it cannot be read at all (missing, another
    format, not UTF-8, too large, no header row)."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(_("{path}: a staff list must be a .csv or .xlsx file").format(
            path=path))
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise InputError(_("{path}: staff list not found").format(path=path)) from None
    except OSError as exc:
        raise InputError(_("cannot read {path}: {reason}").format(
            path=path, reason=exc.strerror or exc)) from None
    if not path.is_file():
        raise InputError(_("not a file: {path}").format(path=path))
    if size > MAX_BYTES:
        raise InputError(_("{path}: the file is too large ({size} KiB; at most {limit} KiB)"
                           ).format(path=path, size=size // 1024, limit=MAX_BYTES // 1024))
    raw = _read_csv(path) if suffix == ".csv" else _read_xlsx(path)
    return _sheet(path, raw)


def _too_many_rows(path: Path) -> InputError:
    return InputError(_("{path}: too many rows (at most {n})").format(path=path, n=MAX_ROWS))


def _read_csv(path: Path) -> list[tuple[int, list[str], list[tuple[int, str]]]]:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(_("{path}: not UTF-8 text (save it as \"CSV UTF-8\")").format(
            path=path)) from None
    except OSError as exc:
        raise InputError(_("cannot read {path}: {reason}").format(
            path=path, reason=exc.strerror or exc)) from None
    first = text.split("\n", 1)[0]
    # Excel in a Vietnamese or European locale separates with ';'
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, list[str], list[tuple[int, str]]]] = []
    line = 1
    try:
        for record in reader:
            rows.append((line, record, []))
            line = reader.line_num + 1
            if len(rows) > MAX_ROWS + 1:
                raise _too_many_rows(path)
    except csv.Error as exc:
        raise InputError(_("{path}: row {row}: not valid CSV: {reason}").format(
            path=path, row=line, reason=exc)) from None
    return rows


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _read_xlsx(path: Path) -> list[tuple[int, list[str], list[tuple[int, str]]]]:
    try:
        with zipfile.ZipFile(path) as z:
            unpacked = sum(info.file_size for info in z.infolist())
    except (OSError, zipfile.BadZipFile):
        raise InputError(_("{path} is not an Excel workbook (.xlsx)").format(path=path)
                         ) from None
    if unpacked > MAX_UNPACKED:
        raise InputError(_("{path}: the workbook is too large once unpacked (at most {n} "
                           "MiB)").format(path=path, n=MAX_UNPACKED // (1024 * 1024)))
    import openpyxl

    try:
        # read_only: streamed, never written back; data_only=False: a formula stays a
        # formula (reported below), it is never computed nor its cached value trusted
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=False,
                                          keep_links=False)
    except Exception as exc:  # openpyxl raises many unrelated types for broken files
        raise InputError(_("{path} is not a readable Excel workbook (.xlsx): {reason}").format(
            path=path, reason=str(exc).splitlines()[0][:200] if str(exc) else
            type(exc).__name__)) from None
    rows: list[tuple[int, list[str], list[tuple[int, str]]]] = []
    try:
        sheet = workbook.worksheets[0]
        for number, cells in enumerate(sheet.iter_rows(max_col=MAX_COLUMNS + 1), start=1):
            texts: list[str] = []
            problems: list[tuple[int, str]] = []
            for index, cell in enumerate(cells):
                if getattr(cell, "data_type", None) == "f":
                    problems.append((index, _("a formula: type the value itself")))
                texts.append(_cell_text(getattr(cell, "value", None)))
            rows.append((number, texts, problems))
            if len(rows) > MAX_ROWS + 1:
                raise _too_many_rows(path)
    except InputError:
        raise
    except Exception as exc:  # a damaged sheet inside a valid zip
        raise InputError(_("{path} is not a readable Excel workbook (.xlsx): {reason}").format(
            path=path, reason=str(exc).splitlines()[0][:200] if str(exc) else
            type(exc).__name__)) from None
    finally:
        workbook.close()
    return rows


def _sheet(path: Path, raw: list[tuple[int, list[str], list[tuple[int, str]]]]) -> Sheet:
    sheet: Sheet | None = None
    for number, cells, problems in raw:
        cells = [c.strip() for c in cells]
        while cells and not cells[-1]:
            cells.pop()
        if not cells and not problems:
            continue  # an empty row
        if len(cells) > MAX_COLUMNS:
            raise InputError(_("{path}: row {row}: too many columns (at most {n})").format(
                path=path, row=number, n=MAX_COLUMNS))
        for index, cell in enumerate(cells):
            if len(cell) > MAX_CELL:
                raise InputError(_("{path}: row {row}, column {column}: the cell is too long "
                                   "(at most {n} characters)").format(
                    path=path, row=number, column=column_letter(index), n=MAX_CELL))
        if sheet is None:
            sheet = Sheet(path, cells, number)
            sheet.problems += [(number, i, m) for i, m in problems]
            continue
        sheet.rows.append((number, cells))
        sheet.problems += [(number, i, m) for i, m in problems]
    if sheet is None:
        raise InputError(_("{path}: the staff list is empty (it needs a header row)").format(
            path=path))
    return sheet
