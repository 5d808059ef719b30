"""The SQLite backend: persistence, sharing a file, and faults that only cost a miss."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from failsoft.cache.sqlite import TABLE, SQLiteCache
from failsoft.clock import FakeClock
from tests.cache.support import key_of, make_entry


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def cache(tmp_path: Path, clock: FakeClock) -> AsyncIterator[SQLiteCache]:
    backend = SQLiteCache(str(tmp_path / "cache.db"), clock=clock)
    await backend.open()
    yield backend
    await backend.close()


async def test_answers_survive_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    path = str(tmp_path / "sub" / "cache.db")
    first = SQLiteCache(path, clock=clock)
    await first.open()
    entry = make_entry(clock, "a")
    await first.put(entry)
    await first.close()
    second = SQLiteCache(path, clock=clock)
    await second.open()
    assert second.stats()["entries"] == 1
    assert second.stats()["bytes"] == len(entry.to_bytes())
    assert await second.get(entry.key) == entry
    await second.close()


async def test_wal_mode_and_indexes(cache: SQLiteCache) -> None:
    async with cache.db.execute("PRAGMA journal_mode") as cursor:
        assert await cursor.fetchone() == ("wal",)
    async with cache.db.execute(f"PRAGMA index_list({TABLE})") as cursor:
        names = {row[1] for row in await cursor.fetchall()}
    assert {f"{TABLE}_purge_at", f"{TABLE}_accessed_at"} <= names


async def test_two_processes_share_a_file(cache: SQLiteCache, clock: FakeClock) -> None:
    other = SQLiteCache(cache.path, clock=clock)
    await other.open()
    entry = make_entry(clock, "a")
    await cache.put(entry)
    assert await other.get(entry.key) == entry
    await other.delete(entry.key)
    assert await cache.get(entry.key) is None
    await other.close()


async def test_expired_rows_are_purged_on_the_periodic_recount(
    cache: SQLiteCache, clock: FakeClock
) -> None:
    await cache.put(make_entry(clock, "a", ttl=10))
    await cache.put(make_entry(clock, "b", ttl=100))
    clock.advance(61)  # past recount_every: the next put purges and re-counts
    await cache.put(make_entry(clock, "c"))
    async with cache.db.execute(f"SELECT key FROM {TABLE} ORDER BY key") as cursor:
        assert [row[0] for row in await cursor.fetchall()] == [key_of("b"), key_of("c")]
    assert cache.stats()["expired"] == 1
    assert cache.stats()["entries"] == 2


async def test_unreadable_rows_are_misses_and_dropped(
    cache: SQLiteCache, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    entry = make_entry(clock, "a")
    await cache.put(entry)
    await cache.db.execute(f"UPDATE {TABLE} SET blob = ?", (b"garbage",))
    with caplog.at_level(logging.WARNING, logger="failsoft.cache"):
        assert await cache.get(entry.key) is None
    assert "unreadable" in caplog.text
    assert cache.stats()["entries"] == 0
    assert cache.stats()["errors"] == 1


async def test_database_faults_cost_a_miss_not_a_request(
    cache: SQLiteCache, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    await cache.db.execute(f"DROP TABLE {TABLE}")
    with caplog.at_level(logging.WARNING, logger="failsoft.cache"):
        assert await cache.get(key_of("a")) is None
        await cache.put(make_entry(clock, "a"))
        await cache.delete(key_of("a"))
    assert cache.stats()["errors"] == 3
    assert cache.stats()["misses"] == 1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # rate-limited
    assert "no such table" in warnings[0].getMessage()
