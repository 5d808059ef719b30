"""The overall deadline on a fake clock: no sleeping."""

from __future__ import annotations

from failsoft.clock import FakeClock
from failsoft.policy.deadline import Deadline


def test_cap_and_expiry() -> None:
    clock = FakeClock()
    deadline = Deadline(clock, 10.0)
    assert deadline.cap(3.0) == (3.0, False)
    clock.advance(8.0)
    assert deadline.remaining() == 2.0
    assert deadline.cap(3.0) == (2.0, True)
    assert not deadline.expired
    clock.advance(2.5)
    assert deadline.expired
    assert deadline.remaining() == 0.0
    assert deadline.cap(3.0) == (0.0, True)
