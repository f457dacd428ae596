"""Performance fixes for pyHanko, written so that they could be offered upstream.

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


def install() -> None:
    """Patch pyHanko in this process (idempotent)."""
    global _installed
    if _installed:
        return
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.misc import PdfStreamError

    generic.read_hex_string_from_stream = _make_fast_reader(
        generic.read_hex_string_from_stream, generic.pdf_string, PdfStreamError)
    _installed = True
