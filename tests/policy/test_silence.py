"""Recognising a silent target from the requests waiting on it, on a fake clock."""

from __future__ import annotations

from failsoft.clock import FakeClock
from failsoft.config import Silence
from failsoft.policy.silence import SilenceWatch
from failsoft.types import Target

T = Target("p", "m")


def warm(watch: SilenceWatch, clock: FakeClock, seconds: float = 0.01) -> None:
    for i in range(10):
        watch.answered(T, i, seconds, clock.monotonic())


def test_several_requests_past_the_threshold_make_a_target_silent() -> None:
    clock = FakeClock()
    watch = SilenceWatch(Silence(), clock)
    warm(watch, clock)
    assert watch.threshold(T, 15.0) == 1.0  # 4 × 10 ms is below the floor
    raced: list[int] = []
    clock.advance(2.0)
    # Each request is counted as waiting once it has waited the threshold (its timer).
    for i in range(2):
        assert watch.late(T, f"r{i}", lambda i=i: raced.append(i)) is False
        assert watch.check(T, 15.0) == 0  # not enough of them yet
    assert watch.late(T, "r2", lambda: raced.append(2)) is False
    assert watch.check(T, 15.0) == 3
    assert sorted(raced) == [0, 1, 2]
    assert watch.flagged(T)
    # A request that reaches the threshold after the declaration is raced at once, not
    # counted towards another one (which would leave the last stragglers waiting).
    assert watch.late(T, "r3", lambda: raced.append(3)) is True
    assert watch.check(T, 15.0) == 0
    watch.answered(T, "later", 0.01, clock.monotonic())  # it answers again
    assert not watch.flagged(T)


def test_a_recent_answer_means_not_silent() -> None:
    clock = FakeClock()
    watch = SilenceWatch(Silence(), clock)
    warm(watch, clock)
    clock.advance(5.0)
    for i in range(5):
        watch.late(T, i, lambda: None)
    watch.answered(T, "other", 0.9, clock.monotonic())  # slow, but it does answer
    clock.advance(0.5)
    assert watch.check(T, 15.0) == 0


def test_requests_that_got_their_answer_are_not_counted() -> None:
    clock = FakeClock()
    watch = SilenceWatch(Silence(), clock)
    warm(watch, clock)
    clock.advance(5.0)
    for i in range(3):
        watch.late(T, i, lambda: None)
    watch.gone(T, 0)  # this one ended (its race was won elsewhere)
    assert watch.check(T, 15.0) == 0


def test_the_threshold_follows_the_usual_time_to_headers() -> None:
    clock = FakeClock()
    watch = SilenceWatch(Silence(), clock)
    assert watch.threshold(T, 15.0) == 3.0  # cold
    warm(watch, clock, 0.8)
    assert watch.threshold(T, 15.0) == 3.2
    assert watch.threshold(T, 2.0) == 2.0  # never beyond first_byte
