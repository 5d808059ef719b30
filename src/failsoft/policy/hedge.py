"""When to start a hedge: a second target in parallel with a first that is slow to answer."""

from __future__ import annotations

from failsoft.config import Hedge
from failsoft.policy.latency import LatencyStats
from failsoft.types import Target


def hedge_delay(config: Hedge, target: Target, latency: LatencyStats) -> float | None:
    """Seconds to wait for `target`'s first token before hedging, or None (no hedging).

    With `delay: p95` the delay is the target's observed 95th-percentile time to first
    token (at least `min_delay`); until enough samples exist, hedging waits for the
    configured floor times four, so a cold start does not double every request.
    """
    if not config.enabled:
        return None
    if isinstance(config.delay, int | float):
        return float(config.delay)
    p95 = latency.quantile(target, 0.95)
    if p95 is None:
        return config.min_delay * 4
    return max(config.min_delay, p95)
