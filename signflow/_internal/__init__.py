"""Private helpers, not part of the public API: atomic files, locks, size-limited parsing of
structured input, the pdfium lock, and (``pyhanko``) everything that reaches into pyHanko's
or asn1crypto's internals."""
