"""Performance fixes for pyHanko, written so that they could be offered upstream.

Certificate name comparison (asn1crypto's RFC 4518 string preparation) is memoised by
string, as each signature brings its own copies of the same certificates.

Cross-reference lookups (``XRefCache.get_last_change``, ``get_introducing_revision``,
``get_historical_ref``) scan the
sections from the newest on every call; with many revisions that is most of the time of a
difference analysis. Their answers never change once the file is read: memoised.

Historical objects: ``PdfFileReader.get_object(ref, revision)`` never caches ("never
cache historical refs"), because its cache is keyed by reference only. An object that a
later revision rewrote (a signature field, once signed) is then parsed again by every view
of an earlier revision: with one field per signature, checking each revision of a document
parses fields x revisions objects. Keyed by where the object's bytes are (the xref marker),
a parsed object is the same for every revision that sees those bytes; each revision's view
still makes its own copy (``HistoricalResolver._subsume_object``), as for cached objects.

pyHanko 0.38 reads PDF hex strings one byte at a time through several Python calls per byte.
A signature's /Contents is a hex string of 16-32 KB, so merely opening a document with 18
signatures spends most of its time there (about 45 ms per signature on this machine). The
replacement below reads the string in blocks and decodes it with binascii, with the same
results and the same errors; for the rare hex string holding a '%' (pyHanko treats it as a
comment start, skipping to the end of the line) it defers to the original implementation.
"""

from __future__ import annotations

import binascii
import os
import re
from typing import Any

_HEX = re.compile(rb"[0-9a-fA-F]*")
_WS = re.compile(rb"[ \n\r\t\f\x00]+")
_installed = False


def _make_fast_reader(original: Any, pdf_string: Any, stream_error: type) -> Any:
    def read_hex_string_from_stream(stream: Any) -> Any:
        start = stream.tell()
        stream.read(1)  # the opening '<'
        chunks = []
        while True:
            chunk = stream.read(65536)
            if not chunk:
                raise stream_error("Stream ended prematurely")
            end = chunk.find(b">")
            if end < 0:
                chunks.append(chunk)
                continue
            chunks.append(chunk[:end])
            stream.seek(end + 1 - len(chunk), os.SEEK_CUR)
            break
        data = b"".join(chunks)
        if b"%" in data:
            stream.seek(start)
            return original(stream)
        data = _WS.sub(b"", data)
        if not _HEX.fullmatch(data):
            bad = next(bytes([c]) for c in data if bytes([c]) not in b"0123456789abcdefABCDEF")
            raise stream_error("Unexpected token in hex string: " + repr(bad))
        if len(data) % 2:
            data += b"0"
        return pdf_string(binascii.unhexlify(data))

    read_hex_string_from_stream.__doc__ = original.__doc__
    return read_hex_string_from_stream


def _make_historical_cache(original: Any, proxy_type: type) -> Any:
    def get_object(self: Any, ref: Any, revision: Any = None, never_decrypt: bool = False,
                   transparent_decrypt: bool = True, as_metadata_stream: bool = False) -> Any:
        if revision is None:
            return original(self, ref, None, never_decrypt, transparent_decrypt,
                            as_metadata_stream)
        marker = self.xrefs.get_historical_ref(ref, revision)
        key = (ref.idnum, ref.generation, marker, never_decrypt, as_metadata_stream)
        cache = self.__dict__.setdefault("_signflow_historical_objects", {})
        try:
            obj = cache[key]
        except KeyError:
            obj = cache[key] = original(self, ref, revision, never_decrypt, False,
                                        as_metadata_stream)
        except TypeError:  # an unhashable marker: do as pyHanko does
            obj = original(self, ref, revision, never_decrypt, False, as_metadata_stream)
        if transparent_decrypt and isinstance(obj, proxy_type):
            obj = obj.decrypted
        return obj

    get_object.__doc__ = original.__doc__
    return get_object


def _memoised(original: Any, attribute: str) -> Any:
    """Certificate name comparison (asn1crypto's RFC 4518 string preparation) is memoised by
string, as each signature brings its own copies of the same certificates.

Cross-reference lookups scan every xref section from the newest: memoised per
    reader (its sections never change once read). Errors are not memoised."""

    def lookup(self: Any, *args: Any) -> Any:
        memo = self.__dict__.setdefault(attribute, {})
        key = tuple((a.idnum, a.generation) if hasattr(a, "idnum") else a for a in args)
        try:
            return memo[key]
        except KeyError:
            value = memo[key] = original(self, *args)
            return value

    lookup.__doc__ = original.__doc__
    return lookup


def _sections_by_id(xrefs: Any) -> dict[int, list[int]]:
    """Object number -> the revisions whose xref section has an entry for it (in use,
    in an object stream, freed, or in a hybrid section); built once per file."""
    index = xrefs.__dict__.get("_signflow_sections_by_id")
    if index is None:
        index = {}
        for revision, section in enumerate(xrefs._xref_sections):
            data = section.xref_data
            ids: set[int] = set()
            while data is not None:
                ids.update(data.xrefs_in_objstm, data.standard_xrefs, data.freed)
                data = data.hybrid.xref_data if data.hybrid is not None else None
            for idnum in ids:
                index.setdefault(idnum, []).append(revision)
        xrefs.__dict__["_signflow_sections_by_id"] = index
    return index


def _ref_history(xrefs: Any, ref: Any) -> tuple[list[int], list[Any]]:
    """Every revision whose xref section resolves ``ref``, with what it says there (only
    the sections that have an entry for its object number are asked)."""
    memo = xrefs.__dict__.setdefault("_signflow_ref_history", {})
    key = (ref.idnum, ref.generation)
    found = memo.get(key)
    if found is None:
        revisions: list[int] = []
        values: list[Any] = []
        for revision in _sections_by_id(xrefs).get(ref.idnum, ()):
            try:
                value = xrefs._xref_sections[revision].xref_data.try_resolve(ref)
            except KeyError:
                continue
            revisions.append(revision)
            values.append(value)
        found = memo[key] = (revisions, values)
    return found


def _historical_ref(self: Any, ref: Any, revision: int) -> Any:
    """Same answer as ``XRefCache.get_historical_ref`` (the newest section up to
    ``revision`` that mentions the object), from a per-object index built once."""
    import bisect

    revisions, values = _ref_history(self, ref)
    at = bisect.bisect_right(revisions, revision)
    return values[at - 1] if at else None


def _cached_string_prep() -> None:
    """asn1crypto prepares every name attribute (RFC 4518 stringprep) before comparing
    certificate names, caching the result on the attribute object only; each signature
    brings its own copies of the same certificates, so the same strings (Vietnamese names
    take the slow path) are prepared again for every signature. The preparation is a pure
    function of the string: memoised by string."""
    from functools import lru_cache

    from asn1crypto import x509

    original = x509.NameTypeAndValue._ldap_string_prep
    if getattr(original, "signflow_cached", False):
        return
    prepare = lru_cache(maxsize=8192)(lambda string: original(None, string))

    def _ldap_string_prep(self: Any, string: str) -> str:
        return prepare(string)

    _ldap_string_prep.signflow_cached = True  # type: ignore[attr-defined]
    x509.NameTypeAndValue._ldap_string_prep = _ldap_string_prep


def _name_equality_fast_path() -> None:
    """asn1crypto compares certificate names attribute by attribute after preparing each
    string (RFC 5280, 7.1), and caches the prepared strings on the parsed objects only;
    every signature brings its own parsed copies of the same certificates, so a verifier
    matching issuers against certificates compares the same pairs of names again for each
    signature. The result is a pure function of the two encodings: equal bytes are equal
    names, and other pairs are compared once and remembered."""
    from asn1crypto import x509

    original = x509.Name.__eq__
    if getattr(original, "signflow_fast", False):
        return
    memo: dict[tuple[bytes, bytes], bool] = {}

    def __eq__(self: Any, other: Any) -> bool:  # noqa: N807 - the method it replaces
        if not isinstance(other, x509.Name):
            return False
        a, b = self.dump(), other.dump()
        if a == b:
            return True
        key = (a, b) if a < b else (b, a)  # equality is symmetric
        known = memo.get(key)
        if known is None:
            if len(memo) > 8192:
                memo.clear()
            known = memo[key] = bool(original(self, other))
        return known

    __eq__.signflow_fast = True  # type: ignore[attr-defined]
    __eq__.original = original  # type: ignore[attr-defined]
    x509.Name.__eq__ = __eq__

    # the same for the prepared form certificate stores index names by
    original_hashable = x509.Name.hashable.fget
    hashables: dict[bytes, str] = {}

    def hashable(self: Any) -> str:
        encoded = self.dump()
        value = hashables.get(encoded)
        if value is None:
            if len(hashables) > 8192:
                hashables.clear()
            value = hashables[encoded] = original_hashable(self)
        return value

    hashable.original = original_hashable  # type: ignore[attr-defined]
    x509.Name.hashable = property(hashable)


def _cached_signing_certificate() -> None:
    """The signing-certificate-v2 attribute depends only on the certificate, but pyHanko
    builds (and asn1crypto serialises) it anew for every signature: built once per
    certificate. asn1crypto values hold no link to their parents, so one value can sit in
    many signatures."""
    from pyhanko.sign import attributes, general

    original = general.as_signing_certificate_v2
    if getattr(attributes.as_signing_certificate_v2, "signflow_cached", False):
        return
    memo: dict[tuple[bytes, str], Any] = {}

    def as_signing_certificate_v2(cert: Any, hash_algo: str = "sha256") -> Any:
        key = (cert.sha256, hash_algo)
        value = memo.get(key)
        if value is None:
            if len(memo) > 256:
                memo.clear()
            value = memo[key] = original(cert, hash_algo)
            value.dump()  # serialise once, here
        return value

    as_signing_certificate_v2.signflow_cached = True  # type: ignore[attr-defined]
    attributes.as_signing_certificate_v2 = as_signing_certificate_v2


def install() -> None:
    """Patch pyHanko in this process (idempotent)."""
    global _installed
    if _installed:
        return
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.misc import PdfStreamError
    from pyhanko.pdf_utils.reader import PdfFileReader

    generic.read_hex_string_from_stream = _make_fast_reader(
        generic.read_hex_string_from_stream, generic.pdf_string, PdfStreamError)
    PdfFileReader.get_object = _make_historical_cache(PdfFileReader.get_object,
                                                      generic.DecryptedObjectProxy)
    from pyhanko.pdf_utils.xref import XRefCache

    XRefCache.get_last_change = _memoised(XRefCache.get_last_change, "_signflow_last_change")
    XRefCache.get_historical_ref = _historical_ref
    XRefCache.get_introducing_revision = _memoised(XRefCache.get_introducing_revision,
                                                   "_signflow_introduced")
    _cached_string_prep()
    _name_equality_fast_path()
    _cached_signing_certificate()
    _installed = True
