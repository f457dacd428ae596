"""signflow's speed-ups for pyHanko, scoped to signflow's own objects.

Nothing here replaces anything in pyHanko or asn1crypto: importing signflow, or using it,
leaves every other reader, signer and diff policy in the process as pyHanko made them.
What signflow uses instead:

- ``reader.SignflowPdfReader`` (a ``PdfFileReader`` subclass, opened by
  ``signflow.pdf.reader.open_reader``): historical objects cached by their place in the
  file, cross-reference lookups answered from an index, signature values decoded in one
  step;
- ``names.SignflowName``: the issuer each signature's SignerInfo names (in the signatures
  such a reader returns) compares with certificates by remembered answers;
- ``fastdiff.SignflowDiffPolicy`` (a ``StandardDiffPolicy`` with pyHanko's default
  rules): the paths to objects computed incrementally and handed to signflow's own
  resolvers, and field rules shown only the fields a revision can have changed;
- ``signflow.signing.credentials.ParsedKeySigner`` (a ``SimpleSigner``): the private key
  parsed once.

They were written against pyHanko 0.38 (and asn1crypto 1.5), whose internals they lean
on. ``supported()`` says whether they are on: with any other version, or with
``SIGNFLOW_PLAIN_PYHANKO=1`` in the environment (for comparisons, or to rule them out when
hunting a bug), signflow uses plain pyHanko throughout.
"""

from __future__ import annotations

import functools
import os

PLAIN_ENV = "SIGNFLOW_PLAIN_PYHANKO"
PYHANKO_SERIES = (0, 38)  # the versions the overrides were written against
ASN1CRYPTO_SERIES = (1, 5)


def _series(version: str) -> tuple[int, ...]:
    """"0.38.0" -> (0, 38); () for anything the overrides cannot vouch for ("0.38rc1")."""
    parts = version.split(".")[:2]
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        return ()
    return tuple(int(part) for part in parts)


@functools.lru_cache(maxsize=1)
def versions_supported() -> bool:
    """Are the installed pyHanko and asn1crypto the series the overrides were written
    against?"""
    try:
        import asn1crypto
        from pyhanko import version as pyhanko_version
    except ImportError:  # pragma: no cover - dependencies of signflow
        return False
    return (_series(str(getattr(pyhanko_version, "__version__", ""))) == PYHANKO_SERIES
            and _series(str(getattr(asn1crypto, "__version__", ""))) == ASN1CRYPTO_SERIES)


def supported() -> bool:
    """Use signflow's speed-ups? False on an unknown pyHanko or asn1crypto version, and
    when SIGNFLOW_PLAIN_PYHANKO=1 asks for plain pyHanko."""
    if os.environ.get(PLAIN_ENV, "").strip() not in ("", "0"):
        return False
    return versions_supported()
