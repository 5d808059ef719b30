"""Two processes' router states sharing Redis: failures counted together, breakers opened
and closed together, one half-open probe, one retry budget."""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Callable

import pytest

from failsoft.clock import SYSTEM_CLOCK
from failsoft.config import Config, parse_config
from failsoft.events import BreakerChanged, EventHub
from failsoft.fleet import Fleet
from failsoft.policy.breaker import Admit, State
from failsoft.policy.classify import Verdict
from failsoft.router.state import RouterState
from failsoft.types import Target
from tests.fleet.support import SHARED_REDIS, private_redis, unique_prefix, until
from tests.services import require

PRIMARY = Target("p", "a")


def config(url: str, prefix: str, extra: str = "") -> Config:
    return parse_config(
        "providers: {p: {dialect: openai, base_url: 'http://127.0.0.1:1'}}\n"
        "models: {m: [p/a, p/b]}\n"
        "breaker: {failures: 4, open_for: 0.3, max_open_for: 1}\n"
        "retry: {budget: {ratio: 0.1, min_per_second: 1, window: 10}}\n"
        f"state: {{url: '{url}', prefix: '{prefix}', publish_every: 0.02, timeout: 0.2, "
        f"retry_max: 0.2, heartbeat: 0.2}}\n{extra}"
    )


Pair = Callable[..., tuple[RouterState, Fleet]]


@pytest.fixture
async def members() -> AsyncIterator[Callable[[Config], tuple[RouterState, Fleet]]]:
    started: list[Fleet] = []

    def make(cfg: Config) -> tuple[RouterState, Fleet]:
        state = RouterState(cfg, SYSTEM_CLOCK, EventHub(), random.Random(1))
        fleet = Fleet(cfg, state, SYSTEM_CLOCK, random.Random(2))
        fleet.start()
        started.append(fleet)
        return state, fleet

    yield make
    for fleet in started:
        await fleet.close()
    for fleet in started:
        for state in [fleet.state]:
            state.breakers.close()


def fail(state: RouterState, target: Target = PRIMARY) -> None:
    admit = state.admit(target)
    assert admit is not Admit.DENY
    started = SYSTEM_CLOCK.monotonic()
    state.failed(target, admit is Admit.PROBE, Verdict.FAILOVER, None, 0.01, started)


def succeed(state: RouterState, target: Target = PRIMARY) -> None:
    admit = state.admit(target)
    started = SYSTEM_CLOCK.monotonic()
    state.succeeded(target, admit is Admit.PROBE, None, started)


async def joined(*fleets: Fleet) -> None:
    await until(lambda: all(f.link.up for f in fleets))


async def test_failures_anywhere_count_toward_every_row(members: Pair) -> None:
    require("Redis", "127.0.0.1", 6379)
    cfg = config(SHARED_REDIS, unique_prefix())
    (one, a), (two, b) = members(cfg), members(cfg)
    await joined(a, b)
    fail(one)
    fail(one)
    await until(lambda: b.counts["received"] >= 1)
    fail(two)  # the third in a row for both of them
    await until(lambda: a.counts["received"] >= 1)
    assert one.breakers[PRIMARY].state is State.CLOSED
    fail(one)  # the fourth: opens here, and there within a batch
    assert one.breakers[PRIMARY].state is State.OPEN
    await until(lambda: two.breakers[PRIMARY].state is State.OPEN)
    assert "gateway" in two.opened_because[PRIMARY]


async def test_a_change_followed_from_the_fleet_is_marked_followed(members: Pair) -> None:
    """So that only the process that made it sends the breaker webhook."""
    require("Redis", "127.0.0.1", 6379)
    cfg = config(SHARED_REDIS, unique_prefix())
    (one, a), (two, b) = members(cfg), members(cfg)
    await joined(a, b)
    heard: dict[str, list[BreakerChanged]] = {"one": [], "two": []}
    one.hub.subscribe(BreakerChanged, heard["one"].append)
    two.hub.subscribe(BreakerChanged, heard["two"].append)
    one.breakers[PRIMARY].force(State.OPEN, 5)
    await until(lambda: two.breakers[PRIMARY].state is State.OPEN)
    one.breakers[PRIMARY].force(State.CLOSED)
    await until(lambda: two.breakers[PRIMARY].state is State.CLOSED)
    assert [(e.state, e.followed) for e in heard["one"]] == [("open", False), ("closed", False)]
    assert [(e.state, e.followed) for e in heard["two"]] == [("open", True), ("closed", True)]


async def test_a_success_elsewhere_breaks_the_row(members: Pair) -> None:
    require("Redis", "127.0.0.1", 6379)
    cfg = config(SHARED_REDIS, unique_prefix())
    (one, a), (two, b) = members(cfg), members(cfg)
    await joined(a, b)
    for _ in range(3):
        fail(one)
    succeed(two)
    await until(lambda: a.counts["received"] >= 1)
    fail(one)
    assert one.breakers[PRIMARY].state is State.CLOSED


async def test_one_probe_for_the_fleet_and_its_verdict_for_all(members: Pair) -> None:
    require("Redis", "127.0.0.1", 6379)
    cfg = config(SHARED_REDIS, unique_prefix())
    (one, a), (two, b) = members(cfg), members(cfg)
    await joined(a, b)
    one.breakers[PRIMARY].force(State.OPEN, 0.2)
    await until(lambda: two.breakers[PRIMARY].state is State.OPEN)
    # Both half-open when the period ends; one of them won the claim.
    await until(
        lambda: a.claims["won"] + b.claims["won"] == 1 and a.claims["lost"] + b.claims["lost"] == 1
    )
    winner, loser = (one, two) if a.claims["won"] else (two, one)
    assert loser.admit(PRIMARY) is Admit.DENY
    assert not loser.available(PRIMARY)
    assert winner.admit(PRIMARY) is Admit.PROBE
    winner.succeeded(PRIMARY, True, None, SYSTEM_CLOCK.monotonic())
    await until(lambda: loser.breakers[PRIMARY].state is State.CLOSED)
    assert loser.admit(PRIMARY) is Admit.ALLOW


async def test_a_failed_probe_reopens_everyone_for_longer(members: Pair) -> None:
    require("Redis", "127.0.0.1", 6379)
    cfg = config(SHARED_REDIS, unique_prefix())
    (one, a), (two, b) = members(cfg), members(cfg)
    await joined(a, b)
    one.breakers[PRIMARY].force(State.OPEN, 0.2)
    await until(
        lambda: a.claims["won"] + b.claims["won"] == 1 and a.claims["lost"] + b.claims["lost"] == 1
    )
    winner, loser = (one, two) if a.claims["won"] else (two, one)
    fail(winner)  # the probe
    assert winner.breakers[PRIMARY].state is State.OPEN
    await until(lambda: loser.breakers[PRIMARY].state is State.OPEN)
    assert loser.breakers[PRIMARY].reopens_in() > 0.4  # the doubled period (0.6 s)


async def test_the_retry_budget_is_the_fleets(members: Pair) -> None:
    require("Redis", "127.0.0.1", 6379)
    cfg = config(SHARED_REDIS, unique_prefix())
    (one, a), (two, b) = members(cfg), members(cfg)
    await joined(a, b)
    spent = 0
    while one.budget(PRIMARY).try_spend():
        spent += 1
    assert spent == 10  # min_per_second × window
    await until(lambda: b.counts["received"] >= 1)
    assert not two.budget(PRIMARY).try_spend()


async def test_a_process_that_joins_late_honours_open_breakers(members: Pair) -> None:
    require("Redis", "127.0.0.1", 6379)
    cfg = config(SHARED_REDIS, unique_prefix())
    one, a = members(cfg)
    await joined(a)
    one.breakers[PRIMARY].force(State.OPEN, 5)
    await until(lambda: a.counts["sent"] >= 1)
    two, b = members(cfg)
    await joined(b)
    assert two.breakers[PRIMARY].state is State.OPEN
    assert 4 < two.breakers[PRIMARY].reopens_in() <= 5


async def test_redis_away_means_local_behaviour_logged_once_then_rejoined(
    members: Pair, caplog: pytest.LogCaptureFixture
) -> None:
    with private_redis() as redis, caplog.at_level(logging.INFO, logger="failsoft.fleet"):
        cfg = config(redis.url, unique_prefix())
        (one, a), (_, b) = members(cfg), members(cfg)
        await joined(a, b)
        assert a.check().ok
        redis.kill()
        await until(lambda: not a.link.up and not b.link.up)
        check = a.check()
        assert not check.ok and not check.required and "deciding alone" in check.detail
        # Alone, a breaker half-opens to a local probe (no claim to wait for).
        one.breakers[PRIMARY].force(State.OPEN, 0.05)
        await until(lambda: one.breakers[PRIMARY].state is State.HALF_OPEN)
        assert one.admit(PRIMARY) is Admit.PROBE
        await until(lambda: a.link.faults >= 2)  # it keeps trying, quietly
        redis.start()
        await joined(a, b)
    lost = [r for r in caplog.records if "is away" in r.getMessage() and r.name == "failsoft.fleet"]
    back = [r for r in caplog.records if "answers again" in r.getMessage()]
    assert len(lost) == 2 and len(back) == 2  # once each per process
    assert all(redis.url.split("@")[-1].split("/")[2] in r.getMessage() for r in lost)


async def test_a_frozen_redis_is_noticed_and_costs_nothing_else(members: Pair) -> None:
    with private_redis() as redis:
        cfg = config(redis.url, unique_prefix())
        one, a = members(cfg)
        await joined(a)
        redis.freeze()
        fail(one)  # recorded, never waited on
        await until(lambda: not a.link.up)
        redis.thaw()
        await joined(a)


def test_metrics_never_show_the_password() -> None:
    cfg = config("redis://app:s3cret@127.0.0.1:1/0", unique_prefix())
    state = RouterState(cfg, SYSTEM_CLOCK, EventHub())
    fleet = Fleet(cfg, state, SYSTEM_CLOCK)
    text = repr([m.samples for m in fleet.metrics()]) + repr(fleet.check())
    assert "s3cret" not in text and fleet.link.where == "redis://127.0.0.1:1/0"
