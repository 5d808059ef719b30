"""Recognising a silent target from the requests waiting on it, on a fake clock."""

from __future__ import annotations

from failsoft.clock import FakeClock
from failsoft.config import Silence
from failsoft.policy.silence import SilenceWatch
from failsoft.types import Target

T = Target("p", "m")


def warm(watch: SilenceWatch, seconds: float = 0.01) -> None:
    for i in range(10):
        watch.answered(T, i, seconds)


def test_several_requests_past_the_threshold_make_a_target_silent() -> None:
    clock = FakeClock()
    watch = SilenceWatch(Silence(), clock)
    warm(watch)
    assert watch.threshold(T, 15.0) == 1.0  # 4 × 10 ms is below the floor
    raced: list[int] = []
    clock.advance(2.0)
    for i in range(3):
        watch.waiting(T, f"r{i}", lambda i=i: raced.append(i))
        clock.advance(0.1)
    assert watch.check(T, 15.0) == 0  # nobody has waited a second yet
    clock.advance(0.8)
    assert watch.check(T, 15.0) == 0  # two have, the third not yet
    clock.advance(0.2)
    assert watch.check(T, 15.0) == 3
    assert sorted(raced) == [0, 1, 2]
    assert watch.flagged(T)
    watch.answered(T, "later", 0.01)  # it answers again
    assert not watch.flagged(T)


def test_a_recent_answer_means_not_silent() -> None:
    clock = FakeClock()
    watch = SilenceWatch(Silence(), clock)
    warm(watch)
    for i in range(5):
        watch.waiting(T, i, lambda: None)
    clock.advance(0.9)
    watch.answered(T, "other", 0.9)  # slow, but it does answer
    clock.advance(0.5)
    assert watch.check(T, 15.0) == 0


def test_one_slow_request_alone_is_not_silence() -> None:
    clock = FakeClock()
    watch = SilenceWatch(Silence(), clock)
    warm(watch)
    watch.waiting(T, "only", lambda: None)
    clock.advance(10.0)
    assert watch.check(T, 15.0) == 0


def test_the_threshold_follows_the_usual_time_to_headers() -> None:
    watch = SilenceWatch(Silence(), FakeClock())
    assert watch.threshold(T, 15.0) == 3.0  # cold
    warm(watch, 0.8)
    assert watch.threshold(T, 15.0) == 3.2
    assert watch.threshold(T, 2.0) == 2.0  # never beyond first_byte
