"""The request's overall time budget, which every attempt and fallback must fit into."""

from __future__ import annotations

from failsoft.clock import Clock


class Deadline:
    """Absolute expiry on the injected clock; `cap` shortens a per-phase limit to fit."""

    __slots__ = ("_clock", "expires", "seconds")

    def __init__(self, clock: Clock, seconds: float) -> None:
        self._clock = clock
        self.seconds = seconds
        self.expires = clock.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.expires - self._clock.monotonic())

    @property
    def expired(self) -> bool:
        return self._clock.monotonic() >= self.expires

    def cap(self, limit: float) -> tuple[float, bool]:
        """`(seconds, binding)`: the smaller of `limit` and the time left, and whether the
        overall deadline (not `limit`) is what bounds it, to name the right timeout."""
        left = self.expires - self._clock.monotonic()
        if left < limit:
            return max(0.0, left), True
        return limit, False
