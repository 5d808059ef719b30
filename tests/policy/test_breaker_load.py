"""Breakers under concurrent traffic, on the fake clock: attempts begin at random times,
take random times, and report how they ended in the order they end, as the router's do.

The properties:

* **No trip below the error rate.** With the window holding a steady share p of failures
  (at volume: `window` seconds of traffic), and then failures i.i.d. at rate
  p ≤ error_rate / 2 with 50-200 requests a second and answers of 0.05 s up to 2 s (so
  at least `min_requests` attempts are in flight on average), failures quick or as slow
  as answers: the breaker stays closed.
* **A trip within the configured count at 100 % failure.** A healthy target starts
  failing every attempt that begins after some moment (attempts already in flight still
  answer, as in an overload): the breaker opens before anything else once the first
  `failures` attempts that began after that moment have ended; with failures that come
  back at once, exactly at the `failures`-th.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from failsoft.clock import FakeClock
from failsoft.config import BreakerConfig
from failsoft.policy.breaker import Admit, Breaker, BreakerChange, State
from failsoft.types import Target

T = Target("p", "m")
CONFIG = BreakerConfig()  # the defaults: 5 in a row, or 50 % of >= 20 attempts in 10 s


@dataclass(frozen=True, slots=True)
class Try:
    start: float
    took: float
    ok: bool


@dataclass(slots=True)
class Run:
    opened_at: float | None = None
    ended_failures: int = 0
    """Failures reported when it opened (or in all)."""


def make() -> tuple[Breaker, FakeClock, list[BreakerChange]]:
    clock = FakeClock(start=0.0)
    changes: list[BreakerChange] = []
    return Breaker(T, CONFIG, clock, changes.append), clock, changes


def fill_window(breaker: Breaker, clock: FakeClock, share: float, count: int) -> None:
    """`window` seconds of `count` attempts, `share` of them failed, evenly spread: the
    breaker has seen volume. They all began before the latest success, so they form no
    row of failures (and the running share stays near `share`)."""
    before = clock.monotonic()
    clock.advance(0.001)
    breaker.success(started=clock.monotonic())
    for i in range(count):
        clock.advance(CONFIG.window / count)
        failed = int((i + 1) * share) > int(i * share)
        (breaker.failure if failed else breaker.success)(started=before)
    assert breaker.state is State.CLOSED


def play(breaker: Breaker, clock: FakeClock, tries: list[Try]) -> Run:
    """Let each try through at its start if the breaker admits it; report its end when
    it ends. Stops when the breaker opens."""
    base = clock.monotonic()
    events = [(base + t.start, 0, i) for i, t in enumerate(tries)]
    heapq.heapify(events)
    run = Run()
    while events:
        at, kind, i = heapq.heappop(events)
        clock.advance(max(0.0, at - clock.monotonic()))
        attempt = tries[i]
        if kind == 0:
            if breaker.admit() is not Admit.DENY:
                heapq.heappush(events, (at + attempt.took, 1, i))
            continue
        if attempt.ok:
            breaker.success(started=base + attempt.start)
        else:
            run.ended_failures += 1
            breaker.failure(started=base + attempt.start)
        if breaker.state is State.OPEN:
            run.opened_at = clock.monotonic() - base
            break
    return run


def arrivals(rng: random.Random, rate: float, seconds: float) -> list[float]:
    """Open-loop arrivals at `rate` a second (exponential gaps)."""
    times, now = [], rng.expovariate(rate)
    while now < seconds:
        times.append(now)
        now += rng.expovariate(rate)
    return times


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    share=st.floats(0.0, CONFIG.error_rate / 2),
    rate=st.floats(50.0, 200.0),
    slowest=st.floats(0.4, 2.0),
    quick_failures=st.booleans(),
)
def test_no_trip_while_failures_are_well_below_the_error_rate(
    seed: int, share: float, rate: float, slowest: float, quick_failures: bool
) -> None:
    rng = random.Random(seed)
    breaker, clock, changes = make()
    fill_window(breaker, clock, share, int(rate * CONFIG.window))
    tries = []
    for start in arrivals(rng, rate, 20.0):
        ok = rng.random() >= share
        took = rng.uniform(0.0, 0.005) if quick_failures and not ok else rng.uniform(0.05, slowest)
        tries.append(Try(start, took, ok))
    run = play(breaker, clock, tries)
    assert run.opened_at is None, changes[-1].reason
    assert not changes


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    rate=st.floats(20.0, 200.0),
    slowest=st.floats(0.05, 2.0),
    quick_failures=st.booleans(),
    warm=st.booleans(),
)
def test_a_trip_within_the_configured_count_when_everything_fails(
    seed: int, rate: float, slowest: float, quick_failures: bool, warm: bool
) -> None:
    rng = random.Random(seed)
    breaker, clock, changes = make()
    if warm:
        fill_window(breaker, clock, 0.0, int(rate * CONFIG.window))
    outage = 5.0
    tries = []
    for start in arrivals(rng, rate, 15.0):
        ok = start < outage  # those in flight when it began still answer
        took = 0.0 if quick_failures and not ok else rng.uniform(0.01, slowest)
        tries.append(Try(start, took, ok))
    run = play(breaker, clock, tries)
    first = [t for t in tries if t.start >= outage][: CONFIG.failures]
    assert len(first) == CONFIG.failures
    assert run.opened_at is not None
    assert outage <= run.opened_at <= max(t.start + t.took for t in first) + 1e-9
    assert changes[0].reason.endswith("consecutive failures")  # (more, if some came early)
    if quick_failures:
        assert run.ended_failures == CONFIG.failures


def test_random_errors_among_slow_answers_do_not_add_up() -> None:
    """The soak that opened a healthy target's breaker: 100 req/s, 200-ms answers (20 in
    flight), 5 % of attempts refused at once. Counted in the order attempts ended, with a
    success that began before the latest failure not resetting the count, 5 failures
    'in a row' came within seconds; here ten minutes pass without one."""
    rng = random.Random(12)
    breaker, clock, changes = make()
    tries = []
    for start in arrivals(rng, 100.0, 600.0):
        ok = rng.random() >= 0.05
        tries.append(Try(start, 0.2 if ok else 0.001, ok))
    run = play(breaker, clock, tries)
    assert run.opened_at is None, changes[-1].reason
    assert run.ended_failures > 2500


def test_an_outage_among_slow_answers_trips_at_once() -> None:
    """The case the old rule was made for: 50 req/s with 1-s answers, then every new
    attempt fails at once while the answers of the previous second keep arriving between
    the failures. Counted in the order attempts ended with any success resetting the
    count, the breaker would open only after those (~50 attempts); here after 5."""
    rng = random.Random(3)
    breaker, clock, changes = make()
    tries = [
        Try(start, 1.0 if start < 10.0 else 0.0, start < 10.0)
        for start in arrivals(rng, 50.0, 20.0)
    ]
    run = play(breaker, clock, tries)
    assert run.opened_at is not None and 10.0 <= run.opened_at < 10.5
    assert run.ended_failures == 5
    assert changes[0].reason == "5 consecutive failures"


def test_a_target_that_often_fails_needs_a_longer_row_at_volume() -> None:
    """At a 5 % failure share, 5 in a row is a chance event every few hours at 100 req/s;
    7 is one in a billion attempts."""
    breaker, clock, _ = make()
    fill_window(breaker, clock, 0.05, 1000)
    for _ in range(6):
        breaker.failure()
    assert breaker.state is State.CLOSED
    breaker.failure()
    assert breaker.state is State.OPEN
