"""Access to PDFium (pypdfium2), which is not thread-safe: concurrent use from two threads
corrupts its state or crashes the interpreter. Every use goes through ``PDFIUM_LOCK``."""

from __future__ import annotations

import threading

PDFIUM_LOCK = threading.RLock()
