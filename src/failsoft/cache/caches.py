"""The cache backends a config needs, opened once and shared by the models that use them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from failsoft.clock import Clock
from failsoft.config import Config
from failsoft.config.cache import CacheConfig

log = logging.getLogger("failsoft.cache")


def _identity(cache: CacheConfig) -> tuple[str, str | None, int]:
    return (cache.backend, cache.url, cache.max_bytes)


class CacheSet:
    def __init__(self, config: Config, clock: Clock) -> None:
        self.clock = clock
        self._wanted = _wanted(config)
        self._open: dict[tuple[str, str | None, int], Any] = {}
        self._started = False

    def __bool__(self) -> bool:
        return bool(self._wanted)

    async def start(self) -> None:
        self._started = True
        await self._open_all(self._wanted)

    async def _open_all(self, wanted: dict[tuple[str, str | None, int], CacheConfig]) -> None:
        from failsoft.cache.base import open_cache

        for identity, cache in wanted.items():
            target = cache.url if cache.backend != "memory" and cache.url else cache.backend
            backend = open_cache(
                target, max_bytes=cache.max_bytes, clock=self.clock, timeout=cache.timeout
            )
            await backend.open()
            self._open[identity] = backend
            log.info("answer cache: %s", backend.describe())

    async def reconfigure(self, config: Config) -> None:
        """Open the backends a reloaded config adds (before any request can ask for one).
        Backends it no longer names stay open until shutdown: a request that began on the
        old config may still be writing to one, and what they hold is kept if a later
        reload names them again."""
        wanted = _wanted(config)
        if self._started:
            await self._open_all({k: v for k, v in wanted.items() if k not in self._open})
        self._wanted = {**self._wanted, **wanted}

    async def close(self) -> None:
        for backend in self._open.values():
            await backend.close()
        self._open.clear()

    def get(self, cache: CacheConfig) -> Any:
        return self._open.get(_identity(cache))

    def all(self) -> list[Any]:
        return list(self._open.values())


def _wanted(config: Config) -> dict[tuple[str, str | None, int], CacheConfig]:
    wanted: dict[tuple[str, str | None, int], CacheConfig] = {}
    for plan in config.models.values():
        if plan.policies.cache.enabled:
            wanted.setdefault(_identity(plan.policies.cache), plan.policies.cache)
    top = config.policies.cache
    if top.enabled:
        wanted.setdefault(_identity(top), top)
    return wanted


def cache_metrics(layer_counts: dict[str, int], caches: CacheSet) -> Iterator[Metric]:
    """Cache metrics for `/metrics`: how requests were served, and what each backend holds."""
    served = CounterMetricFamily(
        "failsoft_cache_requests",
        "Requests to cached models by how they were served (hit, semantic_hit, miss, stale, "
        "semantic_stale, bypass) and ladder rungs taken (lighter, static).",
        labels=["result"],
    )
    for result in (
        "hit",
        "semantic_hit",
        "miss",
        "stale",
        "semantic_stale",
        "bypass",
        "lighter",
        "static",
    ):
        served.add_metric([result], layer_counts.get(result, 0))
    yield served
    entries = GaugeMetricFamily("failsoft_cache_entries", "Stored answers.", labels=["backend"])
    size = GaugeMetricFamily("failsoft_cache_bytes", "Bytes of stored answers.", labels=["backend"])
    for backend in caches.all():
        name = str(backend.describe().get("backend", "?"))
        stats = backend.stats()
        if "entries" in stats:
            entries.add_metric([name], stats["entries"])
        if "bytes" in stats:
            size.add_metric([name], stats["bytes"])
    yield entries
    yield size
