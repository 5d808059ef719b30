"""The attempt's one deadline timer (`router/timer.py`): expiry, moving, and others'
cancellations. Ordered by the loop's own timers, never by wall-clock asserts."""

from __future__ import annotations

import asyncio
import math

import pytest

from failsoft.router.timer import PhaseTimer


async def test_expiry_is_a_timeout() -> None:
    loop = asyncio.get_running_loop()
    with pytest.raises(TimeoutError):
        with PhaseTimer(loop, loop.time() + 0.01):
            await asyncio.Event().wait()


async def test_moved_later_does_not_fire_at_the_armed_time() -> None:
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    with PhaseTimer(loop, loop.time() + 10, loop.time() + 0.01) as timer:
        loop.call_later(0.05, done.set)  # after the early handle, long before `when`
        await done.wait()
        assert not timer.expired


async def test_moved_earlier_fires_then() -> None:
    loop = asyncio.get_running_loop()
    with pytest.raises(TimeoutError):
        with PhaseTimer(loop, math.inf) as timer:
            timer.move(loop.time() + 0.01)
            await asyncio.Event().wait()


async def test_disarmed_never_fires() -> None:
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    with PhaseTimer(loop, loop.time() + 0.01) as timer:
        timer.when = math.inf
        loop.call_later(0.05, done.set)
        await done.wait()
    assert not timer.expired


async def test_an_outside_cancellation_stays_one() -> None:
    loop = asyncio.get_running_loop()

    async def body() -> None:
        with PhaseTimer(loop, loop.time() + 10):
            await asyncio.Event().wait()

    task = asyncio.ensure_future(body())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
