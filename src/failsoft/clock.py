"""The one place failsoft reads time and sleeps.

Policies, the router and the simulator take a `Clock` instead of calling `time` or
`asyncio.sleep` directly, so deadline and timeline logic can be tested on a fake clock
without real waiting.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a monotonic scale (only differences are meaningful)."""
        ...

    def wall(self) -> float:
        """Seconds since the epoch, for timestamps shown to people or written to storage."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    __slots__ = ()

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A manually advanced clock for tests.

    `sleep` advances the clock immediately (and yields once to the loop), so code that
    waits "30 seconds" finishes at once while observing the right times.
    """

    def __init__(self, start: float = 1000.0, wall_start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._wall_offset = wall_start - start

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._now + self._wall_offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self._now += seconds

    async def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)


SYSTEM_CLOCK = SystemClock()
