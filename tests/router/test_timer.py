"""The attempt's one deadline timer (`router/timer.py`): expiry, moving, and others'
cancellations. Ordered by the loop's own timers, never by wall-clock asserts."""

from __future__ import annotations

import asyncio
import math

import pytest

from failsoft.router import timer as timer_module
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


# ---------------------------------------------------------------------- the alarms underneath
# Every PhaseTimer and race deadline is an alarm on its loop's one handle (`Alarms`).


async def _ordering() -> list[object]:
    loop = asyncio.get_running_loop()
    alarms = timer_module.alarms(loop)
    now = loop.time()
    ran: list[object] = []
    done = asyncio.Event()
    alarms.at(now + 0.03, lambda: ran.append("third"))
    alarms.at(now + 0.01, lambda: ran.append("first"))
    alarms.at(now + 0.02, lambda: ran.append("second, a"))
    alarms.at(now + 0.02, lambda: ran.append("second, b"))  # same time: in the order set
    alarms.cancel(alarms.at(now + 0.015, lambda: ran.append("cancelled")))
    alarms.at(now + 0.04, done.set)
    await done.wait()
    return ran


async def test_alarms_run_in_time_order_and_cancelled_ones_never() -> None:
    assert await _ordering() == ["first", "second, a", "second, b", "third"]


def test_alarms_on_uvloop() -> None:
    uvloop = pytest.importorskip("uvloop")
    assert uvloop.run(_ordering()) == ["first", "second, a", "second, b", "third"]


async def test_many_cancelled_alarms_leave_the_pending_ones() -> None:
    loop = asyncio.get_running_loop()
    alarms = timer_module.alarms(loop)
    now = loop.time()
    ran: list[int] = []
    each = [alarms.at(now + 0.01 + i * 0.0001, lambda i=i: ran.append(i)) for i in range(300)]
    for alarm in each[::3] + each[1::3]:  # most of them: the heap is rebuilt meanwhile
        alarms.cancel(alarm)
    done = asyncio.Event()
    alarms.at(now + 0.1, done.set)
    await done.wait()
    assert ran == list(range(2, 300, 3))


async def test_a_failing_alarm_is_reported_and_the_others_run() -> None:
    loop = asyncio.get_running_loop()
    reported: list[BaseException] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context["exception"]))
    try:
        alarms = timer_module.alarms(loop)
        now = loop.time()
        done = asyncio.Event()

        def fail() -> None:
            raise ValueError("boom")

        alarms.at(now + 0.01, fail)
        alarms.at(now + 0.01, done.set)  # due at the same moment, run after it
        await done.wait()
    finally:
        loop.set_exception_handler(None)
    assert [type(e) for e in reported] == [ValueError]


async def test_an_alarm_set_from_an_alarm_runs_later() -> None:
    loop = asyncio.get_running_loop()
    alarms = timer_module.alarms(loop)
    done = asyncio.Event()
    alarms.at(loop.time() + 0.01, lambda: alarms.at(loop.time() + 0.01, done.set))
    await done.wait()


async def test_an_alarm_cancelled_by_one_due_with_it_does_not_run() -> None:
    loop = asyncio.get_running_loop()
    alarms = timer_module.alarms(loop)
    now = loop.time()
    ran: list[str] = []
    done = asyncio.Event()
    second: list[timer_module.Alarm] = []
    alarms.at(now + 0.01, lambda: alarms.cancel(second[0]))
    second.append(alarms.at(now + 0.01, lambda: ran.append("cancelled")))
    alarms.at(now + 0.02, done.set)
    await done.wait()
    assert ran == []


async def _tasks_seen() -> tuple[bool, object]:
    """`current_task(loop)` in a task (and in a callback of the loop, outside any task)."""
    loop = asyncio.get_running_loop()
    in_callback: list[object] = []
    done = asyncio.Event()

    def callback() -> None:
        in_callback.append(timer_module.current_task(loop))
        done.set()

    loop.call_soon(callback)
    await done.wait()
    return timer_module.current_task(loop) is asyncio.current_task(), in_callback[0]


async def test_current_task_is_asyncios() -> None:
    assert await _tasks_seen() == (True, None)


def test_current_task_on_uvloop() -> None:
    uvloop = pytest.importorskip("uvloop")
    assert uvloop.run(_tasks_seen()) == (True, None)
