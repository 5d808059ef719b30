"""How long to wait before retrying the same target."""

from __future__ import annotations

import random

from failsoft.config import Backoff


def full_jitter(config: Backoff, retry: int, rng: random.Random) -> float:
    """AWS's "full jitter": uniform in [0, min(cap, base × 2^(retry−1))] for retry 1, 2, ...

    Spreads the retries of many callers hit by the same failure, so they do not return
    in synchronised waves.
    """
    ceiling = min(config.cap, config.base * (2 ** max(0, retry - 1)))
    return rng.uniform(0.0, ceiling)
