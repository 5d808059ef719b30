"""A sliding minute counted in 60 slots: what one key's requests or tokens add up to.

Sixty counters per window rather than a timestamp per request: memory stays fixed however
many requests a key makes, and the sum is kept as slots are added and expire, so a check
is a few integer operations. The price is resolution: a slot leaves the window whole, up
to one slot (a second of a minute) early. The same layout is kept in Redis (a hash of
slot → count, limits_shared.py), so one process and a fleet count alike.
"""

from __future__ import annotations

SLOTS = 60
"""Slots per window: one-second resolution for the minute."""


class Window:
    """Counts per slot over the last `SLOTS` slots (slot = floor(time / width))."""

    __slots__ = ("counts", "last", "total")

    def __init__(self) -> None:
        self.counts = [0] * SLOTS
        self.last = 0
        """The newest slot seen; the window holds slots `last - SLOTS + 1 .. last`."""
        self.total = 0

    def advance(self, slot: int) -> None:
        """Drop the slots that left the window by `slot`."""
        last = self.last
        if slot <= last:
            return
        counts = self.counts
        if slot - last >= SLOTS:
            self.counts = [0] * SLOTS
            self.total = 0
        elif self.total:
            for s in range(last + 1, slot + 1):
                i = s % SLOTS
                self.total -= counts[i]
                counts[i] = 0
        self.last = slot

    def add(self, slot: int, n: int) -> None:
        self.advance(slot)
        self.counts[slot % SLOTS] += n
        self.total += n

    def freed(self, limit: int) -> int:
        """The first slot at which the total falls below `limit` (the current one when it
        is already below): the slot after the oldest slots it takes to drop, plus SLOTS."""
        total = self.total
        if total < limit:
            return self.last
        for s in range(self.last - SLOTS + 1, self.last + 1):
            total -= self.counts[s % SLOTS]
            if total < limit:
                return s + SLOTS
        return self.last + SLOTS

    def emptied(self) -> int:
        """The slot at which everything now counted has left the window."""
        for s in range(self.last, self.last - SLOTS, -1):
            if self.counts[s % SLOTS]:
                return s + SLOTS
        return self.last
