"""The writes waiting for the store: in order, bounded, optionally spooled to disk.

Pure bookkeeping (no store I/O): `QueuedStore` adds to it and its writer takes from the
head. An incident saved again while its earlier save still waits replaces that save in
place (saves are upserts by id), so an incident whose counters change every evaluation
holds one place, not one per evaluation.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass

from failsoft.health.types import Incident, Transition
from failsoft.store.report import describe_item
from failsoft.store.spool import Item, Kind, Spool

log = logging.getLogger("failsoft.store")


@dataclass(slots=True)
class Write:
    seq: int
    kind: Kind
    item: Item
    key: str | None
    """The incident id, for saves (replaced in place while waiting)."""
    spooled: bool = False
    failures: int = 0


class Writes:
    def __init__(self, name: str, capacity: int, spool: Spool | None) -> None:
        self.name = name
        self.capacity = max(2, capacity)
        self.spool = spool
        self._queue: deque[Write] = deque()
        self._by_key: dict[str, Write] = {}
        """Incident saves waiting (not the one being written), by incident id."""
        self._seq = 0
        self.writing: Write | None = None
        self._progress = asyncio.Event()
        self.dropped = 0
        """Writes lost because the queue was full (or the store kept refusing them)."""
        self.dropped_lately = 0
        """...since the store last went away."""

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def last(self) -> int:
        """The sequence number of the latest write added."""
        return self._seq

    def add(self, kind: Kind, item: Item, *, spool: bool) -> bool:
        """Queue a write (`spool`: also to disk); False when it replaced a waiting one."""
        self._seq += 1
        key = item.id if isinstance(item, Incident) else None
        waiting = self._by_key.get(key) if key is not None else None
        if waiting is not None:
            waiting.item = item  # the newer content, the earlier place
            if self.spool is not None and (spool or waiting.spooled):
                self.spool.write(waiting.seq, kind, item)  # same seq: replaces on replay
                waiting.spooled = True
            return False
        if len(self._queue) >= self.capacity:
            self._drop_oldest()
        write = Write(self._seq, kind, item, key)
        self._queue.append(write)
        if key is not None:
            self._by_key[key] = write
        if spool and self.spool is not None:
            self.spool.write(write.seq, kind, item)
            write.spooled = True
        return True

    def head(self) -> Write | None:
        """The next write to store, marked as being written."""
        if not self._queue:
            return None
        write = self.writing = self._queue[0]
        if write.key is not None and self._by_key.get(write.key) is write:
            del self._by_key[write.key]  # a newer save now queues behind it
        return write

    def failed(self, write: Write) -> None:
        """Writing `write` failed: it stays first in line."""
        self.writing = None
        write.failures += 1
        if write.key is not None and write.key not in self._by_key:
            self._by_key[write.key] = write

    def done(self, write: Write) -> None:
        """`write` is stored (or given up): forget it."""
        if self.writing is write:
            self.writing = None
        self._queue.remove(write)
        if write.key is not None and self._by_key.get(write.key) is write:
            del self._by_key[write.key]
        if write.spooled and self.spool is not None:
            self.spool.done(write.seq)
        if not self._queue and self.spool is not None:
            self.spool.clear()
        self._advance()

    async def flushed(self, seq: int) -> None:
        """Until every write added up to `seq` is stored (or dropped)."""
        while self._queue and self._queue[0].seq <= seq:
            await self._progress.wait()

    def spool_all(self) -> int:
        """Put every waiting write in the spool (the store just went away); how many wait."""
        if self.spool is not None:
            for write in self._queue:
                if not write.spooled:
                    self.spool.write(write.seq, write.kind, write.item)
                    write.spooled = True
        return len(self._queue)

    def clear(self) -> None:
        for write in [w for w in self._queue if w is not self.writing]:
            self._queue.remove(write)
        self._by_key.clear()
        self._advance()

    def incidents(self) -> list[Incident]:
        """Incident saves not stored yet (the newest of each id)."""
        found: dict[str, Incident] = {}
        for write in self._queue:
            if isinstance(write.item, Incident):
                found[write.item.id] = write.item
        return list(found.values())

    def transitions(self) -> list[Transition]:
        return [w.item for w in self._queue if isinstance(w.item, Transition)]

    def _drop_oldest(self) -> None:
        victim = next(w for w in self._queue if w is not self.writing)
        self.done(victim)
        self.dropped += 1
        self.dropped_lately += 1
        if self.dropped_lately == 1 or self.dropped_lately % 1000 == 0:
            log.error(
                "store %s: the write queue is full (store.queue: %d): dropped %s "
                "(%d dropped so far)",
                self.name,
                self.capacity,
                describe_item(victim.item),
                self.dropped,
            )

    def _advance(self) -> None:
        """Wake whoever waits for the queue to move."""
        self._progress.set()
        self._progress = asyncio.Event()
