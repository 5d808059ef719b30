"""One provider's upstream connections: at most `limit` in use, a short bounded wait beyond.

aiohttp's own connector limit is one number for the whole process, and its `connect`
timeout also covers waiting for a free slot of that limit: a flood toward one upstream
then made every other upstream "time out connecting" without a packet being sent to it,
and the router counted that against their breakers. Here every provider has its own
pool, and the wait for a slot is failsoft's own, separate from connecting: it is bounded
by `admission.pool_wait` and ends in `PoolBusy`, which is never a failure of the target
(the router skips the target as `busy`, like the `admission.per_target` cap).

A slot is held from sending a request until its response is released or closed (a
streamed answer keeps it to its end), so `in_use` is exactly the connections busy with
requests of that provider; idle keep-alive connections hold none.

At most `limit` requests wait at once; the next ones are busy at once. A longer queue
could not be served within a short wait anyway (LLM answers take seconds), and waiting
requests that all give up at the same moment would be the gateway's longest stall: a
flood toward one provider would then delay every other request in the process.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from failsoft.errors import PoolBusy


class Pool:
    """Slots for one provider's requests in flight upstream; handed over first come, first
    served, so a waiter is never overtaken by a request that arrived after it."""

    __slots__ = ("_waiters", "busy", "in_use", "limit", "name")

    def __init__(self, name: str, limit: int) -> None:
        self.name = name
        self.limit = limit
        self.in_use = 0
        self.busy = 0
        """Requests that found no slot within their wait (since start), for /metrics."""
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def take(self) -> bool:
        """A slot at once if one is free and nobody waits for one (the hot path: no await)."""
        if self.in_use < self.limit and not self._waiters:
            self.in_use += 1
            return True
        return False

    async def wait(self, seconds: float) -> None:
        """Wait at most `seconds` for a slot (after `take` said no); `PoolBusy` if none came,
        at once when `limit` requests wait already.

        On return the caller holds a slot and must `give` it back.
        """
        if self.take():
            return
        if seconds > 0 and len(self._waiters) < self.limit:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout(seconds):
                    await waiter
                return
            except TimeoutError:
                if waiter.done() and not waiter.cancelled():
                    return  # handed one just as the wait ran out
                self._drop(waiter)
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self.give()  # handed one, but this request is going away: pass it on
                else:
                    self._drop(waiter)
                raise
        raise self.refusal(seconds)

    def refused(self, seconds: float) -> PoolBusy | None:
        """`PoolBusy` if a request would be refused without waiting (no free slot, and
        `limit` requests waiting already), else None: a check before any work is spent
        on an attempt that cannot be sent."""
        if self.in_use >= self.limit and len(self._waiters) >= self.limit:
            return self.refusal(seconds)
        return None

    def refusal(self, seconds: float) -> PoolBusy:
        self.busy += 1
        return PoolBusy(self.name, self.limit, seconds)

    def give(self) -> None:
        """A slot comes back: to the first live waiter, else to the pool."""
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes on: in_use is unchanged
                return
        self.in_use -= 1

    def _drop(self, waiter: asyncio.Future[None]) -> None:
        with contextlib.suppress(ValueError):  # handed over, or skipped, already
            self._waiters.remove(waiter)
