"""signflow's PDF reader: pyHanko's ``PdfFileReader`` with three speed-ups that apply to
the readers signflow opens, and to no other reader in the process (nothing in pyHanko is
replaced; ``open_pdf_reader`` falls back to the plain class, see ``supported()``). The
signatures it returns carry ``names.SignflowName`` (see there).

Historical objects. ``PdfFileReader.get_object(ref, revision)`` never caches ("never
cache historical refs"), because its cache is keyed by reference only. An object that a
later revision rewrote (a signature field, once signed) is then parsed again by every view
of an earlier revision: with one field per signature, checking each revision of a document
parses fields x revisions objects. Keyed by where the object's bytes are (the xref marker),
a parsed object is the same for every revision that sees those bytes; each revision's view
still makes its own copy (``HistoricalResolver._subsume_object``), as for cached objects.

Cross-reference lookups. ``XRefCache.get_last_change``, ``get_introducing_revision`` and
``get_historical_ref`` scan the sections from the newest (or the oldest) on every call,
thousands of calls per verification (7% of the time of verifying 36 signatures, measured
before this change). The sections never
change once read: each object's history (the revisions whose section has an entry for it,
and what the entry says) is collected once, from an index of the sections by object
number, and all three answers are read from it.

Signature values. pyHanko 0.38 reads a PDF hex string one byte at a time, through several
Python calls per byte; a signature's ``/Contents`` is a hex string of 16-32 KB, so merely
reading the signatures of a document with 18 of them spends most of its time there. When
an object holds such a string (``/Contents <...>``, 1024 hex digits or more), this reader
parses the object from a view of its bytes in which the digits are replaced by a short
random placeholder, positions kept as in the file (``_ElidedStream``), then puts the
decoded string where the placeholder landed. Everything else is pyHanko's own parsing of
the same bytes, so the object, its errors and its warnings (with their byte offsets) are
those pyHanko would give; when the placeholder is not found exactly once as a string
value (the digits were inside a literal string, a comment, stream data...), or anything
goes wrong, the object is parsed again the plain way (pyHanko's warnings about that one
object, if any, are then logged twice).
"""

from __future__ import annotations

import binascii
import bisect
import io
import os
import re
import secrets
from typing import Any, cast

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.xref import XRefCache

# /Contents followed by a hex string long enough for the fast path to pay
_LONG_CONTENTS = re.compile(rb"/Contents[ \t\r\n\f\x00]*<([0-9A-Fa-f]{1024,})>")
# a fresh placeholder per process: a file cannot hold it on purpose
_PLACEHOLDER = secrets.token_bytes(16)
_PLACEHOLDER_HEX = binascii.hexlify(_PLACEHOLDER)


class SignflowXRefCache(XRefCache):
    """``XRefCache`` answering from each object's history, collected once (the readers'
    cross-reference sections never change after reading). ``SignflowPdfReader`` turns its
    cache into one of these after pyHanko has read the sections."""

    _signflow_by_id: dict[int, list[int]] | None = None
    _signflow_history: dict[tuple[int, int], tuple[list[int], list[Any]]]
    _signflow_explicit: dict[int, frozenset[Any]]

    def _signflow_prepare(self) -> None:
        self._signflow_by_id = None
        self._signflow_history = {}
        self._signflow_explicit = {}

    def explicit_refs_in_revision(self, revision: Any) -> set[generic.Reference]:
        """pyHanko's answer, worked out once per revision (a verification asks for each
        revision's objects hundreds of times); each call gets a set of its own, as from
        pyHanko."""
        if not isinstance(revision, int) or not 0 <= revision < len(self._xref_sections):
            return super().explicit_refs_in_revision(revision)
        found = self._signflow_explicit.get(revision)
        if found is None:
            found = self._signflow_explicit[revision] = frozenset(
                super().explicit_refs_in_revision(revision))
        return set(found)

    def _sections_by_id(self) -> dict[int, list[int]]:
        """Object number -> the revisions whose section has an entry for it (in use, in
        an object stream, freed, or in a hybrid section); built once."""
        index = self._signflow_by_id
        if index is None:
            index = {}
            for revision, section in enumerate(self._xref_sections):
                data: Any = section.xref_data
                ids: set[int] = set()
                while data is not None:
                    ids.update(data.xrefs_in_objstm, data.standard_xrefs, data.freed)
                    data = data.hybrid.xref_data if data.hybrid is not None else None
                for idnum in ids:
                    index.setdefault(idnum, []).append(revision)
            self._signflow_by_id = index
        return index

    def _history(self, ref: Any) -> tuple[list[int], list[Any]]:
        """The revisions whose section resolves ``ref`` (oldest first), with what each
        says. Sections without an entry for the object number would raise KeyError in
        ``try_resolve``: only the others are asked."""
        key = (ref.idnum, ref.generation)
        found = self._signflow_history.get(key)
        if found is None:
            revisions: list[int] = []
            values: list[Any] = []
            for revision in self._sections_by_id().get(ref.idnum, ()):
                try:
                    value = self._xref_sections[revision].xref_data.try_resolve(ref)
                except KeyError:
                    continue
                revisions.append(revision)
                values.append(value)
            found = self._signflow_history[key] = (revisions, values)
        return found

    def get_last_change(self, ref: generic.Reference) -> int:
        revisions, _values = self._history(ref)
        if not revisions:
            raise KeyError(ref)
        return revisions[-1]

    def get_introducing_revision(self, ref: generic.Reference) -> int:
        revisions, values = self._history(ref)
        for revision, value in zip(revisions, values, strict=True):
            if value is not None:
                return revision
        raise KeyError(ref)

    def get_historical_ref(self, ref: Any, revision: int) -> Any:
        if revision < -1:  # pyHanko slices sections[:revision + 1]: keep its answer
            return super().get_historical_ref(ref, revision)
        revisions, values = self._history(ref)
        at = bisect.bisect_right(revisions, revision)
        return values[at - 1] if at else None


class _ElidedStream:
    """The reader's bytes with one run of hex digits replaced by the placeholder, read
    through positions of the real file: ``tell`` and ``seek`` speak real offsets, so that
    pyHanko's parsing (and its messages) cannot tell the difference. Only pyHanko's hex
    string reader ever stands inside the placeholder, and it never asks for a position."""

    def __init__(self, data: bytes, start: int, end: int) -> None:
        self._data = data
        self._start = start  # first digit of the run (the same offset in both views)
        self._end = end  # just past its last digit, in the file
        self._stop = start + len(_PLACEHOLDER_HEX)  # just past the placeholder, in the view
        self._shift = end - self._stop  # file offset - view offset, after the run
        self._size = len(data) - self._shift
        self._pos = 0  # in the view

    def _to_view(self, real: int) -> int:
        if real <= self._start:
            return real
        if real >= self._end:
            return real - self._shift
        raise _Elided(real)

    def tell(self) -> int:
        return self._pos + self._shift if self._pos >= self._stop else self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            pos = self._to_view(offset)
        elif whence == os.SEEK_CUR:
            pos = self._pos + offset
        elif whence == os.SEEK_END:
            pos = self._to_view(len(self._data) + offset)
        else:
            raise ValueError(whence)
        if pos < 0:
            raise ValueError("negative seek position")
        self._pos = pos
        return self.tell()

    def read(self, size: int | None = -1) -> bytes:
        pos = self._pos
        stop = self._size if size is None or size < 0 else min(pos + size, self._size)
        if stop <= pos:
            return b""
        self._pos = stop
        start, end = self._start, self._stop
        if stop <= start or pos >= end:  # all before the run, or all after it
            shift = self._shift if pos >= end else 0
            return self._data[pos + shift:stop + shift]
        return (self._data[pos:start] if pos < start else b"") + \
            _PLACEHOLDER_HEX[max(pos - start, 0):min(stop, end) - start] + \
            (self._data[end + self._shift:stop + self._shift] if stop > end else b"")


class _Elided(Exception):
    """pyHanko's parser asked for a position inside the elided digits."""


def _place(obj: Any, value: Any) -> bool:
    """Put ``value`` where the placeholder string is in ``obj`` (dictionaries and arrays,
    direct objects only); False unless it is there exactly once."""
    found: list[tuple[Any, Any]] = []
    stack = [obj]
    while stack:
        current = stack.pop()
        if isinstance(current, generic.DictionaryObject):
            items: Any = dict.items(current)
        elif isinstance(current, generic.ArrayObject):
            items = enumerate(list.__iter__(current))
        else:
            continue
        for key, item in items:
            if isinstance(item, generic.ByteStringObject | generic.TextStringObject):
                if item.original_bytes == _PLACEHOLDER:
                    found.append((current, key))
            elif isinstance(item, generic.DictionaryObject | generic.ArrayObject):
                stack.append(item)
    if len(found) != 1:
        return False
    holder, key = found[0]
    placeholder = (dict.__getitem__(holder, key) if isinstance(holder, dict)
                   else list.__getitem__(holder, key))
    value.container_ref = placeholder.container_ref  # as generic.read_object sets it
    if isinstance(holder, dict):
        dict.__setitem__(holder, key, value)
    else:
        list.__setitem__(holder, key, value)
    return True


class SignflowPdfReader(PdfFileReader):
    """``PdfFileReader`` with signflow's speed-ups (module docstring). Reads the same
    objects as ``PdfFileReader``; tests/test_speedups.py holds it to that."""

    _signflow_data: bytes | None = None  # the file, when the stream is in memory
    _signflow_parsing = False
    _signflow_names_adopted = False

    def __init__(self, stream: Any, strict: bool = True, decode_limits: Any = None) -> None:
        super().__init__(stream, strict=strict, decode_limits=decode_limits)
        xrefs = self.xrefs
        if type(xrefs) is XRefCache:  # as pyHanko 0.38's _read_xrefs_and_trailer makes it
            xrefs.__class__ = SignflowXRefCache
            cast(SignflowXRefCache, xrefs)._signflow_prepare()
        self._signflow_objects: dict[tuple[Any, ...], Any] = {}
        if isinstance(stream, io.BytesIO) and not self._encrypted_or_unreadable():
            self._signflow_data = stream.getvalue()

    def _encrypted_or_unreadable(self) -> bool:
        """Signature values are decrypted later, by pyHanko: for an encrypted file (or one
        whose encryption cannot even be read, which pyHanko will report when asked)
        objects are parsed the plain way."""
        try:
            return bool(self.encrypted)
        except Exception:
            return True

    @property
    def embedded_signatures(self) -> Any:
        """pyHanko's list; the issuer each signature's SignerInfo names is made a
        ``SignflowName`` (``names.adopt_names``) the first time it is asked for."""
        signatures = PdfFileReader.embedded_signatures.fget(self)  # type: ignore[attr-defined]
        if not self._signflow_names_adopted:
            self._signflow_names_adopted = True
            from signflow._internal.pyhanko.names import adopt_names

            for signature in signatures:
                adopt_names(signature.signed_data)
        return signatures

    def get_object(  # type: ignore[override] # PdfFileReader's own signature (not PdfHandler's)
            self, ref: Any, revision: int | None = None, never_decrypt: bool = False,
            transparent_decrypt: bool = True, as_metadata_stream: bool = False) -> Any:
        if revision is None:
            return super().get_object(ref, None, never_decrypt, transparent_decrypt,
                                      as_metadata_stream)
        marker = self.xrefs.get_historical_ref(ref, revision)
        key = (ref.idnum, ref.generation, marker, never_decrypt, as_metadata_stream)
        try:
            obj = self._signflow_objects[key]
        except KeyError:
            obj = self._signflow_objects[key] = super().get_object(
                ref, revision, never_decrypt, False, as_metadata_stream)
        if transparent_decrypt and isinstance(obj, generic.DecryptedObjectProxy):
            obj = obj.decrypted
        return obj

    def parse_anew(self, ref: generic.Reference, revision: int) -> Any:
        """The object ``ref`` as of ``revision``, parsed from its bytes again, whatever this
        reader has read before (so that pyHanko warns again about what it finds there, a
        key defined twice for one). The result is kept where ``get_object`` looks when
        nothing is there yet: whoever reads the object next uses this parse instead of
        parsing it once more. (An encrypted file's objects, and cross-reference streams,
        which pyHanko reads without decryption, are not kept.)"""
        marker = self.xrefs.get_historical_ref(ref, revision)
        obj = self._read_object(ref, marker)
        if self._signflow_data is None or ref in self.xrefs.xref_stream_refs or \
                isinstance(obj, generic.DecryptedObjectProxy):
            return obj
        # this reader's own cache, by where its bytes are (reads of any revision); and for
        # the newest version, PdfFileReader.get_object(ref)'s, by reference
        self._signflow_objects.setdefault((ref.idnum, ref.generation, marker, False, False), obj)
        if marker == self.xrefs.get_historical_ref(ref, self.xrefs.total_revisions - 1) and \
                self.cache_get_indirect_object(ref.generation, ref.idnum) is None:
            self.cache_indirect_object(ref.generation, ref.idnum, obj)
        return obj

    def _read_object(self, ref: generic.Reference, marker: Any, never_decrypt: bool = False,
                     as_metadata_stream: bool = False) -> Any:
        data = self._signflow_data
        if data is not None and type(marker) is int and not self._signflow_parsing:
            obj = self._read_with_contents_elided(data, ref, marker, never_decrypt,
                                                  as_metadata_stream)
            if obj is not None:
                return obj
        return super()._read_object(ref, marker, never_decrypt, as_metadata_stream)

    def _read_with_contents_elided(self, data: bytes, ref: generic.Reference, marker: int,
                                   never_decrypt: bool, as_metadata_stream: bool) -> Any:
        """The object at ``marker`` parsed with its long ``/Contents`` digits elided and
        decoded apart; None when it has none, or when this does not work out."""
        if not 0 <= marker < len(data):
            return None
        limit = data.find(b"endobj", marker)
        if limit < 0:
            return None
        stream_keyword = data.find(b"stream", marker, limit)
        if stream_keyword >= 0:
            limit = stream_keyword
        match = _LONG_CONTENTS.search(data, marker, limit)
        if match is None:
            return None
        digits = match.group(1)
        value = generic.pdf_string(binascii.unhexlify(
            digits + (b"0" if len(digits) % 2 else b"")))
        real_stream = self.stream
        elided = _ElidedStream(data, match.start(1), match.end(1))
        self._signflow_parsing = True
        self.stream = elided
        try:
            obj = super()._read_object(ref, marker, never_decrypt, as_metadata_stream)
            position = elided.tell()
        except Exception:
            return None  # parsed again the plain way, which raises what pyHanko raises
        finally:
            self.stream = real_stream
            self._signflow_parsing = False
        if not _place(obj, value):
            return None
        real_stream.seek(position)
        return obj


def open_pdf_reader(stream: Any, strict: bool = True) -> PdfFileReader:
    """A ``SignflowPdfReader`` on ``stream``; a plain ``PdfFileReader`` when signflow's
    speed-ups are off (unknown pyHanko/asn1crypto version, SIGNFLOW_PLAIN_PYHANKO=1)."""
    from signflow._internal.pyhanko import supported

    cls = SignflowPdfReader if supported() else PdfFileReader
    return cls(stream, strict=strict)
