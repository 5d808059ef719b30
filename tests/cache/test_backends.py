"""Every backend stores, expires, replaces and refuses answers the same way."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from failsoft.cache import Cache, open_cache
from failsoft.cache.memory import MemoryCache
from failsoft.cache.redis import DEFAULT_PREFIX, RedisCache
from failsoft.cache.sqlite import SQLiteCache
from failsoft.clock import FakeClock
from tests.cache.support import REDIS_URL, key_of, make_entry, unique_prefix
from tests.services import require

BUDGET = 4200
"""Three 1000-byte answers fit (memory ≈ 1340 bytes each, SQLite blobs ≈ 1200), four do not."""


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def opened(kind: str, clock: FakeClock, tmp_path: Path, max_bytes: int) -> Cache:
    if kind == "memory":
        cache = open_cache("memory", max_bytes=max_bytes, clock=clock)
    elif kind == "sqlite":
        cache = open_cache(f"sqlite:///{tmp_path}/cache.db", max_bytes=max_bytes, clock=clock)
    else:
        require("Redis", "127.0.0.1", 6379)
        cache = open_cache(REDIS_URL, max_bytes=max_bytes, clock=clock, prefix=unique_prefix())
    await cache.open()
    return cache


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def cache(
    request: pytest.FixtureRequest, clock: FakeClock, tmp_path: Path
) -> AsyncIterator[Cache]:
    backend = await opened(request.param, clock, tmp_path, 16_384)
    yield backend
    await backend.clear()
    await backend.close()


@pytest.fixture(params=["memory", "sqlite"])
async def budgeted(
    request: pytest.FixtureRequest, clock: FakeClock, tmp_path: Path
) -> AsyncIterator[Cache]:
    backend = await opened(request.param, clock, tmp_path, BUDGET)
    yield backend
    await backend.close()


async def test_round_trip_and_counters(cache: Cache, clock: FakeClock) -> None:
    entry = make_entry(clock, "a")
    assert await cache.get(entry.key) is None
    await cache.put(entry)
    assert await cache.get(entry.key) == entry
    stats = cache.stats()
    assert (stats["hits"], stats["misses"], stats["puts"]) == (1, 1, 1)


async def test_stale_entries_are_returned_until_their_window_ends(
    cache: Cache, clock: FakeClock
) -> None:
    entry = make_entry(clock, "a", ttl=10, stale=20)
    await cache.put(entry)
    clock.advance(15)
    found = await cache.get(entry.key)
    assert found is not None
    assert not found.fresh(clock.wall())
    assert found.usable_stale(clock.wall())
    clock.advance(15)
    assert await cache.get(entry.key) is None


async def test_put_replaces(cache: Cache, clock: FakeClock) -> None:
    await cache.put(make_entry(clock, "a", size=10))
    newer = make_entry(clock, "a", size=20)
    await cache.put(newer)
    assert await cache.get(newer.key) == newer


async def test_delete_and_clear(cache: Cache, clock: FakeClock) -> None:
    for name in "abc":
        await cache.put(make_entry(clock, name))
    await cache.delete(key_of("a"))
    await cache.delete(key_of("nothing"))
    assert await cache.get(key_of("a")) is None
    assert await cache.get(key_of("b")) is not None
    await cache.clear()
    assert await cache.get(key_of("b")) is None
    assert await cache.get(key_of("c")) is None


async def test_entries_dead_on_arrival_are_not_stored(cache: Cache, clock: FakeClock) -> None:
    await cache.put(make_entry(clock, "a", ttl=10, stale=5, age=15))
    assert await cache.get(key_of("a")) is None
    assert cache.stats()["rejected"] == 1


async def test_an_entry_bigger_than_the_budget_is_refused(cache: Cache, clock: FakeClock) -> None:
    await cache.put(make_entry(clock, "a", size=100))
    await cache.put(make_entry(clock, "a", size=20_000))
    assert await cache.get(key_of("a")) is None  # and the older answer is gone with it
    assert cache.stats()["rejected"] == 1


async def test_open_and_close_are_idempotent(cache: Cache, clock: FakeClock) -> None:
    await cache.open()
    await cache.put(make_entry(clock, "a"))
    assert await cache.get(key_of("a")) is not None
    description = cache.describe()
    assert description["backend"] in ("memory", "sqlite", "redis")
    await cache.close()
    await cache.close()
    await cache.open()  # the fixture's clear needs it open again


async def test_least_recently_used_go_first(budgeted: Cache, clock: FakeClock) -> None:
    for name in "abc":
        await budgeted.put(make_entry(clock, name))
        clock.advance(2)  # SQLite refreshes access times at most once a second
    assert await budgeted.get(key_of("a")) is not None
    clock.advance(2)
    await budgeted.put(make_entry(clock, "d"))
    present = [n for n in "abcd" if await budgeted.get(key_of(n)) is not None]
    assert present == ["a", "c", "d"]
    stats = budgeted.stats()
    assert stats["evictions"] == 1
    assert stats["entries"] == 3
    assert stats["bytes"] <= BUDGET


def test_open_cache_understands_urls(tmp_path: Path) -> None:
    memory = open_cache("memory://", max_bytes=123)
    assert isinstance(memory, MemoryCache)
    assert memory.describe() == {"backend": "memory", "max_bytes": 123}
    absolute = open_cache(f"sqlite:///{tmp_path}/c.db")
    assert isinstance(absolute, SQLiteCache)
    assert absolute.path == f"{tmp_path}/c.db"
    relative = open_cache("sqlite:///state/c.db")
    assert isinstance(relative, SQLiteCache)
    assert relative.path == "state/c.db"
    redis = open_cache("redis://127.0.0.1:6379/3")
    assert isinstance(redis, RedisCache)
    assert redis.prefix == DEFAULT_PREFIX
    assert open_cache("rediss://h/0", prefix="p:").describe()["prefix"] == "p:"


@pytest.mark.parametrize("bad", ["sqlite", "redis", "postgres://x", "", "Memory"])
def test_open_cache_refuses_what_it_cannot_open(bad: str) -> None:
    with pytest.raises(ValueError, match="cache"):
        open_cache(bad)


async def test_misuse_before_open_raises(tmp_path: Path) -> None:
    for cache in (SQLiteCache(str(tmp_path / "c.db")), RedisCache(REDIS_URL)):
        with pytest.raises(RuntimeError, match="not open"):
            await cache.get(key_of("a"))
