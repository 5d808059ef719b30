"""The same-target retry decision and full-jitter backoff."""

from __future__ import annotations

import random

from failsoft.config import Backoff, Retry
from failsoft.errors import ConnectionLost, FirstTokenTimeout, UpstreamStatusError
from failsoft.policy.backoff import full_jitter
from failsoft.policy.retry import retry_delay

RNG = random.Random(7)


def test_full_jitter_stays_under_the_capped_exponential() -> None:
    config = Backoff(base=0.25, cap=2.0)
    for retry, ceiling in [(1, 0.25), (2, 0.5), (3, 1.0), (4, 2.0), (9, 2.0)]:
        samples = [full_jitter(config, retry, RNG) for _ in range(200)]
        assert all(0 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling * 0.8  # really spread over the range


def test_retries_only_listed_outcomes_up_to_max_attempts() -> None:
    config = Retry()
    e500 = UpstreamStatusError(500, b"")
    assert retry_delay(config, e500, 1, 60.0, True, RNG) is not None
    assert retry_delay(config, e500, 2, 60.0, True, RNG) is None  # max_attempts 2
    assert retry_delay(config, UpstreamStatusError(529, b""), 1, 60, True, RNG) is None
    assert retry_delay(config, FirstTokenTimeout("x"), 1, 60, True, RNG) is None
    assert retry_delay(config, ConnectionLost("x"), 1, 60, True, RNG) is not None


def test_retry_after_is_a_floor_and_long_waits_move_on_when_others_can_answer() -> None:
    config = Retry(max_wait=1.0)
    short = UpstreamStatusError(429, b"", retry_after=0.6)
    delay = retry_delay(config, short, 1, 60.0, True, RNG)
    assert delay is not None
    assert delay >= 0.6
    long = UpstreamStatusError(429, b"", retry_after=2.0)
    assert retry_delay(config, long, 1, 60.0, True, RNG) is None  # a backup can answer now
    assert retry_delay(config, long, 1, 60.0, False, RNG) == 2.0  # no backup: wait for it
    assert retry_delay(config, long, 1, 3.0, False, RNG) is None  # but not past the deadline
