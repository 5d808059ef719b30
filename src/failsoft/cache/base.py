"""The interface every cache backend offers, and the bookkeeping they share.

Counters live in the backend (`Counters`), not the caller: only the backend sees evictions,
expiries and its own faults. A backend counts a `get` that returns an entry as a hit, whether
the entry is fresh or only stale-usable; the caller, which decides what to serve, counts
fresh hits and stale serves itself if it wants them apart.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from failsoft.cache.entry import Entry
from failsoft.clock import SYSTEM_CLOCK, Clock

__all__ = ["DEFAULT_MAX_BYTES", "Cache", "Counters", "WarnLimiter", "open_cache"]

log = logging.getLogger("failsoft.cache")

DEFAULT_MAX_BYTES = 64 * 1024 * 1024


class Cache(Protocol):
    """An async answer store. After `open`, `get`, `put` and `delete` never raise for the
    backend's own faults (a cache is an optimisation: a down Redis or a locked SQLite file is
    a miss), only for misuse such as calling them before `open`. `open` and `clear` do raise:
    a bad path at startup or a failed admin action should be heard."""

    async def open(self) -> None:
        """Connect or create storage. Idempotent."""
        ...

    async def close(self) -> None:
        """Release connections. Idempotent; entries of persistent backends stay."""
        ...

    async def get(self, key: str) -> Entry | None:
        """The entry under `key` while it is fresh or inside its stale window; None past
        `ttl + stale_for`. The caller decides whether a stale one is served."""
        ...

    async def put(self, entry: Entry) -> None:
        """Store `entry` under `entry.key`, replacing what was there. Entries already past
        their stale window, or larger than the byte budget, are not stored (and the old
        entry under the key is dropped)."""
        ...

    async def delete(self, key: str) -> None: ...

    async def clear(self) -> None:
        """Drop every entry of this cache (for Redis: of its key prefix only)."""
        ...

    def stats(self) -> dict[str, int | float]:
        """`Counters` plus, where the backend knows them cheaply, `entries` and `bytes`."""
        ...

    def describe(self) -> dict[str, Any]:
        """Backend kind and location for admin pages and logs; never credentials."""
        ...


@dataclass(slots=True)
class Counters:
    """Per-process counts since `open` (a shared Redis counts each instance apart)."""

    hits: int = 0
    """`get` returned an entry (fresh or stale-usable)."""
    misses: int = 0
    """`get` returned None (absent, expired, unreadable, or backend fault)."""
    puts: int = 0
    """Entries stored."""
    rejected: int = 0
    """`put`s not stored: bigger than the byte budget or already past their stale window."""
    evictions: int = 0
    """Entries dropped to stay inside the byte budget."""
    expired: int = 0
    """Entries dropped by this process for being past `ttl + stale_for`."""
    errors: int = 0
    """Backend faults swallowed (each also a miss or a skipped put)."""

    def as_dict(self) -> dict[str, int | float]:
        return dict(asdict(self))


class WarnLimiter:
    """Logs a backend fault at most once per `interval` seconds, with how many were hidden,
    so a down Redis under load does not write one line per request."""

    def __init__(self, clock: Clock, interval: float = 30.0) -> None:
        self.clock = clock
        self.interval = interval
        self._last: float | None = None
        self._hidden = 0

    def warn(self, message: str, exc: BaseException) -> None:
        now = self.clock.monotonic()
        if self._last is not None and now - self._last < self.interval:
            self._hidden += 1
            return
        hidden, self._hidden, self._last = self._hidden, 0, now
        more = f" ({hidden} more since the last warning)" if hidden else ""
        log.warning("%s: %s: %s%s", message, type(exc).__name__, exc, more)


_EXAMPLES = {"sqlite": "sqlite:///cache.db", "redis": "redis://127.0.0.1:6379/0"}


def open_cache(
    url_or_kind: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    clock: Clock = SYSTEM_CLOCK,
    prefix: str | None = None,
    timeout: float | None = None,
) -> Cache:
    """A cache for `url_or_kind` (not yet opened): `memory` (or `memory://`),
    `sqlite:///relative/path.db` / `sqlite:////absolute/path.db` (as in `open_store`), or
    `redis://host:6379/0` (also `rediss://`, `unix://`). `prefix` is Redis's key prefix.

    Backends are imported only when asked for, so a memory-only gateway does not load
    aiosqlite or redis."""
    if url_or_kind in ("memory", "memory://"):
        from failsoft.cache.memory import MemoryCache

        return MemoryCache(max_bytes=max_bytes, clock=clock)
    if url_or_kind.startswith("sqlite://"):
        from failsoft.cache.sqlite import SQLiteCache

        path = url_or_kind[len("sqlite://") :]
        path = path[1:] if path.startswith("/") else path  # sqlite:///x.db → x.db
        return SQLiteCache(path or ":memory:", max_bytes=max_bytes, clock=clock)
    if url_or_kind.startswith(("redis://", "rediss://", "unix://")):
        from failsoft.cache.redis import DEFAULT_PREFIX, DEFAULT_TIMEOUT, RedisCache

        return RedisCache(
            url_or_kind,
            max_bytes=max_bytes,
            clock=clock,
            prefix=prefix or DEFAULT_PREFIX,
            timeout=timeout or DEFAULT_TIMEOUT,
        )
    if url_or_kind in ("sqlite", "redis"):
        raise ValueError(f"the {url_or_kind} cache needs a URL, e.g. {_EXAMPLES[url_or_kind]}")
    raise ValueError(f"unsupported cache {url_or_kind!r}: use memory, sqlite:///… or redis://…")
