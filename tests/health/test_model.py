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


def test_failures_are_evidence_only_while_the_last_is_recent() -> None:
    failing = window(0, 20)
    assert state(failing, failure_age=59.0) == "major_outage"
    # recover_after (60 s) since the last failure: whatever the windows still hold, every
    # attempt since succeeded or there was none.
    assert state(failing, failure_age=60.0) == "operational"
    assert observed_state(Observation(failing, failing, "closed", failure_age=60.0), CONFIG) == (
        "operational",
        None,
    )
    # ...and then the provider's word is not taken over the model's own traffic.
    assert state(failing, failure_age=61.0, declared="major_outage") == "operational"
    # `recover_after: 0` still lets failures count for a second.
    quick = HealthConfig(recover_after=0)
    assert observed_state(Observation(failing, failing, "closed", failure_age=0.5), quick)[0] == (
        "major_outage"
    )


def test_an_open_breaker_counts_while_its_last_failure_is_recent() -> None:
    assert state(window(0, 0), breaker="open", failure_age=30.0) == "partial_outage"
    assert state(window(0, 0), breaker="open", failure_age=60.0) == "operational"
    assert state(window(0, 0), breaker="half_open", failure_age=1.0) == "operational"


def test_a_recovery_to_operational_is_dated_from_the_last_failure() -> None:
    tracker = StateTracker("operational", 0.0)
    assert tracker.update("major_outage", 10.0, 60.0)
    # Sparse evaluations: the first to see the model healthy comes long after its last
    # failure (t = 30), which is when the recovery began.
    assert tracker.update("operational", 200.0, 60.0, last_failure=30.0)
    assert (tracker.state, tracker.since) == ("operational", 30.0)
    assert tracker.update("major_outage", 210.0, 60.0)
    # The last failure may come after the first sign of recovery (a low error rate goes
    # on): then the usual rule, from that first sign.
    assert not tracker.update("operational", 220.0, 60.0, last_failure=250.0)
    assert tracker.update("operational", 280.0, 60.0, last_failure=270.0)
    assert tracker.since == 280.0
    # A state that began after the last failure (a breaker opened by hand) ends no earlier.
    tracker = StateTracker("partial_outage", 100.0)
    assert tracker.update("operational", 170.0, 60.0, last_failure=20.0)
    assert tracker.since == 100.0
