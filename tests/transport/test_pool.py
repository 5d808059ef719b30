"""A provider's pool: slots up to its limit, a short first-come-first-served wait beyond
it that ends in `PoolBusy` (failsoft's own limit, never an upstream failure), and no slot
lost whichever way a request ends."""

from __future__ import annotations

import asyncio

import pytest

from failsoft.errors import PoolBusy, UpstreamError
from failsoft.transport import Pool


async def test_slots_up_to_the_limit_then_busy_after_the_wait() -> None:
    pool = Pool("slow", 2)
    assert pool.take() and pool.take()
    assert not pool.take()
    with pytest.raises(PoolBusy) as info:
        await pool.wait(0.05)
    assert not isinstance(info.value, UpstreamError)  # never classified as the target's
    assert info.value.outcome == "busy"
    assert "providers.slow.max_connections" in info.value.detail
    assert (pool.in_use, pool.waiting, pool.busy) == (2, 0, 1)
    with pytest.raises(PoolBusy):
        await pool.wait(0)  # 0: skip at once
    pool.give()
    pool.give()
    assert pool.in_use == 0


async def test_a_freed_slot_goes_to_the_first_waiter() -> None:
    pool = Pool("p", 2)
    assert pool.take() and pool.take()
    order: list[str] = []

    async def waiter(name: str) -> None:
        await pool.wait(5)
        order.append(name)

    first = asyncio.create_task(waiter("first"))
    await asyncio.sleep(0)
    second = asyncio.create_task(waiter("second"))
    await asyncio.sleep(0)
    assert pool.waiting == 2
    assert not pool.take()  # a newcomer never overtakes the waiters
    pool.give()
    await first
    assert order == ["first"] and pool.in_use == 2
    pool.give()
    await second
    assert order == ["first", "second"] and pool.in_use == 2
    pool.give()
    pool.give()
    assert (pool.in_use, pool.waiting) == (0, 0)


async def test_no_longer_queue_than_the_pool_has_connections() -> None:
    """Beyond `limit` waiting requests the next is busy at once: a longer queue could not
    be served within a short wait, and would all give up at the same moment."""
    pool = Pool("p", 1)
    assert pool.take()
    queued = asyncio.create_task(pool.wait(5))
    await asyncio.sleep(0)
    assert pool.refused(5) is not None
    started = asyncio.get_running_loop().time()
    with pytest.raises(PoolBusy):
        await pool.wait(5)
    assert asyncio.get_running_loop().time() - started < 1  # not the 5 s wait
    assert pool.busy == 2
    pool.give()
    await queued
    assert pool.refused(5) is None  # in use, but nobody waits: a request may wait
    pool.give()


async def test_a_cancelled_waiter_loses_no_slot() -> None:
    pool = Pool("p", 1)
    assert pool.take()
    task = asyncio.create_task(pool.wait(5))
    await asyncio.sleep(0)
    pool.give()  # handed to the waiter...
    task.cancel()  # ...which goes away before it runs: the slot passes back
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (pool.in_use, pool.waiting) == (0, 0)
    assert pool.take()
    task = asyncio.create_task(pool.wait(5))
    await asyncio.sleep(0)
    task.cancel()  # cancelled while still waiting
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (pool.in_use, pool.waiting) == (1, 0)
    pool.give()
    assert pool.take()
