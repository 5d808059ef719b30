"""The Redis backend: shared by instances, expired by Redis, harmless when Redis is down."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from failsoft.cache.redis import RedisCache, redacted_url
from failsoft.clock import FakeClock
from tests.cache.support import DOWN_URL, REDIS_URL, key_of, make_entry, unique_prefix
from tests.fleet.support import until
from tests.services import require


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def cache(clock: FakeClock) -> AsyncIterator[RedisCache]:
    require("Redis", "127.0.0.1", 6379)
    backend = RedisCache(REDIS_URL, clock=clock, prefix=unique_prefix())
    await backend.open()
    yield backend
    await backend.clear()
    await backend.close()


async def test_two_instances_share_entries(cache: RedisCache, clock: FakeClock) -> None:
    other = RedisCache(REDIS_URL, clock=clock, prefix=cache.prefix)
    await other.open()
    entry = make_entry(clock, "a")
    await cache.put(entry)
    assert await other.get(entry.key) == entry
    await other.delete(entry.key)
    assert await cache.get(entry.key) is None
    await other.close()


async def test_redis_expires_entries_at_the_end_of_the_stale_window(
    cache: RedisCache, clock: FakeClock
) -> None:
    entry = make_entry(clock, "a", ttl=10, stale=20, age=4)
    await cache.put(entry)
    millis = await cache.client.pttl(cache.prefix + entry.key)
    assert 25_000 < millis <= 26_000  # what is left of ttl + stale_for, not all of it


async def test_keys_carry_the_prefix_and_clear_touches_only_it(
    cache: RedisCache, clock: FakeClock
) -> None:
    neighbour = RedisCache(REDIS_URL, clock=clock, prefix=unique_prefix() + "*[x]?")
    await neighbour.open()
    await cache.put(make_entry(clock, "a"))
    await neighbour.put(make_entry(clock, "a"))
    assert await cache.client.exists(cache.prefix + key_of("a")) == 1
    await neighbour.clear()
    assert await cache.get(key_of("a")) is not None
    assert await neighbour.get(key_of("a")) is None
    await neighbour.close()


async def test_foreign_values_under_the_prefix_are_misses_left_alone(
    cache: RedisCache, caplog: pytest.LogCaptureFixture
) -> None:
    name = cache.prefix + key_of("a")
    await cache.client.set(name, b"written by something else", px=60_000)
    with caplog.at_level(logging.WARNING, logger="failsoft.cache"):
        assert await cache.get(key_of("a")) is None
    assert "unreadable" in caplog.text
    assert await cache.client.exists(name) == 1
    assert cache.stats()["errors"] == 1


async def test_a_down_redis_is_a_miss_and_a_skipped_write(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    cache = RedisCache(DOWN_URL, clock=clock, retry_after=0.0)
    await cache.open()
    with caplog.at_level(logging.WARNING, logger="failsoft.cache"):
        assert await cache.get(key_of("a")) is None
        await cache.put(make_entry(clock, "a"))
        await cache.delete(key_of("a"))
        assert await cache.get(key_of("a")) is None
    stats = cache.stats()
    assert (stats["errors"], stats["misses"], stats["puts"]) == (4, 2, 0)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # one line per 30 s, not one per request
    assert "127.0.0.1:1" in warnings[0]
    clock.advance(31)
    with caplog.at_level(logging.WARNING, logger="failsoft.cache"):
        await cache.get(key_of("a"))
    assert "(3 more since the last warning)" in caplog.records[-1].getMessage()
    await cache.close()


async def test_after_a_fault_redis_is_left_alone_for_a_while(clock: FakeClock) -> None:
    cache = RedisCache(DOWN_URL, clock=clock, retry_after=5.0)
    await cache.open()
    assert await cache.get(key_of("a")) is None
    await cache.put(make_entry(clock, "a"))
    assert await cache.get(key_of("a")) is None
    assert cache.stats()["errors"] == 1  # the later calls did not even try
    clock.advance(5)
    # The rest is over: a PING in the background asks, the request does not.
    assert await cache.get(key_of("a")) is None
    await until(lambda: cache.stats()["errors"] == 2)
    assert await cache.get(key_of("a")) is None  # resting again
    assert cache.stats()["errors"] == 2
    await cache.close()


def test_descriptions_never_show_credentials() -> None:
    cache = RedisCache("redis://user:s3cret@127.0.0.1:6380/2?password=s3cret", prefix="p:")
    description = cache.describe()
    assert "s3cret" not in repr(description)
    assert description["url"] == "redis://127.0.0.1:6380/2"
    assert redacted_url("rediss://:pw@[::1]:6379/0") == "rediss://[::1]:6379/0"
    assert redacted_url("unix://:pw@/run/redis.sock?db=1") == "unix:///run/redis.sock"


async def test_a_frozen_redis_is_a_quick_miss_then_left_alone(clock: FakeClock) -> None:
    from failsoft.cache.base import open_cache
    from tests.fleet.support import private_redis

    with private_redis() as server:
        cache = open_cache(server.url, clock=clock, timeout=0.05)
        assert isinstance(cache, RedisCache) and cache.timeout == 0.05
        await cache.open()
        await cache.put(make_entry(clock, "a"))
        assert await cache.get(key_of("a")) is not None
        server.freeze()
        try:
            assert await cache.get(key_of("a")) is None  # a miss after the timeout
            assert await cache.get(key_of("a")) is None  # and this one did not even try
            assert cache.stats()["errors"] == 1
        finally:
            server.thaw()
        clock.advance(5)
        assert await cache.get(key_of("a")) is None  # the background PING finds it back...
        await until(lambda: not cache._resting())
        assert await cache.get(key_of("a")) is not None  # ...and the entry is still there
        await cache.close()
