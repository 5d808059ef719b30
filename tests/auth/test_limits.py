"""Per-key limits on a fake clock: the sliding minute, tokens charged after the answer,
slots held until released, what the refusal says, N workers' parts, bounded state."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from failsoft.auth.limits import MAX_LABELS, Limiter, RateLimited, Ticket, limited
from failsoft.auth.limits_http import duration, headers
from failsoft.auth.window import Window
from failsoft.clock import FakeClock
from failsoft.config.auth import KeyLimits


def admit(limiter: Limiter, name: str, limits: KeyLimits) -> Ticket:
    return asyncio.run(limiter.admit(name, limits))


def refused(limiter: Limiter, name: str, limits: KeyLimits) -> RateLimited:
    with pytest.raises(RateLimited) as caught:
        admit(limiter, name, limits)
    return caught.value


def test_limited_only_with_a_limit_this_module_enforces() -> None:
    assert not limited(KeyLimits())
    assert not limited(KeyLimits(budget=5.0))
    assert limited(KeyLimits(rpm=1))
    assert limited(KeyLimits(tpm=1))
    assert limited(KeyLimits(concurrency=1))


def test_rpm_is_a_sliding_minute() -> None:
    clock = FakeClock()
    limiter = Limiter(clock, share=1)
    rpm = KeyLimits(rpm=3)
    admit(limiter, "a", rpm)
    clock.advance(20)
    admit(limiter, "a", rpm)
    admit(limiter, "a", rpm)
    exc = refused(limiter, "a", rpm)
    assert exc.limit == "rpm"
    assert exc.standing.requests is not None
    assert exc.standing.requests[:2] == (3, 0)
    # The first request leaves the window 60 s after it came: 40 s from now.
    assert 39 <= exc.retry_after <= 40
    admit(limiter, "b", rpm)  # another key has its own minute
    clock.advance(exc.retry_after)
    admit(limiter, "a", rpm)
    refused(limiter, "a", rpm)
    clock.advance(60)
    for _ in range(3):
        admit(limiter, "a", rpm)


def test_a_refused_request_does_not_count() -> None:
    clock = FakeClock()
    limiter = Limiter(clock, share=1)
    rpm = KeyLimits(rpm=1)
    admit(limiter, "a", rpm)
    for _ in range(10):
        clock.advance(5)
        refused(limiter, "a", rpm)
    clock.advance(10)  # 60 s after the one admitted
    admit(limiter, "a", rpm)


def test_tpm_is_charged_after_the_answer_and_may_overshoot() -> None:
    clock = FakeClock()
    limiter = Limiter(clock, share=1)
    tpm = KeyLimits(tpm=100)
    first = admit(limiter, "a", tpm)
    second = admit(limiter, "a", tpm)  # nothing charged yet: both admitted
    first.done(30, 50)
    second.done(40, 60)  # 180 tokens: over, by the second answer
    second.done(1000, 1000)  # charged once
    exc = refused(limiter, "a", tpm)
    assert exc.limit == "tpm"
    assert exc.standing.tokens is not None
    assert exc.standing.tokens[:2] == (100, 0)
    clock.advance(30)
    limiter.charge("a", 10)  # the meter's entry point
    exc = refused(limiter, "a", tpm)
    assert 29 <= exc.retry_after <= 30  # the 180 leave; the 10 alone are under
    clock.advance(exc.retry_after)
    ticket = admit(limiter, "a", tpm)
    assert ticket.standing.tokens is not None
    assert ticket.standing.tokens[1] == 90


def test_concurrency_is_held_until_done_and_released_once() -> None:
    clock = FakeClock()
    limiter = Limiter(clock, share=1)
    two = KeyLimits(concurrency=2)
    a = admit(limiter, "a", two)
    b = admit(limiter, "a", two)
    exc = refused(limiter, "a", two)
    assert exc.limit == "concurrency"
    assert exc.retry_after >= 1
    a.done(None, None)
    a.done(None, None)  # a second finish gives nothing back twice
    c = admit(limiter, "a", two)
    refused(limiter, "a", two)
    b.done(None, None)
    c.done(None, None)
    admit(limiter, "a", two)
    admit(limiter, "a", two)


def test_each_of_n_workers_enforces_its_part_and_the_sum_stays_within() -> None:
    clock = FakeClock()
    workers = [Limiter(clock, share=2), Limiter(clock, share=2)]
    rpm = KeyLimits(rpm=5, concurrency=5)
    admitted = 0
    for i in range(20):  # requests spread over the workers, as the kernel would
        try:
            admit(workers[i % 2], "a", rpm).done(None, None)
            admitted += 1
        except RateLimited:
            pass
    assert admitted == 4  # 2 each: never above 5
    held = []
    for i in range(20):
        with contextlib.suppress(RateLimited):
            held.append(admit(workers[i % 2], "b", KeyLimits(concurrency=5)))
    assert len(held) == 4
    # A limit smaller than N still lets each worker admit one (documented overshoot).
    assert Limiter(clock, share=8).part(5) == 1


def test_workers_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAILSOFT_WORKERS", "4")
    assert Limiter(FakeClock()).part(100) == 25
    monkeypatch.setenv("FAILSOFT_WORKERS", "junk")
    assert Limiter(FakeClock()).part(100) == 100


def test_idle_keys_are_forgotten_but_not_while_in_flight() -> None:
    clock = FakeClock()
    limiter = Limiter(clock, share=1)
    limits = KeyLimits(rpm=10, concurrency=1)
    held = admit(limiter, "busy", limits)
    for i in range(50):
        admit(limiter, f"k{i}", KeyLimits(rpm=10)).done(None, None)
    assert len(limiter) == 51
    clock.advance(61)
    admit(limiter, "fresh", KeyLimits(rpm=10))
    assert len(limiter) == 2  # "busy" still holds its slot
    refused(limiter, "busy", limits)
    held.done(None, None)
    admit(limiter, "busy", limits)


def test_refusals_are_counted_by_key_name_with_bounded_labels() -> None:
    clock = FakeClock()
    limiter = Limiter(clock, share=1)
    one = KeyLimits(rpm=1)
    for i in range(MAX_LABELS + 5):
        admit(limiter, f"k{i}", one)
        refused(limiter, f"k{i}", one)
    assert limiter.refused[("k0", "rpm")] == 1
    assert limiter.refused[("other", "rpm")] == 5
    names = {labels["key"] for m in limiter.metrics() for labels in _labels(m)}
    assert len(names) == MAX_LABELS + 1


def _labels(metric: object) -> list[dict[str, str]]:
    return [s.labels for s in getattr(metric, "samples", [])]


def test_short_window_for_tests() -> None:
    clock = FakeClock()
    limiter = Limiter(clock, share=1, window=2.0)
    rpm = KeyLimits(rpm=1)
    admit(limiter, "a", rpm)
    exc = refused(limiter, "a", rpm)
    assert 0 < exc.retry_after <= 2.0
    clock.advance(2.0)
    admit(limiter, "a", rpm)


def test_window_counts_and_frees() -> None:
    w = Window()
    w.add(100, 2)
    w.add(130, 3)
    assert w.total == 5
    assert w.freed(5) == 160  # the first two leave at slot 160
    assert w.freed(2) == 190
    assert w.freed(6) == 130
    assert w.emptied() == 190
    w.advance(160)
    assert w.total == 3
    w.advance(1000)
    assert w.total == 0


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0204, "20ms"), (1, "1s"), (1.5, "1.5s"), (360, "6m0s"), (90.25, "1m30.25s")],
)
def test_openai_durations(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_headers_for_requests_and_tokens() -> None:
    clock = FakeClock(wall_start=1_800_000_000.0)
    limiter = Limiter(clock, share=1)
    ticket = admit(limiter, "a", KeyLimits(rpm=10, tpm=1000))
    out = dict(headers(ticket.standing))
    assert out[b"x-ratelimit-limit-requests"] == b"10"
    assert out[b"x-ratelimit-remaining-requests"] == b"9"
    assert out[b"x-ratelimit-reset-requests"] == b"1m0s"
    assert out[b"x-ratelimit-limit-tokens"] == b"1000"
    assert out[b"x-ratelimit-remaining-tokens"] == b"1000"
    assert out[b"x-ratelimit-reset-tokens"] == b"0ms"
    assert out[b"anthropic-ratelimit-requests-limit"] == b"10"
    assert out[b"anthropic-ratelimit-requests-reset"] == b"2027-01-15T08:01:00Z"
    assert headers(admit(limiter, "b", KeyLimits(concurrency=1)).standing) == []
