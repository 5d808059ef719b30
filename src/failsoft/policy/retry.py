"""Whether, and after how long, to try the same target again.

A second try on the same target helps with a one-off 500 or a short rate limit, and hurts
everywhere else: an overloaded (529) or silent target stays so, and waiting for it delays
the backup that could answer now. So the same target is retried only for outcomes listed
in `retry.retry_on`, at most `max_attempts` times, after a full-jitter backoff that never
undercuts the provider's Retry-After, and only if that wait is short (`max_wait`) when
another target could answer, or fits the request's deadline when none could.
"""

from __future__ import annotations

import random

from failsoft.config import Retry
from failsoft.errors import UpstreamError
from failsoft.policy.backoff import full_jitter


def retry_delay(
    config: Retry,
    error: UpstreamError,
    attempts_on_target: int,
    remaining: float,
    others_available: bool,
    rng: random.Random,
) -> float | None:
    """Seconds to wait before the next attempt on the same target, or None to move on."""
    if error.outcome not in config.retry_on or attempts_on_target >= config.max_attempts:
        return None
    delay = full_jitter(config.backoff, attempts_on_target, rng)
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        delay = max(delay, retry_after)
    # Leave the retry at least half of what remains to do its work.
    limit = config.max_wait if others_available else remaining / 2
    return delay if delay <= limit else None
