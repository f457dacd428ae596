"""RFC 3161 timestamps: pyHanko's HTTP client, with every failure reported as one.

A timestamp authority that fails or answers garbage is an error, never a silent fallback to
the local clock.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from signflow.errors import failure_reason


@cache
def _checked_timestamper_class() -> type:
    from pyhanko.sign.timestamps import HTTPTimeStamper, TimestampRequestError

    class CheckedTimeStamper(HTTPTimeStamper):
        async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> Any:
            try:
                return await super().async_timestamp(message_digest, md_algorithm)
            except TimestampRequestError:
                raise
            except Exception as exc:
                raise TimestampRequestError(
                    f"unusable answer from {self.url}: {failure_reason(exc)}") from exc

    return CheckedTimeStamper

def http_timestamper(url: str, timeout: int = 30, session: Any = None) -> Any:
    """pyHanko's RFC 3161 client, with every failure of a timestamp request reported as
    one (pyHanko lets a garbage answer surface as an asn1crypto ValueError)."""
    return _checked_timestamper_class()(url, timeout=timeout, session=session)

def tsa_stamp(url: str, timeout: int = 30) -> Callable[[bytes], bytes]:
    """digest (SHA-256) -> the RFC 3161 token the TSA at ``url`` returns for it (DER)."""
    import asyncio

    def stamp(digest: bytes) -> bytes:
        token = asyncio.run(http_timestamper(url, timeout=timeout).async_timestamp(
            digest, "sha256"))
        return bytes(token.dump())

    return stamp
