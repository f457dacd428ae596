"""Vietnamese administrative formatting rules (Decree 30/2020/NĐ-CP, Appendix I)."""

from __future__ import annotations

import datetime as dt
import re

# Vietnam has one time zone and no daylight saving time.
VN_TZ = dt.timezone(dt.timedelta(hours=7), "ICT")


def today_in_vietnam() -> dt.date:
    """Today's date in Vietnam (UTC+7), whatever the machine's time zone: a server on UTC
    is still on yesterday from 17:00 UTC."""
    return dt.datetime.now(VN_TZ).date()


def day_text(day: int) -> str:
    """Days below 10 take a leading zero: 'ngày 05'."""
    return f"{day:02d}"


def month_text(month: int) -> str:
    """Only January and February take a leading zero ('tháng 01', 'tháng 02', 'tháng 6')."""
    return f"{month:02d}" if month in (1, 2) else str(month)


def date_words(date: dt.date) -> str:
    return f"ngày {day_text(date.day)} tháng {month_text(date.month)} năm {date.year}"


_DATE_WORDS = re.compile(r"ngày (\d{2}) tháng (\d{1,2}) năm (\d{4})")


def parse_date_words(text: str) -> dt.date | None:
    """The date of 'ngày 05 tháng 12 năm 2026' written exactly as ``date_words`` writes
    it; None for anything else."""
    match = _DATE_WORDS.fullmatch(text)
    if match is None:
        return None
    try:
        date = dt.date(int(match[3]), int(match[2]), int(match[1]))
    except ValueError:
        return None
    return date if date_words(date) == text else None


def date_line(place: str, date: dt.date) -> str:
    """'Ninh Bình, ngày 15 tháng 01 năm 2019'."""
    return f"{place}, {date_words(date)}"


def number_text(number: int) -> str:
    """Document numbers below 10 take a leading zero."""
    return f"{number:02d}"


def number_line(number: int | None, symbol: str) -> str:
    """'Số: 05/KH-TTr'; without a number the clerical office fills it in by hand."""
    if number is None:
        return f"Số:      /{symbol}"
    return f"Số: {number_text(number)}/{symbol}"


def upper(text: str) -> str:
    """Capitals for headings; str.upper handles every Vietnamese letter, đ included."""
    return text.upper()


def iso_vn(moment: dt.datetime) -> str:
    """ISO 8601 in Vietnam time, e.g. 2019-03-15T09:30:00+07:00."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(VN_TZ).isoformat(timespec="seconds")
