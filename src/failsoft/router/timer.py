"""One deadline per attempt: a single timer handle moved by attribute writes.

`asyncio.timeout` costs a `Timeout` object, `current_task()`, a timer handle and a
reschedule (a cancel and a new handle) every time a limit changes; an attempt changes
its limit at every phase (first byte, first token, each idle read), so most of that was
per request, and some of it per chunk. Here one attempt holds one `PhaseTimer`: moving
its limit is a write to `when`; its one `loop.call_at` handle is armed no later than the
earliest limit it may need, and when it fires before `when` (the limit moved on since),
it re-arms itself for `when`. Only a limit moved *earlier* than the armed handle costs a
new handle.

At expiry it cancels the task, and leaving the `with` block turns that cancellation into
`TimeoutError`, as `asyncio.timeout` does (a cancellation from anyone else stays one).

The handles themselves are `Alarms`: every deadline of the router's on one loop handle
per loop. A loop handle (uvloop's `call_at` and its `cancel`) costs ~9,000 instructions,
and a request armed two (its race's and its attempt's) only to cancel both milliseconds
later; an alarm is a heap entry, and cancelling it a write. The loop handle is armed for
the earliest alarm and moved only when an earlier one comes.
"""

from __future__ import annotations

import asyncio
import math
import threading
import weakref
from collections.abc import Callable
from heapq import heapify, heappop, heappush
from types import TracebackType
from typing import Any

_SLACK = 0.001
"""uvloop's timers have millisecond resolution and may fire that much early: within it, the
limit is reached (rather than re-arming for the rest, over and over)."""


Alarm = list[Any]
"""[when, sequence, callback]: in heap order by time, then by when it was set; the callback
is None once cancelled or run."""

_COMPACT = 64
"""Cancelled alarms left in the heap before it is rebuilt without them (when they are most
of it): the heap stays about as large as the alarms pending."""


class Alarms:
    """Callbacks at loop times, on one loop handle: `at` and `cancel` as `loop.call_at`
    and `TimerHandle.cancel`, the callbacks run in time order (those set for the same time
    in the order they were set), each from the loop as a timer callback would be."""

    __slots__ = ("__weakref__", "_armed", "_dead", "_handle", "_heap", "_loop", "_seq")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[Alarm] = []
        self._handle: asyncio.TimerHandle | None = None
        self._armed = math.inf
        """When the loop handle fires (math.inf: none is armed)."""
        self._dead = 0
        """Cancelled alarms still in the heap (about: only when to rebuild it depends on it)."""
        self._seq = 0

    def at(self, when: float, callback: Callable[[], object]) -> Alarm:
        self._seq += 1
        alarm: Alarm = [when, self._seq, callback]
        heappush(self._heap, alarm)
        if when < self._armed:
            self._arm(when)
        return alarm

    def cancel(self, alarm: Alarm) -> None:
        if alarm[2] is None:
            return
        alarm[2] = None
        self._dead += 1
        heap = self._heap
        if self._dead > _COMPACT and self._dead * 2 > len(heap):
            heap[:] = [a for a in heap if a[2] is not None]
            heapify(heap)
            self._dead = 0

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed = when
        self._handle = self._loop.call_at(when, self._run)

    def _run(self) -> None:
        self._handle = None
        self._armed = math.inf
        heap = self._heap
        now = self._loop.time() + _SLACK
        due: list[Alarm] = []
        while heap and heap[0][0] <= now:
            alarm = heappop(heap)
            if alarm[2] is None:
                self._dead -= 1
            else:
                due.append(alarm)
        for alarm in due:
            callback = alarm[2]
            if callback is None:  # cancelled by one run before it: not run, as a handle
                self._dead = max(0, self._dead - 1)  # (it was counted as in the heap)
                continue
            alarm[2] = None  # (run: cancelling it now changes nothing)
            try:
                callback()
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._loop.call_exception_handler(
                    {"message": f"Exception in timer callback {callback!r}", "exception": exc}
                )
        while heap and heap[0][2] is None:  # (no wake-up for an alarm cancelled since)
            heappop(heap)
            self._dead -= 1
        if heap and heap[0][0] < self._armed:
            self._arm(heap[0][0])


def _task_lookup() -> Callable[[asyncio.AbstractEventLoop], asyncio.Task[Any] | None]:
    """`asyncio.current_task(loop)` without its Python frame: C from 3.12 on; in 3.11 that
    function reads the C tasks' own dict of running tasks, read here directly."""
    try:
        import _asyncio
    except ImportError:  # (a Python without the C tasks: theirs is the only way)
        return asyncio.current_task
    found = getattr(_asyncio, "current_task", None)
    if found is not None:
        return found  # type: ignore[no-any-return]
    running = getattr(asyncio.tasks, "_current_tasks", None)
    if isinstance(running, dict):
        return running.get
    return asyncio.current_task


current_task = _task_lookup()
"""The running task of a loop (`asyncio.current_task(loop)`), asked for once or twice per
request."""


class _Current(threading.local):
    """Each thread's loop and its alarms, as last asked for (a thread runs one loop at a
    time): found without a lookup."""

    loop: asyncio.AbstractEventLoop | None = None
    alarms: Alarms | None = None


_current = _Current()
_by_loop: weakref.WeakKeyDictionary[Any, Alarms] = weakref.WeakKeyDictionary()


def alarms(loop: asyncio.AbstractEventLoop) -> Alarms:
    """The alarms of `loop` (made on first use, gone with it)."""
    current = _current
    if current.loop is loop:
        found = current.alarms
        assert found is not None
        return found
    found = _by_loop.get(loop)
    if found is None:
        found = _by_loop[loop] = Alarms(loop)
    current.loop, current.alarms = loop, found
    return found


class PhaseTimer:
    """A deadline on the loop's clock for the running task, used as a (sync) `with` block.

    `when` is the absolute loop time at which the task is cancelled (math.inf: never);
    write it freely inside the block."""

    __slots__ = (
        "_alarms",
        "_armed",
        "_cancelling",
        "_handle",
        "_loop",
        "_task",
        "expired",
        "when",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, when: float, early: float = math.inf):
        self._loop = loop
        self._alarms = alarms(loop)
        self.when = when
        self._armed = min(when, early)
        """When the handle fires: `early` (≤ when) when a later phase will want an earlier
        limit than `when`, so that moving there costs no new handle."""
        self._handle: Alarm | None = None
        self._task: asyncio.Task[object] | None = None
        self._cancelling = 0
        self.expired = False

    def __enter__(self) -> PhaseTimer:
        task = current_task(self._loop)
        if task is None:
            raise RuntimeError("PhaseTimer should be used inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        if self._armed != math.inf:
            self._handle = self._alarms.at(self._armed, self._fire)
        return self

    def move(self, when: float) -> None:
        """Set the limit; a new handle only when it comes earlier than the armed one."""
        self.when = when
        if when < self._armed and not self.expired:
            handle = self._handle
            if handle is not None:
                self._alarms.cancel(handle)
            self._armed = when
            self._handle = self._alarms.at(when, self._fire)

    def _fire(self) -> None:
        self._handle = None
        when = self.when
        if when == math.inf:
            self._armed = math.inf
            return
        if self._loop.time() + _SLACK < when:  # moved on since it was armed
            self._armed = when
            self._handle = self._alarms.at(when, self._fire)
            return
        self.expired = True
        assert self._task is not None
        self._task.cancel()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        handle = self._handle
        if handle is not None:
            self._alarms.cancel(handle)
            self._handle = None
        if self.expired:
            assert self._task is not None
            if self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
                raise TimeoutError from exc
