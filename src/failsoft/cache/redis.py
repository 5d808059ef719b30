"""Answers in Redis, shared by every gateway instance pointed at the same server and prefix.

Each entry is one string key, `<prefix><cache key>`, holding `Entry.to_bytes()`, with a Redis
TTL that ends with the entry's stale window, so Redis itself drops dead answers and no
instance has to sweep. The total size is Redis's business (`maxmemory` with an LRU policy);
`max_bytes` here only refuses single answers larger than it.

Redis being slow or down must never fail or stall a request: commands have short timeouts
(`DEFAULT_TIMEOUT`, tens of milliseconds: a lookup on the request path must cost little more
than a miss when Redis freezes) and no client-side retries, faults turn into misses and
skipped writes with a rate-limited warning, and after a fault the backend leaves Redis
alone for `retry_after` seconds. When they are over, a background PING (not a request)
finds out whether Redis answers again; requests leave it alone until it does, so a frozen or
black-holed server costs the requests in flight when it froze one timeout, then nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from failsoft.cache.base import DEFAULT_MAX_BYTES, Counters, WarnLimiter
from failsoft.cache.entry import Entry
from failsoft.clock import SYSTEM_CLOCK, Clock

__all__ = ["DEFAULT_PREFIX", "RedisCache", "redacted_url"]

log = logging.getLogger("failsoft.cache")

DEFAULT_PREFIX = "failsoft:cache:"
DEFAULT_TIMEOUT = 0.05
"""Seconds a cache call (or connecting) may take. A local Redis answers in well under a
millisecond; past this it is frozen or far away, and the request goes on as a miss."""
_FAULTS = (RedisError, OSError, TimeoutError)


def redacted_url(url: str) -> str:
    """`url` without user, password or query string (which may carry `password=`)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    host = parts.hostname or "localhost"
    host = f"[{host}]" if ":" in host else host
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


class RedisCache:
    def __init__(
        self,
        url: str,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Clock = SYSTEM_CLOCK,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = DEFAULT_TIMEOUT,
        retry_after: float = 5.0,
    ) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.url = url
        self.max_bytes = max_bytes
        self.clock = clock
        self.prefix = prefix
        self.timeout = timeout
        self.retry_after = retry_after
        self.counters = Counters()
        self._warn = WarnLimiter(clock)
        self._client: aioredis.Redis | None = None
        self._down_until: float | None = None
        self._checking: asyncio.Task[None] | None = None
        """The background PING that finds out whether Redis is back."""

    @property
    def client(self) -> aioredis.Redis:
        if self._client is None:
            raise RuntimeError("the Redis cache is not open")
        return self._client

    async def open(self) -> None:
        """Makes the client; connects lazily, so a gateway starts even while Redis is down."""
        if self._client is not None:
            return
        self._client = aioredis.Redis.from_url(
            self.url,
            socket_connect_timeout=self.timeout,
            socket_timeout=self.timeout,
            retry=Retry(NoBackoff(), 0),  # a retried cache lookup only delays the request
        )

    async def close(self) -> None:
        checking, self._checking = self._checking, None
        if checking is not None:
            checking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await checking
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def get(self, key: str) -> Entry | None:
        client = self.client
        if self._resting():
            self.counters.misses += 1
            return None
        try:
            blob = await client.get(self.prefix + key)
        except _FAULTS as exc:
            self._fault("cache read failed", exc)
            self.counters.misses += 1
            return None
        self._recovered()
        entry = self._decode(key, blob)
        if entry is None or not entry.usable_stale(self.clock.wall()):
            # Past its window by our clock but not Redis's (clocks differ a little between
            # hosts): Redis drops it on its own, so just miss.
            self.counters.misses += 1
            return None
        self.counters.hits += 1
        return entry

    async def put(self, entry: Entry) -> None:
        client = self.client
        blob = entry.to_bytes()
        # The Redis TTL is what is left of the stale window, not `ttl + stale_for`, so an entry
        # written some time after `created_at` does not outlive its window.
        millis = math.ceil((entry.stale_until - self.clock.wall()) * 1000)
        if len(blob) > self.max_bytes or millis <= 0:
            self.counters.rejected += 1
            await self.delete(entry.key)
            return
        if self._resting():
            return
        try:
            await client.set(self.prefix + entry.key, blob, px=millis)
        except _FAULTS as exc:
            self._fault("cache write skipped", exc)
            return
        self._recovered()
        self.counters.puts += 1

    async def delete(self, key: str) -> None:
        client = self.client
        if self._resting():
            return
        try:
            await client.unlink(self.prefix + key)
        except _FAULTS as exc:
            self._fault("cache delete failed", exc)

    async def clear(self) -> None:
        """Unlinks this prefix's keys only (never FLUSHDB: the database may be shared). Raises
        on Redis faults: it is an admin action, and its caller should hear it failed."""
        batch: list[bytes | str] = []
        async for name in self.client.scan_iter(match=_glob_escape(self.prefix) + "*", count=500):
            batch.append(name)
            if len(batch) >= 500:
                await self.client.unlink(*batch)
                batch.clear()
        if batch:
            await self.client.unlink(*batch)

    def stats(self) -> dict[str, int | float]:
        """Counters only: entries and bytes are Redis-wide (shared with other instances), and
        counting them would need a scan."""
        return self.counters.as_dict()

    def describe(self) -> dict[str, Any]:
        return {
            "backend": "redis",
            "url": redacted_url(self.url),
            "prefix": self.prefix,
            "max_entry_bytes": self.max_bytes,
        }

    def _decode(self, key: str, blob: bytes | str | None) -> Entry | None:
        if blob is None:
            return None
        try:
            entry = Entry.from_bytes(blob.encode() if isinstance(blob, str) else blob)
            if entry.key != key:
                raise ValueError("entry stored under another key")
        except ValueError as exc:
            # Another version's format or a foreign key under our prefix: not ours to delete
            # (a newer gateway sharing the prefix may be able to read it).
            self.counters.errors += 1
            self._warn.warn(f"ignoring unreadable cache entry {key[:16]}", exc)
            return None
        return entry

    def _resting(self) -> bool:
        if self._down_until is None:
            return False
        if self.clock.monotonic() < self._down_until:
            return True
        if self.retry_after <= 0:
            return False  # (no rest asked for: every call tries)
        if self._checking is None:
            # The rest is over: ask Redis in the background; requests wait for nobody.
            self._checking = asyncio.get_running_loop().create_task(self._check())
        return True

    async def _check(self) -> None:
        try:
            await self.client.ping()
        except _FAULTS as exc:
            self._fault("Redis still does not answer", exc)
        except RuntimeError:
            return  # closed meanwhile
        else:
            self._recovered()
        finally:
            self._checking = None

    def _fault(self, message: str, exc: BaseException) -> None:
        self.counters.errors += 1
        self._down_until = self.clock.monotonic() + self.retry_after
        self._warn.warn(
            f"{message} ({redacted_url(self.url)}; leaving Redis alone for {self.retry_after:g} s)",
            exc,
        )

    def _recovered(self) -> None:
        if self._down_until is not None:
            self._down_until = None
            log.info("Redis cache at %s answers again", redacted_url(self.url))
