"""Passive windows: counts by class, error rates, percentiles, expiry."""

from __future__ import annotations

import random

import pytest

from failsoft.health.windows import BUCKET_SECONDS, WINDOWS, PassiveHealth, TargetStats, classify


@pytest.mark.parametrize(
    ("outcome", "kind"),
    [("200", "ok"), ("529", "server"), ("500", "server"), ("429", "rate_limit"),
     ("408", "server"), ("401", "auth"), ("400", "client"), ("422", "client"),
     ("first_token_timeout", "timeout"), ("deadline", "timeout"), ("reset", "connection"),
     ("truncated", "connection"), ("cancelled", None), ("open", None), ("untranslatable", None)],
)  # fmt: skip
def test_outcomes_are_classified(outcome: str, kind: str | None) -> None:
    assert classify(outcome) == kind


def test_error_rate_excludes_client_faults_and_skips() -> None:
    stats = TargetStats()
    for outcome in ["200"] * 6 + ["529"] * 3 + ["400"] * 5 + ["cancelled"]:
        stats.record(100.0, outcome, 0.2, 0.05)
    window = stats.window(100.0, 60)
    assert window.requests == 9
    assert window.failures == 3
    assert window.error_rate == pytest.approx(1 / 3)
    assert window.top_outcome() == "529"


def test_windows_forget_old_buckets() -> None:
    stats = TargetStats()
    stats.record(0.0, "500", None, None)
    stats.record(55.0, "200", 0.1, None)
    assert stats.window(59.0, 60).requests == 2
    assert stats.window(75.0, 60).requests == 1  # the 0-10 s bucket left the minute
    assert stats.window(75.0, 300).requests == 2
    assert stats.window(3700.0, 3600).requests == 0  # the ring wrapped
    stats.record(3700.0, "200", 0.1, None)
    assert stats.window(3700.0, 3600).requests == 1


def test_percentiles_are_within_a_bucket() -> None:
    stats = TargetStats()
    for ms in range(1, 101):
        stats.record(10.0, "200", ms / 1000, ms / 2000)
    window = stats.window(10.0, 60)
    assert window.latency_p50_ms is not None and window.latency_p95_ms is not None
    assert 45 <= window.latency_p50_ms <= 60
    assert 85 <= window.latency_p95_ms <= 110
    assert window.ttft_p50_ms is not None and 22 <= window.ttft_p50_ms <= 30


def test_a_cut_stream_turns_a_success_into_a_failure() -> None:
    health = PassiveHealth()
    health.record("a/m", 5.0, "200", 1.0, 0.1)
    health.stats("a/m").record_cut(6.0)
    window = health.window("a/m", 6.0, "1m")
    assert window.counts["ok"] == 0 and window.failures == 1
    assert window.outcomes == {"cut": 1}


def test_running_windows_match_adding_up_the_buckets() -> None:
    """The 1 min, 5 min and 1 h windows are kept as running totals; they must equal the
    sum of the attempts whose bucket is in the window, through gaps and ring wraps."""
    rng = random.Random(17)
    stats = TargetStats()
    seen: list[tuple[int, str, float]] = []
    now = 1000.0
    outcomes = ["200", "200", "200", "529", "429", "reset", "400"]
    for _ in range(3000):
        now += rng.choice([0.5, 3.0, 11.0, 40.0, 700.0]) if rng.random() < 0.3 else 0.2
        outcome = rng.choice(outcomes)
        duration = rng.uniform(0.01, 3.0)
        stats.record(now, outcome, duration, duration / 2)
        seen.append((int(now // BUCKET_SECONDS), outcome, duration))
        if rng.random() < 0.05:
            stats.record_cut(now)
            seen.append((int(now // BUCKET_SECONDS), "cut", 0.0))
        if rng.random() < 0.1:
            later = now + rng.choice([0.0, 30.0, 400.0])
            for seconds in WINDOWS.values():
                newest = int(later // BUCKET_SECONDS)
                first = newest - int(seconds // BUCKET_SECONDS) + 1
                inside = [(o, d) for n, o, d in seen if first <= n <= newest]
                window = stats.window(later, seconds)
                expected_failures = sum(1 for o, _ in inside if o in ("529", "429", "reset", "cut"))
                assert window.failures == expected_failures
                assert sum(window.latency_histogram) == sum(1 for o, _ in inside if o == "200")
            now = later
