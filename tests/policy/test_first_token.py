"""The learnt first-token limit: cold start, learning, scaling by input size."""

from __future__ import annotations

import pytest

from failsoft.config import AdaptiveFirstToken
from failsoft.policy.first_token import BYTES_PER_TOKEN, FirstTokenLimits
from failsoft.types import Target

T = Target("p", "m")
C = AdaptiveFirstToken()
SHORT = 400  # bytes: a short prompt


def test_a_target_never_seen_gets_the_cold_limit() -> None:
    assert FirstTokenLimits().limit(C, T, SHORT) == pytest.approx(10.0, rel=0.01)


def test_a_warm_target_gets_factor_times_its_quantile_with_a_floor() -> None:
    limits = FirstTokenLimits()
    for _ in range(C.min_samples):
        limits.observe(C, T, 0.01, SHORT)
    assert limits.limit(C, T, SHORT) == pytest.approx(C.floor, rel=0.01)  # fast: the floor
    slow = Target("p", "slow")
    for seconds in (2.0, 2.5, 3.0, 2.2, 2.8, 3.1, 2.4, 2.6, 2.9, 2.7):
        limits.observe(C, slow, seconds, SHORT)
    assert limits.limit(C, slow, SHORT) == pytest.approx(4 * 3.1, rel=0.02)


def test_a_reasoning_model_is_learnt_not_abandoned() -> None:
    """Always 30 s to its first token: raced at 10 s, then 20 s, then waited for."""
    limits = FirstTokenLimits()
    assert limits.limit(C, T, SHORT) < 30
    limits.lost(C, T, 10.0, SHORT)
    assert limits.limit(C, T, SHORT) == pytest.approx(20.0, rel=0.01)
    limits.lost(C, T, 20.0, SHORT)
    assert limits.limit(C, T, SHORT) == pytest.approx(40.0, rel=0.01)
    limits.observe(C, T, 30.0, SHORT)  # waited for: it answered at 30 s
    for _ in range(C.min_samples):
        limits.observe(C, T, 30.0, SHORT)
    assert limits.limit(C, T, SHORT) >= 100


def test_a_warm_target_that_turns_slow_keeps_its_limit() -> None:
    limits = FirstTokenLimits()
    for _ in range(10):
        limits.observe(C, T, 0.3, SHORT)
    before = limits.limit(C, T, SHORT)
    for _ in range(50):
        limits.lost(C, T, before, SHORT)  # a fault: every first token after 20 s
    assert limits.limit(C, T, SHORT) == before


def test_a_long_prompt_is_allowed_longer() -> None:
    limits = FirstTokenLimits()
    long = int(96_000 * BYTES_PER_TOKEN)
    assert limits.limit(C, T, long) == pytest.approx(4 * limits.limit(C, T, 0), rel=0.01)
    # Samples are normalised by size: a 100k prompt's slow answer is a short prompt's fast one.
    for _ in range(10):
        limits.observe(C, T, 3.0, long)
    assert limits.limit(C, T, SHORT) == pytest.approx(C.floor, rel=0.05)


def test_the_ceiling_bounds_everything() -> None:
    limits = FirstTokenLimits()
    huge = 10_000_000
    assert limits.limit(C, T, huge) == C.ceiling
