"""What the router has seen of each target's speed: an EWMA (for least-latency balancing)
and a small window of recent times to first token (for a p95 hedging delay)."""

from __future__ import annotations

from collections import deque

from failsoft.types import Target


class TargetLatency:
    __slots__ = ("alpha", "ewma", "recent")

    def __init__(self, size: int, alpha: float = 0.2) -> None:
        self.alpha = alpha
        self.ewma: float | None = None
        self.recent: deque[float] = deque(maxlen=size)

    def observe(self, first_token: float) -> None:
        """A first token after `first_token` seconds (told on every answer: the router
        holds this object, `LatencyStats.of`, rather than look the target up each time)."""
        ewma = self.ewma
        alpha = self.alpha
        self.ewma = first_token if ewma is None else alpha * first_token + (1 - alpha) * ewma
        self.recent.append(first_token)


class LatencyStats:
    def __init__(self, alpha: float = 0.2, window: int = 200) -> None:
        self._alpha = alpha
        self._window = window
        self._targets: dict[Target, TargetLatency] = {}

    def of(self, target: Target) -> TargetLatency:
        """`target`'s figures (made on first use; kept as long as these stats are)."""
        found = self._targets.get(target)
        if found is None:
            found = self._targets[target] = TargetLatency(self._window, self._alpha)
        return found

    def observe(self, target: Target, first_token: float) -> None:
        self.of(target).observe(first_token)

    def penalize(self, target: Target, seconds: float) -> None:
        """A failed attempt counts as a slow one, so least-latency steers away from it."""
        self.observe(target, seconds)

    def ewma(self, target: Target) -> float | None:
        found = self._targets.get(target)
        return None if found is None else found.ewma

    def quantile(self, target: Target, q: float, min_samples: int = 20) -> float | None:
        found = self._targets.get(target)
        if found is None or len(found.recent) < min_samples:
            return None
        ordered = sorted(found.recent)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
