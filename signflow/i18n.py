"""User-facing language: Vietnamese by default, English on request.

Every user-facing string goes through ``_()``; the English source text is the msgid and
the Vietnamese catalogue lives in ``signflow/locale/vi/LC_MESSAGES/signflow.po`` (a plain
gettext catalogue, editable with any PO editor). The language is Vietnamese unless
``--lang en`` is given or the locale (``SIGNFLOW_LANG``, ``LANGUAGE``, ``LC_ALL``,
``LC_MESSAGES``, ``LANG``) names another language. A "C"/"POSIX" locale, common on servers,
does not name a language and keeps the default.
"""

from __future__ import annotations

import datetime as dt
import gettext as stdlib_gettext
import os
from functools import cache
from pathlib import Path

from signflow import vn

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"
_LOCALE_DIR = Path(__file__).parent / "locale"

_language: str | None = None


def language_from_environment(environ: dict[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    for var in ("SIGNFLOW_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(var, "").strip()
        if not value:
            continue
        # LANGUAGE may hold a priority list ("vi:en"); the first entry decides.
        code = value.split(":")[0].split(".")[0].split("_")[0].split("-")[0].lower()
        if code in ("c", "posix", ""):
            continue
        return "vi" if code == "vi" else "en"
    return DEFAULT_LANGUAGE


def set_language(lang: str | None) -> str:
    """Fix the language for the rest of the process; None means from the environment."""
    global _language
    if lang is not None and lang not in LANGUAGES:
        raise ValueError(lang)
    _language = lang or language_from_environment()
    return _language


def get_language() -> str:
    return _language or set_language(None)


@cache
def _catalog(lang: str) -> stdlib_gettext.NullTranslations:
    """The compiled catalogue (.mo, made from the .po by tools/update_catalog.py: reading
    it takes a millisecond, parsing the .po tens of them in every command); the .po itself
    when no .mo was shipped."""
    messages = _LOCALE_DIR / lang / "LC_MESSAGES"
    try:
        with (messages / "signflow.mo").open("rb") as f:
            return stdlib_gettext.GNUTranslations(f)
    except OSError:
        pass
    po_path = messages / "signflow.po"
    if not po_path.is_file():
        return stdlib_gettext.NullTranslations()
    import polib

    return _Messages({entry.msgid: entry.msgstr for entry in polib.pofile(str(po_path))
                      if entry.msgstr and not entry.obsolete and "fuzzy" not in entry.flags})


class _Messages(stdlib_gettext.NullTranslations):
    """A catalogue read from the .po (msgid -> msgstr)."""

    def __init__(self, messages: dict[str, str]) -> None:
        super().__init__()
        self.messages = messages

    def gettext(self, message: str) -> str:
        return self.messages.get(message, message)


def gettext(message: str) -> str:
    lang = get_language()
    if lang == "en":
        return message
    return _catalog(lang).gettext(message)


_ = gettext


def catalog_path(lang: str = "vi") -> Path:
    return _LOCALE_DIR / lang / "LC_MESSAGES" / "signflow.po"


def date_text(moment: dt.date | dt.datetime | str) -> str:
    """A date in a message: "05/3/2026" in Vietnamese (day with two digits, month as in
    documents, Decree 30/2020), "2026-03-05" in English. A time of day is taken in Vietnam
    time first; text that is not an ISO date is returned as it is."""
    day = _moment(moment)
    if day is None:
        return str(moment)
    if isinstance(day, dt.datetime):
        day = day.date()
    if get_language() == "en":
        return day.isoformat()
    return f"{vn.day_text(day.day)}/{vn.month_text(day.month)}/{day.year}"


def time_text(moment: dt.datetime | str) -> str:
    """A moment in a table or message, in Vietnam time: "09:30 05/3/2026" in Vietnamese,
    "2026-03-05 09:30" in English (the seconds and offset are in the JSON)."""
    when = _moment(moment)
    if not isinstance(when, dt.datetime) or when.tzinfo is None:
        return str(moment)
    when = when.astimezone(vn.VN_TZ)
    if get_language() == "en":
        return when.strftime("%Y-%m-%d %H:%M")
    return f"{when:%H:%M} {date_text(when)}"


def _moment(value: dt.date | dt.datetime | str) -> dt.date | None:
    if isinstance(value, dt.date):
        return value.astimezone(vn.VN_TZ) if isinstance(value, dt.datetime) and \
            value.tzinfo is not None else value
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    return parsed.astimezone(vn.VN_TZ) if parsed.tzinfo is not None else parsed
