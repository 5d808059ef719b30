"""Log lines that stay readable during an outage.

A failing primary fails every request; one log line per failover would be thousands of
lines a second at exactly the moment someone is reading the log (and measurably slower).
So each kind of line is sampled per key: the first one is written at once, the ones after
it within `interval` seconds are only counted, and the next line written says how many it
stands for.
"""

from __future__ import annotations

import logging

from failsoft.clock import Clock


class SampledLog:
    __slots__ = ("_clock", "_interval", "_log", "_state")

    def __init__(self, log: logging.Logger, clock: Clock, interval: float = 10.0) -> None:
        self._log = log
        self._clock = clock
        self._interval = interval
        self._state: dict[str, tuple[float, int]] = {}

    def __call__(self, level: int, key: str, message: str, *args: object) -> None:
        if not self._log.isEnabledFor(level):
            return
        now = self._clock.monotonic()
        last, skipped = self._state.get(key, (-self._interval, 0))
        if now - last < self._interval:
            self._state[key] = (last, skipped + 1)
            return
        self._state[key] = (now, 0)
        if len(self._state) > 10_000:  # keys come from config, but never grow without bound
            self._state.clear()
        if skipped:
            message += " (and %d more like it in the last %.0f s)"
            args = (*args, skipped, now - last)
        self._log.log(level, message, *args)
