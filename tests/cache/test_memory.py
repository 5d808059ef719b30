"""The memory backend's own promises: LRU order, the byte budget, expiry without scans."""

from __future__ import annotations

from failsoft.cache.entry import Entry
from failsoft.cache.memory import ENTRY_OVERHEAD, MemoryCache, entry_size
from failsoft.clock import FakeClock


def entry(
    clock: FakeClock, name: str, size: int = 1000, ttl: float = 60.0, stale: float = 0.0
) -> Entry:
    return Entry(
        key=name,
        body=b"x" * size,
        dialect="openai",
        model="gpt-4o",
        provider="openai",
        created_at=clock.wall(),
        ttl=ttl,
        stale_for=stale,
    )


def budget_for(clock: FakeClock, count: int) -> int:
    return count * entry_size(entry(clock, "a"))


def test_entry_size_counts_body_and_overhead() -> None:
    one = entry(FakeClock(), "a", size=1000)
    assert 1000 + ENTRY_OVERHEAD < entry_size(one) < 1000 + ENTRY_OVERHEAD + 64


async def test_gets_refresh_recency() -> None:
    clock = FakeClock()
    cache = MemoryCache(clock=clock)
    for name in "abc":
        await cache.put(entry(clock, name))
    assert await cache.get("a") is not None
    assert cache.keys() == ["b", "c", "a"]
    await cache.put(entry(clock, "b"))  # a put makes the key the most recent too
    assert cache.keys() == ["c", "a", "b"]


async def test_least_recently_used_go_first_when_over_budget() -> None:
    clock = FakeClock()
    cache = MemoryCache(max_bytes=budget_for(clock, 3), clock=clock)
    for name in "abc":
        await cache.put(entry(clock, name))
    await cache.get("a")
    await cache.put(entry(clock, "d"))
    assert cache.keys() == ["c", "a", "d"]
    await cache.put(entry(clock, "e", size=2000))  # needs two slots freed
    assert cache.keys() == ["d", "e"]
    stats = cache.stats()
    assert stats["evictions"] == 3
    assert stats["entries"] == 2
    assert stats["bytes"] == sum(
        entry_size(entry(clock, k, s)) for k, s in (("d", 1000), ("e", 2000))
    )
    assert stats["bytes"] <= stats["max_bytes"]


async def test_an_entry_bigger_than_the_budget_is_not_stored() -> None:
    clock = FakeClock()
    cache = MemoryCache(max_bytes=budget_for(clock, 2), clock=clock)
    await cache.put(entry(clock, "a"))
    await cache.put(entry(clock, "b"))
    await cache.put(entry(clock, "a", size=5000))
    assert cache.keys() == ["b"]  # the old "a" went with the refused one; "b" was not evicted
    assert cache.stats()["rejected"] == 1
    assert cache.stats()["evictions"] == 0


async def test_expired_entries_are_dropped_on_get() -> None:
    clock = FakeClock()
    cache = MemoryCache(clock=clock)
    await cache.put(entry(clock, "a", ttl=10, stale=5))
    clock.advance(12)
    assert await cache.get("a") is not None  # stale but usable
    clock.advance(3)
    assert await cache.get("a") is None
    assert cache.stats()["entries"] == 0
    assert cache.stats()["expired"] == 1


async def test_put_sweeps_expired_entries_whatever_their_recency() -> None:
    clock = FakeClock()
    cache = MemoryCache(clock=clock)
    await cache.put(entry(clock, "long", ttl=1000))
    await cache.put(entry(clock, "short", ttl=5))
    await cache.put(entry(clock, "medium", ttl=50))
    clock.advance(10)
    await cache.put(entry(clock, "new"))
    assert cache.keys() == ["long", "medium", "new"]
    clock.advance(45)
    await cache.put(entry(clock, "newer"))
    assert cache.keys() == ["long", "new", "newer"]
    assert cache.stats()["expired"] == 2


async def test_overwrites_keep_the_expiry_heap_bounded() -> None:
    clock = FakeClock()
    cache = MemoryCache(clock=clock)
    for _ in range(5000):
        await cache.put(entry(clock, "same"))
    assert len(cache._expiry) <= 2 * 1 + 1024 + 1
    assert cache.stats()["entries"] == 1
    assert cache.stats()["bytes"] == entry_size(entry(clock, "same"))


async def test_replacing_an_entry_an_expired_heap_row_does_not_drop_it() -> None:
    clock = FakeClock()
    cache = MemoryCache(clock=clock)
    await cache.put(entry(clock, "a", ttl=5))
    await cache.put(entry(clock, "a", ttl=100))  # the ttl=5 heap row is left behind
    clock.advance(10)
    await cache.put(entry(clock, "b"))
    assert await cache.get("a") is not None
    assert cache.stats()["expired"] == 0


async def test_close_and_clear_free_everything() -> None:
    clock = FakeClock()
    cache = MemoryCache(clock=clock)
    await cache.put(entry(clock, "a"))
    await cache.clear()
    assert cache.stats()["bytes"] == 0
    await cache.put(entry(clock, "a"))
    await cache.close()
    assert cache.keys() == []
