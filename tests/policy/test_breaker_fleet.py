"""What other processes of a fleet report, on a fake clock: their failures join the row in
the order attempts began, their opens and closes are followed, and the probe can be held
back for the fleet (failsoft.fleet does the sharing; see docs/fleet.md)."""

from __future__ import annotations

from failsoft.policy.breaker import Admit, State
from tests.policy.test_breaker import make


def test_failures_elsewhere_join_the_row_in_start_order() -> None:
    breaker, clock, changes = make(failures=4)
    first = clock.monotonic()
    breaker.admit()
    clock.advance(0.01)
    breaker.seen_elsewhere([clock.monotonic()], 0, 0.0)  # began after ours
    breaker.failure(started=first)  # ours: a row of 2
    clock.advance(0.01)
    breaker.seen_elsewhere([clock.monotonic() - 0.001, clock.monotonic()], 0, 0.0)
    assert breaker.state is State.OPEN
    assert "4 consecutive failures (counting other gateways')" in changes[-1].reason


def test_an_attempt_of_ours_in_flight_breaks_the_row() -> None:
    breaker, clock, _ = make(failures=3)
    clock.advance(0.01)
    breaker.admit()  # in flight, no answer yet
    clock.advance(0.01)
    breaker.seen_elsewhere([clock.monotonic() - 0.015, clock.monotonic()], 0, 0.0)
    breaker.seen_elsewhere([clock.monotonic()], 0, 0.0)
    assert breaker.state is State.CLOSED  # 1 before ours, 2 after: no row of 3


def test_a_success_elsewhere_ends_the_row_before_it() -> None:
    breaker, clock, _ = make(failures=3)
    breaker.failure()
    breaker.failure()
    clock.advance(0.01)
    breaker.seen_elsewhere([], 1, clock.monotonic())
    breaker.failure()
    assert breaker.state is State.CLOSED


def test_opened_elsewhere_for_what_is_left_and_with_its_period() -> None:
    breaker, clock, changes = make(open_for=2.0, max_open_for=10.0)
    assert breaker.opened_elsewhere(1.5, 4.0, "opened by another gateway: probe failed")
    assert breaker.state is State.OPEN and breaker.reopens_in() == 1.5
    assert not breaker.opened_elsewhere(1.0, 4.0, "shorter")  # open for longer already
    clock.advance(1.5)
    breaker.admit()  # half-open: the probe
    breaker.failure(probe=True)
    assert breaker.reopens_in() == 8.0  # the fleet's period, doubled
    assert changes[-1].reason == "probe failed"


def test_closed_elsewhere() -> None:
    breaker, _, changes = make()
    assert not breaker.closed_elsewhere("closed by another gateway: probe succeeded")
    breaker.force(State.OPEN, 5)
    assert breaker.closed_elsewhere("closed by another gateway: probe succeeded")
    assert breaker.state is State.CLOSED and breaker.admit() is Admit.ALLOW
    assert changes[-1].reason == "closed by another gateway: probe succeeded"


def test_a_deferred_probe_waits_for_the_fleet() -> None:
    breaker, clock, _ = make(open_for=1.0, failures=2)
    breaker.force(State.OPEN, 1.0)
    clock.advance(1.0)
    assert breaker.state is State.HALF_OPEN
    breaker.defer_probe()
    assert breaker.deferred and breaker.probing
    assert breaker.admit() is Admit.DENY
    assert breaker.admit(last_resort=True) is Admit.ALLOW  # a trial, as beside a probe
    breaker.allow_probe()
    assert breaker.admit() is Admit.PROBE
    breaker.force(State.OPEN, 1.0)
    assert not breaker.deferred  # any change of state ends it


def test_never_opened_elsewhere_for_longer_than_here() -> None:
    breaker, _, _ = make(quota_open_for=600.0)
    breaker.opened_elsewhere(1e9, 1e9, "opened by another gateway: ?")
    assert breaker.reopens_in() == 600.0


def test_changes_followed_from_the_fleet_are_marked_so_only_their_maker_announces_them() -> None:
    breaker, _, changes = make(failures=1)
    assert breaker.opened_elsewhere(2.0, 2.0, "opened by another gateway")
    assert breaker.closed_elsewhere("closed by another gateway")
    assert [c.followed for c in changes] == [True, True]
    breaker.failure()  # this process's own verdict
    assert changes[-1].state is State.OPEN and not changes[-1].followed
