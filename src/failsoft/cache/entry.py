"""One cached answer, and the single blob it travels as in SQLite and Redis.

Blob layout (version 1), chosen over base64-in-JSON so a large body costs no 4/3 inflation
and no second parse:

    b"FSC" | version (1 byte) | header length (4 bytes, big-endian) | header | body

`header` is orjson of the metadata with short names (`k` key, `d` dialect, `m` model,
`p` provider, `c` created_at, `t` ttl, `s` stale_for, `h` headers); `body` is the answer's
JSON bytes as they are, in the caller's dialect.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

__all__ = ["BLOB_VERSION", "Entry", "EntryState"]

BLOB_VERSION = 1
_MAGIC = b"FSC"
_PREFIX = struct.Struct(">3sBI")

EntryState = Literal["fresh", "stale", "expired"]


@dataclass(frozen=True, slots=True)
class Entry:
    """A stored answer. Times are wall-clock seconds so they mean the same to every gateway
    instance sharing a backend (monotonic time is per process)."""

    key: str
    body: bytes
    """The answer as JSON bytes in the caller's dialect (what the caller gets back)."""
    dialect: str
    model: str
    """The upstream model that answered (shown in headers and logs, not part of the key)."""
    provider: str
    created_at: float
    ttl: float
    """Seconds the answer is served as fresh."""
    stale_for: float = 0.0
    """Seconds past `ttl` the answer is kept for stale-if-error (served only when every
    target fails)."""
    headers: dict[str, str] = field(default_factory=dict, hash=False)
    """Response headers worth replaying, e.g. the upstream request id."""

    def __post_init__(self) -> None:
        for name in ("created_at", "ttl", "stale_for"):
            value = getattr(self, name)
            if not math.isfinite(value) or (name != "created_at" and value < 0):
                raise ValueError(f"Entry.{name} must be finite and non-negative, got {value}")

    @property
    def expires_at(self) -> float:
        """When the answer stops being fresh."""
        return self.created_at + self.ttl

    @property
    def stale_until(self) -> float:
        """When the answer stops being usable at all; backends drop it from then on."""
        return self.created_at + self.ttl + self.stale_for

    def age(self, now: float) -> float:
        """Seconds since the answer was made (for an `Age` header); never negative, so a
        clock running a little behind another instance's does not show nonsense."""
        return max(0.0, now - self.created_at)

    def fresh(self, now: float) -> bool:
        # Like HTTP freshness: at exactly `ttl` seconds old the answer is already stale.
        return now < self.expires_at

    def usable_stale(self, now: float) -> bool:
        """Whether the answer may still be served when every target fails. True for a fresh
        answer too: anything fresh is certainly good enough as a last resort."""
        return now < self.stale_until

    def state(self, now: float) -> EntryState:
        if self.fresh(now):
            return "fresh"
        return "stale" if self.usable_stale(now) else "expired"

    def to_bytes(self) -> bytes:
        header = orjson.dumps(
            {
                "k": self.key,
                "d": self.dialect,
                "m": self.model,
                "p": self.provider,
                "c": self.created_at,
                "t": self.ttl,
                "s": self.stale_for,
                "h": self.headers,
            }
        )
        return _PREFIX.pack(_MAGIC, BLOB_VERSION, len(header)) + header + self.body

    @classmethod
    def from_bytes(cls, blob: bytes) -> Entry:
        """Raises ValueError on anything that is not a version-1 blob (backends treat that
        as a miss and drop it: a cache never fails a request over a bad entry)."""
        if len(blob) < _PREFIX.size:
            raise ValueError("cache entry blob is truncated")
        magic, version, size = _PREFIX.unpack_from(blob)
        if magic != _MAGIC or version != BLOB_VERSION:
            raise ValueError(f"not a version-{BLOB_VERSION} cache entry blob")
        start = _PREFIX.size
        if len(blob) < start + size:
            raise ValueError("cache entry blob is truncated")
        try:
            meta: Any = orjson.loads(blob[start : start + size])
            return cls(
                key=_str(meta["k"]),
                body=bytes(blob[start + size :]),
                dialect=_str(meta["d"]),
                model=_str(meta["m"]),
                provider=_str(meta["p"]),
                created_at=float(meta["c"]),
                ttl=float(meta["t"]),
                stale_for=float(meta["s"]),
                headers={_str(k): _str(v) for k, v in dict(meta["h"]).items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"bad cache entry header: {exc}") from exc


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value
