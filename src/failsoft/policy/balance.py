"""The order in which a virtual model's targets are tried.

`ordered` keeps the configured order (primary first). `weighted` draws the first target in
proportion to its `weight` and keeps the others in order behind it. `least_latency` picks,
of two random targets, the one with the lower observed time to first token (the "power of
two choices", which avoids herding every request onto one momentarily fast target), then
the rest by that measure. Targets never tried count as fast, so they get tried.
Breakers are applied after ordering, by the router.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from failsoft.policy.latency import LatencyStats
from failsoft.types import Target


def order(
    strategy: str,
    targets: Sequence[Target],
    weights: Sequence[float],
    rng: random.Random,
    latency: LatencyStats,
) -> list[Target]:
    if strategy == "weighted" and len(targets) > 1:
        first = rng.choices(range(len(targets)), weights=weights or None)[0]
        return [targets[first], *(t for i, t in enumerate(targets) if i != first)]
    if strategy == "least_latency" and len(targets) > 1:

        def speed(target: Target) -> float:
            ewma = latency.ewma(target)
            return 0.0 if ewma is None else ewma

        a, b = rng.sample(range(len(targets)), 2)
        first = a if speed(targets[a]) <= speed(targets[b]) else b
        rest = sorted((t for i, t in enumerate(targets) if i != first), key=speed)
        return [targets[first], *rest]
    return list(targets)
