"""A count over the last `window` seconds, in fixed buckets: O(1) per event, no timestamps kept."""

from __future__ import annotations

from failsoft.clock import Clock


class SlidingCount:
    """Events in the last `window` seconds (to within one bucket, `window / buckets`)."""

    __slots__ = ("_clock", "_counts", "_epochs", "_width")

    def __init__(self, clock: Clock, window: float, buckets: int = 10) -> None:
        self._clock = clock
        self._width = window / buckets
        self._counts = [0.0] * buckets
        self._epochs = [-1] * buckets

    def add(self, amount: float = 1.0) -> None:
        epoch = int(self._clock.monotonic() / self._width)
        slot = epoch % len(self._counts)
        if self._epochs[slot] != epoch:
            self._epochs[slot] = epoch
            self._counts[slot] = 0.0
        self._counts[slot] += amount

    def total(self) -> float:
        epoch = int(self._clock.monotonic() / self._width)
        oldest = epoch - len(self._counts) + 1
        return sum(c for c, e in zip(self._counts, self._epochs, strict=True) if e >= oldest)

    def clear(self) -> None:
        self._counts = [0.0] * len(self._counts)
        self._epochs = [-1] * len(self._epochs)
