"""The noise guard: this machine is shared with people measuring other things, so a
phase waits for the machine to go idle and is judged by how busy others were during it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from fsbench.procfs import core_times


@dataclass(frozen=True, slots=True)
class Noise:
    """This machine is shared: wait for other processes to calm down, and re-run a phase
    during which they used more than `max_other` % of a core."""

    max_other: float
    retries: int
    quiet_timeout: float
    sample: float = 0.2

    async def wait_quiet(self) -> bool:
        """Between phases our own processes idle, so any busy time is someone else's."""
        deadline = time.monotonic() + self.quiet_timeout
        while True:
            before, t0 = core_times(), time.perf_counter_ns()
            await asyncio.sleep(self.sample)
            after, t1 = core_times(), time.perf_counter_ns()
            busy = sum(after[c]["busy"] - before[c]["busy"] for c in after if c in before)
            if 100.0 * busy / (t1 - t0) <= self.max_other:
                return True
            if time.monotonic() >= deadline:
                return False
