"""Passive windows: counts by class, error rates, percentiles, expiry."""

from __future__ import annotations

import pytest

from failsoft.health.windows import PassiveHealth, TargetStats, classify


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
