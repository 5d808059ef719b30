"""From observations to states: thresholds, thin traffic, breakers, declared status,
maintenance, and hysteresis on the way back."""

from __future__ import annotations

from failsoft.config import HealthConfig
from failsoft.health.model import Observation, StateTracker, observed_state
from failsoft.health.windows import TargetStats, Window

CONFIG = HealthConfig()


def window(ok: int, failed: int, seconds: float = 60) -> Window:
    stats = TargetStats()
    for _ in range(ok):
        stats.record(1.0, "200", 0.1, 0.05)
    for _ in range(failed):
        stats.record(1.0, "529", 0.1, None)
    return stats.window(1.0, seconds)


def state(minute: Window, five: Window | None = None, **kw: object) -> str:
    obs = Observation(minute, five or minute, **{"breaker": "closed", **kw})  # type: ignore[arg-type]
    return observed_state(obs, CONFIG)[0]


def test_error_rate_thresholds() -> None:
    assert state(window(100, 0)) == "operational"
    assert state(window(95, 5)) == "degraded_performance"
    assert state(window(70, 30)) == "partial_outage"
    assert state(window(30, 70)) == "major_outage"


def test_thin_traffic_uses_the_longer_window_then_the_providers_word() -> None:
    assert state(window(1, 2), window(2, 8)) == "major_outage"
    assert state(window(0, 2), window(0, 2)) == "operational"
    assert state(window(0, 2), window(0, 2), declared="partial_outage") == "partial_outage"
    # With enough own traffic, the provider's word does not override it.
    assert state(window(50, 0), declared="major_outage") == "operational"


def test_an_open_breaker_is_at_least_a_partial_outage() -> None:
    assert state(window(0, 0), breaker="open") == "partial_outage"
    assert state(window(10, 90), breaker="open") == "major_outage"


def test_maintenance_wins() -> None:
    assert state(window(0, 90), maintenance=True) == "under_maintenance"


def test_latency_threshold_degrades() -> None:
    slow = HealthConfig(latency_p95_ms=50.0)
    obs = Observation(window(100, 0), window(100, 0), "closed")
    assert observed_state(obs, slow)[0] == "degraded_performance"


def test_worse_at_once_better_only_after_recover_after() -> None:
    tracker = StateTracker("operational", 0.0)
    assert tracker.update("major_outage", 10.0, 60.0)
    assert not tracker.update("operational", 20.0, 60.0)
    assert not tracker.update("degraded_performance", 50.0, 60.0)
    assert tracker.state == "major_outage"
    assert tracker.update("operational", 80.0, 60.0)  # better since t=20
    assert tracker.since == 80.0
    assert tracker.update("partial_outage", 81.0, 60.0)
    assert not tracker.update("operational", 82.0, 60.0)
    assert tracker.update("partial_outage", 83.0, 60.0) is False  # same state: recovery reset
    assert not tracker.update("operational", 90.0, 60.0)
    assert tracker.update("operational", 150.0, 60.0)
