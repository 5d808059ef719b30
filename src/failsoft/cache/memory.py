"""An in-process LRU cache with a byte budget: the default, and the fastest, backend.

Cost per operation: `get`, `delete` O(1) (an `OrderedDict` in least- to most-recently-used
order); `put` O(log n) for the expiry heap plus amortised O(1) eviction. The heap lets a
`put` drop every entry past its stale window without scanning: with mixed TTLs the LRU order
says nothing about which entries have expired.
"""

from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict
from typing import Any

from failsoft.cache.base import DEFAULT_MAX_BYTES, Counters
from failsoft.cache.entry import Entry
from failsoft.clock import SYSTEM_CLOCK, Clock

__all__ = ["ENTRY_OVERHEAD", "MemoryCache", "entry_size"]

ENTRY_OVERHEAD = 256
"""Bytes charged per entry beyond its strings: the Python objects and dict slots around it.
A rough figure: it keeps a flood of tiny answers from escaping the budget."""


def entry_size(entry: Entry) -> int:
    """What an entry counts against the budget: the body dominates, the rest is estimated."""
    meta = len(entry.key) + len(entry.dialect) + len(entry.model) + len(entry.provider)
    headers = sum(len(k) + len(v) for k, v in entry.headers.items())
    return len(entry.body) + meta + headers + ENTRY_OVERHEAD


class MemoryCache:
    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, clock: Clock = SYSTEM_CLOCK) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.max_bytes = max_bytes
        self.clock = clock
        self.counters = Counters()
        self._entries: OrderedDict[str, tuple[Entry, int]] = OrderedDict()
        self._bytes = 0
        # (stale_until, sequence, key); stale rows (key replaced or deleted) are skipped when
        # popped and purged wholesale when they outnumber live entries.
        self._expiry: list[tuple[float, int, str]] = []
        self._sequence = itertools.count()

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        self._drop_all()

    async def get(self, key: str) -> Entry | None:
        item = self._entries.get(key)
        if item is None:
            self.counters.misses += 1
            return None
        entry = item[0]
        if not entry.usable_stale(self.clock.wall()):
            self._remove(key)
            self.counters.expired += 1
            self.counters.misses += 1
            return None
        self._entries.move_to_end(key)
        self.counters.hits += 1
        return entry

    async def put(self, entry: Entry) -> None:
        now = self.clock.wall()
        self._purge(now)
        self._remove(entry.key)
        size = entry_size(entry)
        if size > self.max_bytes or not entry.usable_stale(now):
            self.counters.rejected += 1
            return
        self._entries[entry.key] = (entry, size)
        self._bytes += size
        heapq.heappush(self._expiry, (entry.stale_until, next(self._sequence), entry.key))
        self.counters.puts += 1
        while self._bytes > self.max_bytes:
            _, (_, dropped) = self._entries.popitem(last=False)
            self._bytes -= dropped
            self.counters.evictions += 1
        if len(self._expiry) > 2 * len(self._entries) + 1024:
            self._rebuild_expiry()

    async def delete(self, key: str) -> None:
        self._remove(key)

    async def clear(self) -> None:
        self._drop_all()

    def stats(self) -> dict[str, int | float]:
        return {
            **self.counters.as_dict(),
            "entries": len(self._entries),
            "bytes": self._bytes,
            "max_bytes": self.max_bytes,
        }

    def describe(self) -> dict[str, Any]:
        return {"backend": "memory", "max_bytes": self.max_bytes}

    def keys(self) -> list[str]:
        """Keys from least to most recently used (for tests and the admin page)."""
        return list(self._entries)

    def _remove(self, key: str) -> None:
        item = self._entries.pop(key, None)
        if item is not None:
            self._bytes -= item[1]

    def _purge(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] <= now:
            _, _, key = heapq.heappop(self._expiry)
            item = self._entries.get(key)
            if item is not None and item[0].stale_until <= now:
                self._remove(key)
                self.counters.expired += 1

    def _rebuild_expiry(self) -> None:
        self._expiry = [
            (e.stale_until, next(self._sequence), k) for k, (e, _) in self._entries.items()
        ]
        heapq.heapify(self._expiry)

    def _drop_all(self) -> None:
        self._entries.clear()
        self._expiry.clear()
        self._bytes = 0
