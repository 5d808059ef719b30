"""The ledger: spend counted in memory, written in batches, read back by every process; a
store that is away loses nothing; budgets' periods follow the UTC calendar."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from failsoft.clock import FakeClock
from failsoft.config import Config, parse_config
from failsoft.store import Store, open_store
from failsoft.usage.ledger import Ledger, until_reset
from failsoft.usage.meter import Usage
from tests.services import POSTGRES_URL, require

CONFIG = """
providers: {openai: {dialect: openai, base_url: "http://127.0.0.1:9/v1"}}
models: {gpt: [openai/gpt-4o]}
auth: {keys: [{name: team, key: "%s"}]}
pricing: {openai/gpt-4o: {input: 2, output: 10}, free: {input: 0, output: 0}}
""" % ("k" * 40)

NOON = datetime(2026, 12, 5, 12, 0, tzinfo=UTC).timestamp()


def config() -> Config:
    return parse_config(CONFIG)


def usage(n_in: int = 1_000_000, n_out: int = 0, estimated: bool = False) -> Usage:
    return Usage("openai", "gpt-4o", n_in, n_out, 0, estimated)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "postgres":
        require("PostgreSQL", "127.0.0.1", 5432)
        url = POSTGRES_URL
    else:
        url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/state.db"
    backend = open_store(url)
    await backend.open()
    yield backend
    await backend.close()


def key() -> str:
    return "team-" + uuid.uuid4().hex[:8]  # PostgreSQL is shared: rows of this test only


async def test_spend_is_written_and_seen_by_another_process(store: Store) -> None:
    clock = FakeClock(wall_start=NOON)
    one, two = Ledger(config(), store, clock), Ledger(config(), store, clock)
    k = key()
    one.charge(k, [usage(1_000_000, 100_000)])
    assert one.spent(k, "day") == pytest.approx(2 + 1)  # unwritten, known at once here
    assert two.spent(k, "day") == 0
    await one.flush()
    await two.flush()
    assert two.spent(k, "day") == pytest.approx(3)
    assert one.spent(k, "day") == pytest.approx(3)  # not counted twice
    two.charge(k, [usage(500_000, estimated=True)])
    await two.flush()
    await one.flush()
    assert one.spent(k, "month") == pytest.approx(4)
    (row,) = await store.usage("2026-12-01", "2026-12-31", k)
    assert (row.requests, row.input, row.output, row.estimated) == (2, 1_500_000, 100_000, 500_000)
    assert row.cost == pytest.approx(4)
    assert row.day == "2026-12-05"


async def test_periods_follow_the_utc_calendar(store: Store) -> None:
    clock = FakeClock(wall_start=NOON)
    ledger = Ledger(config(), store, clock)
    k = key()
    ledger.charge(k, [usage()])
    await ledger.flush()
    clock.advance(86_400)  # the next day
    await ledger.flush()
    assert ledger.spent(k, "day") == 0
    assert ledger.spent(k, "month") == pytest.approx(2)
    assert until_reset(NOON, "day") == 12 * 3600
    assert until_reset(NOON, "month") == (26 * 24 + 12) * 3600


async def test_sqlite_keeps_spend_across_restarts(tmp_path: Path) -> None:
    clock = FakeClock(wall_start=NOON)
    url = f"sqlite:///{tmp_path}/state.db"
    first = open_store(url)
    await first.open()
    ledger = Ledger(config(), first, clock)
    ledger.charge("team", [usage()])
    await ledger.close()  # writes what it counted
    await first.close()
    again = open_store(url)
    await again.open()
    try:
        restarted = Ledger(config(), again, clock)
        await restarted.flush()
        assert restarted.spent("team", "day") == pytest.approx(2)
    finally:
        await again.close()


class Away:
    """A store that is down."""

    async def add_usage(self, rows: Any) -> None:
        raise ConnectionError("down")

    async def usage(self, *args: Any) -> Any:
        raise ConnectionError("down")

    async def spend(self, *args: Any) -> Any:
        raise ConnectionError("down")


async def test_a_store_that_is_away_loses_nothing() -> None:
    clock = FakeClock(wall_start=NOON)
    ledger = Ledger(config(), Away(), clock)
    ledger.charge("team", [usage()])
    await ledger.flush()
    await ledger.flush()
    assert ledger.spent("team", "day") == pytest.approx(2)
    memory = open_store("memory://")
    ledger._store = memory  # it came back
    await ledger.flush()
    (row,) = await memory.usage("2026-12-05", "2026-12-05")
    assert row.requests == 1 and row.cost == pytest.approx(2)
    assert ledger.spent("team", "day") == pytest.approx(2)


async def test_an_unpriced_model_costs_nothing_and_the_report_says_so() -> None:
    clock = FakeClock(wall_start=NOON)
    store = open_store("memory://")
    ledger = Ledger(config(), store, clock)
    ledger.charge("team", [Usage("openai", "no-such-model-zz", 10, 10)])
    await ledger.flush()
    (row,) = await ledger.report("2026-12-01", "2026-12-31", None)
    assert row.cost == 0
    assert ledger.book.known("openai", "no-such-model-zz")
    assert not ledger.book.priced("openai", "no-such-model-zz")
