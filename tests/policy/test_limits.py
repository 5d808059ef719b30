"""Admission counters."""

from __future__ import annotations

from failsoft.config import Admission
from failsoft.policy.limits import MAX_IDLE, Limits
from failsoft.types import Target


def test_bounds() -> None:
    limits = Limits(Admission(max_in_flight=2, per_target=1))
    assert limits.enter()
    assert limits.enter()
    assert not limits.enter()
    limits.leave()
    assert limits.enter()
    t = Target("p", "m")
    assert limits.enter_target(t)
    assert not limits.enter_target(t)
    limits.leave_target(t)
    assert limits.target_in_flight(t) == 0
    assert limits.enter_target(t)


def test_a_place_taken_is_given_back_through_itself() -> None:
    limits = Limits(Admission(per_target=2))
    t = Target("p", "m")
    first, second = limits.take(t), limits.take(t)
    assert first is not None and second is first
    assert limits.take(t) is None  # at its cap
    assert limits.target_in_flight(t) == 2
    first.leave()
    assert limits.target_in_flight(t) == 1
    limits.leave_target(t)
    limits.leave_target(t)  # (never below zero)
    assert limits.target_in_flight(t) == 0


def test_idle_targets_are_forgotten_and_busy_ones_kept() -> None:
    limits = Limits(Admission(per_target=1))
    busy = Target("p", "busy")
    place = limits.take(busy)
    assert place is not None
    for i in range(MAX_IDLE + 10):  # callers naming ever new targets
        other = limits.take(Target("p", f"m{i}"))
        assert other is not None
        other.leave()
    assert len(limits._per_target) <= MAX_IDLE
    assert limits.target_in_flight(busy) == 1
    assert limits.take(busy) is None
    place.leave()
    assert limits.take(busy) is not None
