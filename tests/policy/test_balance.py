"""Target ordering: ordered, weighted, least latency; and the hedge delay."""

from __future__ import annotations

import random
from collections import Counter

from failsoft.config import Hedge
from failsoft.policy.balance import order
from failsoft.policy.hedge import hedge_delay
from failsoft.policy.latency import LatencyStats
from failsoft.types import Target

A, B, C = Target("p", "a"), Target("p", "b"), Target("p", "c")


def test_ordered_keeps_the_config_order() -> None:
    assert order("ordered", (A, B, C), (), random.Random(1), LatencyStats()) == [A, B, C]


def test_weighted_draws_the_first_by_weight() -> None:
    rng = random.Random(1)
    firsts = Counter(
        order("weighted", (A, B), (3.0, 1.0), rng, LatencyStats())[0] for _ in range(4000)
    )
    assert 0.7 < firsts[A] / 4000 < 0.8
    plan = order("weighted", (A, B, C), (0.001, 0.001, 1000.0), rng, LatencyStats())
    assert plan == [C, A, B]


def test_least_latency_prefers_the_faster_of_two_and_tries_the_unknown() -> None:
    stats = LatencyStats()
    for _ in range(5):
        stats.observe(A, 2.0)
        stats.observe(B, 0.1)
    rng = random.Random(3)
    plans = [order("least_latency", (A, B), (), rng, stats) for _ in range(50)]
    assert all(p == [B, A] for p in plans)
    # C has never been tried: it counts as fast, so it gets its chance.
    firsts = Counter(order("least_latency", (A, B, C), (), rng, stats)[0] for _ in range(300))
    assert firsts[C] > 0
    assert firsts[A] < firsts[B]


def test_hedge_delay() -> None:
    stats = LatencyStats()
    assert hedge_delay(Hedge(), A, stats) is None
    assert hedge_delay(Hedge(enabled=True, delay=1.5), A, stats) == 1.5
    p95 = Hedge(enabled=True, delay="p95", min_delay=0.25)
    assert hedge_delay(p95, A, stats) == 1.0  # cold: four times the floor
    for i in range(100):
        stats.observe(A, i / 100)
    assert hedge_delay(p95, A, stats) == 0.95
