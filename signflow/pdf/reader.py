"""Reading a PDF safely, and where each of its revisions ends.

Everything signflow reads (documents to sign, to verify, to record in the ledger) goes
through ``open_reader``: a PDF that is not one, is encrypted, or cannot be parsed is an
``InputError`` naming the file, never an exception from deep inside pyHanko.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from signflow.errors import InputError
from signflow.i18n import _

if TYPE_CHECKING:
    from pyhanko.pdf_utils.reader import PdfFileReader


def open_reader(data: bytes, path: Path | str = "") -> PdfFileReader:
    """A lenient pyHanko reader on ``data``: signflow's own ``SignflowPdfReader`` (the same
    objects, read faster; plain ``PdfFileReader`` with SIGNFLOW_PLAIN_PYHANKO=1 or an
    unknown pyHanko version), or an ``InputError`` naming ``path``."""
    from pyhanko.pdf_utils.misc import PdfReadError

    from signflow._internal.pyhanko.reader import open_pdf_reader

    if not data.startswith(b"%PDF-") and b"%PDF-" not in data[:1024]:
        raise InputError(_("{path}: not a PDF file").format(path=path))
    try:
        reader = open_pdf_reader(io.BytesIO(data), strict=False)
        if reader.encrypted:
            raise InputError(_("{path}: the PDF is encrypted").format(path=path))
        reader.root  # noqa: B018 - forces the trailer and catalogue to parse
        return reader
    except InputError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise InputError(_("{path}: cannot read the PDF: {reason}").format(
            path=path, reason=str(exc)[:160])) from None




def revision_ends(data: bytes, reader: Any = None) -> list[int]:
    """Byte offset just past the end of each revision (after its %%EOF and line end).

    Memoised by content (one signing step asks several times about the same bytes);
    ``reader``: a reader already open on ``data``, to avoid parsing it again."""
    key = hashlib.sha256(data).hexdigest()
    locations = _LOCATIONS.get(key)
    if locations is None:
        locations = _xref_ends(data, reader)
        _remember(key, locations)
    return _ends_from(data, locations)


def remember_appended(before: bytes, after: bytes) -> None:
    """``after`` is ``before`` plus exactly one revision (the caller knows: a B-B or B-T
    signature): its revisions' ends are known without parsing it, since the earlier
    revisions' cross-reference sections are the same bytes."""
    locations = _LOCATIONS.get(hashlib.sha256(before).hexdigest())
    if (locations is not None and after.startswith(before)
            and after.count(b"%%EOF", len(before)) == 1):  # a second check of "one revision"
        # the last revision's end is the end of the file whatever its xref says
        _remember(hashlib.sha256(after).hexdigest(), [*locations, len(before)])


# revision end locations by the SHA-256 of the file's bytes (one signing step asks several
# times about the same bytes; a signature appends exactly one revision)
_LOCATIONS: dict[str, list[int]] = {}


def _remember(key: str, locations: list[int]) -> None:
    if len(_LOCATIONS) > 256:
        _LOCATIONS.clear()
    _LOCATIONS[key] = locations


def _xref_ends(data: bytes, reader: Any = None) -> list[int]:
    """Where each revision's cross-reference section (and trailer) ends."""
    reader = reader if reader is not None else open_reader(data)
    return [reader.xrefs.get_xref_container_info(revision).end_location
            for revision in range(reader.xrefs.total_revisions)]


def _ends_from(data: bytes, locations: list[int]) -> list[int]:
    ends = []
    for location in locations:
        eof = data.find(b"%%EOF", location)
        if eof < 0:
            end = len(data)
        else:
            end = eof + 5
            while end < len(data) and data[end:end + 1] in (b"\r", b"\n"):
                end += 1
        ends.append(min(end, len(data)))
    ends[-1] = len(data)  # whatever follows the last %%EOF belongs to the last revision
    return ends
