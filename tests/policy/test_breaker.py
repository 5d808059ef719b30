"""Circuit breakers on a fake clock: when they open, for how long, and the single probe."""

from __future__ import annotations

from failsoft.clock import FakeClock
from failsoft.config import BreakerConfig
from failsoft.policy.breaker import Admit, Breaker, BreakerChange, State
from failsoft.types import Target

T = Target("p", "m")


def make(**overrides: float) -> tuple[Breaker, FakeClock, list[BreakerChange]]:
    clock = FakeClock()
    changes: list[BreakerChange] = []
    config = BreakerConfig(**overrides)  # type: ignore[arg-type]
    return Breaker(T, config, clock, changes.append), clock, changes


def test_opens_after_consecutive_failures_and_skips_meanwhile() -> None:
    breaker, _, changes = make(failures=3, open_for=2.0)
    for _ in range(2):
        breaker.failure()
        assert breaker.admit() is Admit.ALLOW
    breaker.failure()
    assert breaker.state is State.OPEN
    assert breaker.admit() is Admit.DENY
    assert breaker.reopens_in() == 2.0
    assert changes[-1].state is State.OPEN
    assert changes[-1].open_for == 2.0
    assert "3 consecutive failures" in changes[-1].reason


def test_a_success_resets_the_count() -> None:
    breaker, _, _ = make(failures=3)
    breaker.failure()
    breaker.failure()
    breaker.success()
    breaker.failure()
    breaker.failure()
    assert breaker.state is State.CLOSED


def test_exactly_one_probe_then_close_on_success() -> None:
    breaker, clock, changes = make(failures=1, open_for=2.0)
    breaker.failure()
    clock.advance(2.0)
    assert breaker.admit() is Admit.PROBE
    assert breaker.state is State.HALF_OPEN
    assert breaker.admit() is Admit.DENY  # only one probe at a time
    assert breaker.admit() is Admit.DENY
    breaker.success(probe=True)
    assert breaker.state is State.CLOSED
    assert breaker.admit() is Admit.ALLOW
    assert [c.state for c in changes] == [State.OPEN, State.HALF_OPEN, State.CLOSED]


def test_failed_probes_double_the_open_period_up_to_the_cap() -> None:
    breaker, clock, _ = make(failures=1, open_for=2.0, max_open_for=5.0)
    breaker.failure()
    periods = []
    for _ in range(4):
        clock.advance(breaker.reopens_in())
        assert breaker.admit() is Admit.PROBE
        breaker.failure(probe=True)
        periods.append(breaker.reopens_in())
    assert periods == [4.0, 5.0, 5.0, 5.0]
    clock.advance(5.0)
    assert breaker.admit() is Admit.PROBE
    breaker.success(probe=True)
    breaker.failure()  # after closing, the period starts from open_for again
    assert breaker.reopens_in() == 2.0


def test_a_released_probe_lets_the_next_request_probe() -> None:
    breaker, clock, _ = make(failures=1)
    breaker.failure()
    clock.advance(10)
    assert breaker.admit() is Admit.PROBE
    breaker.release(probe=True)  # cancelled, or the caller's fault: no verdict
    assert breaker.state is State.HALF_OPEN
    assert breaker.admit() is Admit.PROBE


def test_error_rate_over_the_window_with_a_minimum_volume() -> None:
    breaker, _, _ = make(failures=100, error_rate=0.5, min_requests=10, window=10.0)
    for i in range(9):
        (breaker.failure if i % 2 else breaker.success)()
    assert breaker.state is State.CLOSED  # 9 attempts: below the minimum volume
    breaker.failure()
    breaker.failure()
    assert breaker.state is State.OPEN  # 6 of 11 failed
    breaker2, clock2, _ = make(failures=100, error_rate=0.5, min_requests=4, window=10.0)
    breaker2.failure()
    breaker2.failure()
    clock2.advance(11)  # old failures leave the window
    breaker2.success()
    breaker2.success()
    breaker2.failure()
    assert breaker2.state is State.CLOSED  # 1 of 3 recent


def test_retry_after_and_quota_set_the_open_period() -> None:
    breaker, _, changes = make(open_for=2.0)
    breaker.failure(retry_after=7.0)
    assert breaker.state is State.OPEN
    assert breaker.reopens_in() == 7.0
    assert "provider asked to wait 7s" in changes[-1].reason
    quota, _, quota_changes = make(quota_open_for=600.0)
    quota.failure(quota=True)
    assert quota.reopens_in() == 600.0
    assert "quota" in quota_changes[-1].reason


def test_failures_of_attempts_admitted_before_opening_change_nothing() -> None:
    breaker, clock, changes = make(failures=1, open_for=2.0)
    breaker.failure()
    clock.advance(1.0)
    breaker.failure()  # a late report from an attempt that started before the opening
    assert breaker.reopens_in() == 1.0
    assert len(changes) == 1


def test_late_successes_do_not_reset_the_failure_count() -> None:
    """With long answers, requests started before an outage keep succeeding after it began;
    they must not keep the breaker from counting the new failures."""
    breaker, clock, _ = make(failures=3)
    started_before = clock.monotonic()
    clock.advance(1)
    breaker.failure()
    breaker.success(started=started_before)  # an old request finishing late
    breaker.failure()
    breaker.success(started=started_before)
    breaker.failure()
    assert breaker.state is State.OPEN
    fresh, clock2, _ = make(failures=3)
    fresh.failure()
    clock2.advance(1)
    fresh.success(started=clock2.monotonic())  # started after the failure: it counts
    fresh.failure()
    fresh.failure()
    assert fresh.state is State.CLOSED


def test_a_probe_closes_on_probation_and_reopens_if_its_answer_breaks() -> None:
    breaker, clock, changes = make(failures=1, open_for=2.0, max_open_for=10.0)
    breaker.failure()
    clock.advance(2.0)
    assert breaker.admit() is Admit.PROBE
    breaker.settle_probe()  # its first content arrived
    assert breaker.state is State.CLOSED
    assert breaker.admit() is Admit.ALLOW
    breaker.end_probation(False)  # ...and then its stream broke
    assert breaker.state is State.OPEN
    assert breaker.reopens_in() == 4.0  # a failed probe: twice as long
    assert "the probe's answer broke" in changes[-1].reason


def test_a_probe_whose_answer_completes_ends_probation() -> None:
    breaker, clock, _ = make(failures=1, open_for=2.0)
    breaker.failure()
    clock.advance(2.0)
    breaker.admit()
    breaker.settle_probe()
    breaker.end_probation(True)
    assert not breaker.on_probation
    breaker.failure()
    assert breaker.reopens_in() == 2.0  # back to the first open period


def test_a_retry_after_wait_holds_its_way_through() -> None:
    breaker, clock, _ = make(open_for=2.0)
    breaker.failure(retry_after=1.0)  # opens for 2 s (its own minimum)
    held = breaker.hold(limit=1)
    assert held is not None
    assert breaker.hold(limit=1) is None  # one waiter at most here
    clock.advance(1.0)
    assert breaker.admit() is Admit.DENY  # everyone else still skips it
    assert breaker.admit(held) is Admit.PROBE  # the request that waited goes through
    assert breaker.waiting == 0


def test_a_hold_does_not_outlast_a_longer_reopening() -> None:
    breaker, clock, _ = make(open_for=1.0)
    breaker.failure(retry_after=1.0)
    held = breaker.hold(limit=4)
    assert held is not None
    clock.advance(1.0)
    assert breaker.admit() is Admit.PROBE
    breaker.failure(probe=True, retry_after=30.0)  # reopened for 30 s meanwhile
    assert breaker.admit(held) is Admit.DENY


def test_rejected_credentials_open_for_long_and_stay_open_after_a_refused_probe() -> None:
    """A revoked key is not fixed by waiting: one refusal opens the breaker for the quota
    period, and a probe that meets the same refusal reopens it for as long again (not for
    the short, doubling period of an outage)."""
    breaker, clock, changes = make(open_for=2.0, max_open_for=10.0, quota_open_for=600.0)
    breaker.failure(credentials=True)
    assert breaker.state is State.OPEN
    assert breaker.reopens_in() == 600.0
    assert "rejected failsoft's credentials" in changes[-1].reason
    clock.advance(1.0)
    breaker.failure(credentials=True)  # in flight when it opened: no second opening
    assert len(changes) == 1 and breaker.reopens_in() == 599.0
    clock.advance(599.0)
    assert breaker.admit() is Admit.PROBE
    breaker.failure(probe=True, credentials=True)
    assert breaker.reopens_in() == 600.0
    assert "rejected failsoft's credentials" in changes[-1].reason


def test_rejected_credentials_lengthen_a_short_open_period() -> None:
    breaker, _, changes = make(failures=1, open_for=2.0, quota_open_for=600.0)
    breaker.failure()
    assert breaker.reopens_in() == 2.0
    breaker.failure(credentials=True)
    assert breaker.reopens_in() == 600.0
    assert "rejected failsoft's credentials" in changes[-1].reason


def test_the_open_period_ends_on_time_without_traffic() -> None:
    """The state people see must not say "open" after the open period: the breaker
    half-opens on its timer, not when the next request happens to ask."""
    breaker, clock, changes = make(failures=1, open_for=2.0)
    breaker.failure()
    clock.advance(1.9)
    assert breaker.state is State.OPEN
    clock.advance(0.1)
    assert breaker.state is State.HALF_OPEN
    assert [c.state for c in changes] == [State.OPEN, State.HALF_OPEN]
    assert breaker.admit() is Admit.PROBE  # the first request to come is the probe
    breaker.failure(probe=True)
    clock.advance(3.9)
    assert breaker.state is State.OPEN  # reopened for twice as long
    clock.advance(0.1)
    assert breaker.state is State.HALF_OPEN


def test_a_reopening_replaces_the_timer_and_closing_stops_it() -> None:
    breaker, clock, changes = make(open_for=2.0)
    breaker.failure(retry_after=1.0)
    breaker.failure(probe=False, quota=True)  # reopened for long meanwhile
    clock.advance(2.0)
    assert breaker.state is State.OPEN
    breaker.force(State.CLOSED)
    clock.advance(1000.0)
    assert breaker.state is State.CLOSED
    assert [c.state for c in changes] == [State.OPEN, State.OPEN, State.CLOSED]


def test_a_last_resort_is_let_through_beside_the_probe_and_its_success_closes() -> None:
    """Requests with no other target left are not refused behind the probe of a target
    that was merely quiet: they go through as trials, and the first to succeed closes it."""
    breaker, clock, changes = make(failures=2, open_for=2.0)
    breaker.failure()
    breaker.failure()
    clock.advance(2.0)
    assert breaker.admit() is Admit.PROBE
    assert breaker.admit() is Admit.DENY  # another target could take it
    assert breaker.probing
    started = clock.monotonic()
    assert breaker.admit(last_resort=True) is Admit.ALLOW
    assert breaker.admit(last_resort=True) is Admit.ALLOW
    clock.advance(0.5)
    breaker.success(started=started)
    assert breaker.state is State.CLOSED
    assert changes[-1].reason == "a trial succeeded"
    assert not breaker.probing  # (the probe still answers for itself when it ends)
    breaker.success(probe=True, started=started)
    assert breaker.state is State.CLOSED


def test_a_failed_trial_reopens_for_twice_as_long() -> None:
    breaker, clock, changes = make(failures=1, open_for=2.0)
    breaker.failure()
    clock.advance(2.0)
    assert breaker.admit() is Admit.PROBE
    started = clock.monotonic()
    assert breaker.admit(last_resort=True) is Admit.ALLOW
    breaker.failure(started=started - 3.0)  # from before it opened: old news
    assert breaker.state is State.HALF_OPEN
    breaker.failure(started=started)
    assert breaker.state is State.OPEN
    assert breaker.reopens_in() == 4.0
    assert changes[-1].reason == "a trial failed"
    breaker.failure(probe=True, started=started)  # the probe fails too: nothing more
    assert breaker.reopens_in() == 4.0
    assert not breaker.probing
    assert breaker.admit(last_resort=True) is Admit.DENY  # open, not half-open


def test_failures_count_in_a_row_in_the_order_attempts_began() -> None:
    """An attempt in flight between two failures breaks their row; a success breaks only
    the rows of attempts that began after it."""
    breaker, clock, _ = make(failures=3)
    times = []
    for _ in range(5):
        breaker.admit()
        times.append(clock.monotonic())
        clock.advance(0.01)
    breaker.failure(started=times[0])
    breaker.failure(started=times[2])  # times[1] is still in flight
    breaker.failure(started=times[3])
    assert breaker.state is State.CLOSED
    breaker.success(started=times[1])  # old news for times[2], times[3]: no row broken
    breaker.failure(started=times[4])  # times[2], times[3], times[4]: three in a row
    assert breaker.state is State.OPEN


def test_an_attempt_given_back_is_as_if_never_made() -> None:
    breaker, clock, _ = make(failures=2)
    breaker.admit()
    first = clock.monotonic()
    clock.advance(0.01)
    breaker.admit()
    cancelled = clock.monotonic()
    clock.advance(0.01)
    breaker.admit()
    breaker.release(False)  # given back before it began (at its cap)
    breaker.failure(started=first)
    breaker.release(False, cancelled)  # the caller left
    breaker.failure()
    assert breaker.state is State.OPEN


def test_no_more_trials_than_it_takes_to_open_a_closed_breaker() -> None:
    """A target still down (say, hanging) costs at most `failures` trials at once."""
    breaker, clock, _ = make(failures=2, open_for=2.0)
    breaker.failure(retry_after=1.0)
    clock.advance(2.0)
    assert breaker.admit() is Admit.PROBE
    started = clock.monotonic()
    assert breaker.admit(last_resort=True) is Admit.ALLOW
    assert breaker.admit(last_resort=True) is Admit.ALLOW
    assert breaker.admit(last_resort=True) is Admit.DENY
    breaker.release(False, started)  # a trial's caller left
    assert breaker.admit(last_resort=True) is Admit.ALLOW
    breaker.release(False)  # given back before it began
    assert breaker.admit(last_resort=True) is Admit.ALLOW


def test_new_settings_keep_the_state() -> None:
    """A config reload: an open breaker stays open for its current period; the new
    settings govern what comes next."""
    breaker, clock, _ = make(failures=1, open_for=30.0, max_open_for=60.0)
    breaker.failure()
    assert breaker.state is State.OPEN
    breaker.reconfigure(BreakerConfig(failures=3, open_for=1.0, max_open_for=5.0))
    assert breaker.state is State.OPEN and breaker.reopens_in() == 30.0
    clock.advance(30.0)
    assert breaker.admit() is Admit.PROBE
    breaker.success(probe=True)
    for _ in range(2):  # now it takes three failures in a row
        breaker.failure()
        assert breaker.state is State.CLOSED
    breaker.failure()
    assert breaker.state is State.OPEN and breaker.reopens_in() == 1.0
