"""Admission counters."""

from __future__ import annotations

from failsoft.config import Admission
from failsoft.policy.limits import Limits
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
