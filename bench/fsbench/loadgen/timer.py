"""A precise periodic timer for the open-loop schedule: the event loop's own timers have
about 1 ms resolution, which would put a floor under the latencies corrected for
coordinated omission, so a Linux timerfd drives the ticks when there is one."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import struct
from collections.abc import Callable

from fsbench.loadgen.sample import now_ns


class _TimerSpec(ctypes.Structure):
    _fields_ = (
        ("interval_sec", ctypes.c_long),
        ("interval_nsec", ctypes.c_long),
        ("value_sec", ctypes.c_long),
        ("value_nsec", ctypes.c_long),
    )


_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = 0o4000
_TFD_CLOEXEC = 0o2000000
_TFD_TIMER_ABSTIME = 1
_PR_SET_TIMERSLACK = 29


def _libc() -> ctypes.CDLL | None:
    if os.uname().sysname != "Linux":
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


def precise_timer_available() -> bool:
    libc = _libc()
    return libc is not None and hasattr(libc, "timerfd_create")


class PeriodicTimer:
    """Ticks every `interval_ns` from `start_ns` (CLOCK_MONOTONIC), on the event loop.

    A Linux timerfd (ns resolution; timer slack set to 1 ns) when available; otherwise the
    loop's own timers (about 1 ms resolution), catching up on missed ticks. `on_ticks(n)`
    gets the number of ticks due since the previous call.
    """

    def __init__(self, start_ns: int, interval_ns: int, on_ticks: Callable[[int], None]) -> None:
        self._start = start_ns
        self._interval = interval_ns
        self._on_ticks = on_ticks
        self._fd = -1
        self._handle: asyncio.TimerHandle | None = None
        self._fired = 0
        self.precise = False
        libc = _libc()
        if libc is not None and hasattr(libc, "timerfd_create"):
            libc.prctl(_PR_SET_TIMERSLACK, 1, 0, 0, 0)
            fd = libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
            if fd >= 0:
                spec = _TimerSpec(
                    interval_ns // 1_000_000_000,
                    interval_ns % 1_000_000_000,
                    start_ns // 1_000_000_000,
                    start_ns % 1_000_000_000,
                )
                if libc.timerfd_settime(fd, _TFD_TIMER_ABSTIME, ctypes.byref(spec), None) == 0:
                    self._fd = fd
                    self.precise = True
                else:
                    os.close(fd)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self._fd >= 0:
            loop.add_reader(self._fd, self._read)
        else:
            self._schedule(loop)

    def _read(self) -> None:
        try:
            data = os.read(self._fd, 8)
        except BlockingIOError:
            return
        self._on_ticks(struct.unpack("=Q", data)[0])

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        due = self._start + self._fired * self._interval
        delay = max(0.0, (due - now_ns()) / 1e9)
        self._handle = loop.call_later(delay, self._fallback_tick, loop)

    def _fallback_tick(self, loop: asyncio.AbstractEventLoop) -> None:
        elapsed = now_ns() - self._start
        due = elapsed // self._interval + 1 - self._fired
        if due > 0:
            self._fired += due
            self._on_ticks(due)
        self._schedule(loop)

    async def run_until(self, done: asyncio.Future[None], limit_s: float) -> None:
        """Tick until `done` is (or `limit_s` seconds have passed), then stop; `done` is not
        cancelled by the timeout."""
        self.start()
        try:
            await asyncio.wait_for(asyncio.shield(done), timeout=limit_s)
        except TimeoutError:
            pass
        finally:
            self.stop()

    def stop(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1
        if self._handle is not None:
            self._handle.cancel()
