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
"""

from __future__ import annotations

import asyncio
import math
from types import TracebackType

_SLACK = 0.001
"""uvloop's timers have millisecond resolution and may fire that much early: within it, the
limit is reached (rather than re-arming for the rest, over and over)."""


class PhaseTimer:
    """A deadline on the loop's clock for the running task, used as a (sync) `with` block.

    `when` is the absolute loop time at which the task is cancelled (math.inf: never);
    write it freely inside the block."""

    __slots__ = ("_armed", "_cancelling", "_handle", "_loop", "_task", "expired", "when")

    def __init__(self, loop: asyncio.AbstractEventLoop, when: float, early: float = math.inf):
        self._loop = loop
        self.when = when
        self._armed = min(when, early)
        """When the handle fires: `early` (≤ when) when a later phase will want an earlier
        limit than `when`, so that moving there costs no new handle."""
        self._handle: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[object] | None = None
        self._cancelling = 0
        self.expired = False

    def __enter__(self) -> PhaseTimer:
        task = asyncio.current_task(self._loop)
        if task is None:
            raise RuntimeError("PhaseTimer should be used inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        if self._armed != math.inf:
            self._handle = self._loop.call_at(self._armed, self._fire)
        return self

    def move(self, when: float) -> None:
        """Set the limit; a new handle only when it comes earlier than the armed one."""
        self.when = when
        if when < self._armed and not self.expired:
            handle = self._handle
            if handle is not None:
                handle.cancel()
            self._armed = when
            self._handle = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._handle = None
        when = self.when
        if when == math.inf:
            self._armed = math.inf
            return
        if self._loop.time() + _SLACK < when:  # moved on since it was armed
            self._armed = when
            self._handle = self._loop.call_at(when, self._fire)
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
            handle.cancel()
            self._handle = None
        if self.expired:
            assert self._task is not None
            if self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
                raise TimeoutError from exc
