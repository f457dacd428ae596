"""User-facing language: Vietnamese by default, English on request.

Every user-facing string goes through ``_()``; the English source text is the msgid and
the Vietnamese catalogue lives in ``signflow/locale/vi/LC_MESSAGES/signflow.po`` (a plain
gettext catalogue, editable with any PO editor). The language is Vietnamese unless
``--lang en`` is given or the locale (``SIGNFLOW_LANG``, ``LANGUAGE``, ``LC_ALL``,
``LC_MESSAGES``, ``LANG``) names another language. A "C"/"POSIX" locale, common on servers,
does not name a language and keeps the default.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import polib

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
def _catalog(lang: str) -> dict[str, str]:
    po_path = _LOCALE_DIR / lang / "LC_MESSAGES" / "signflow.po"
    if not po_path.is_file():
        return {}
    return {
        entry.msgid: entry.msgstr
        for entry in polib.pofile(str(po_path))
        if entry.msgstr and not entry.obsolete and "fuzzy" not in entry.flags
    }


def gettext(message: str) -> str:
    lang = get_language()
    if lang == "en":
        return message
    return _catalog(lang).get(message, message)


_ = gettext


def catalog_path(lang: str = "vi") -> Path:
    return _LOCALE_DIR / lang / "LC_MESSAGES" / "signflow.po"
