"""The cache backends a config needs, opened once and shared by the models that use them."""

from __future__ import annotations

import logging
from typing import Any

from failsoft.clock import Clock
from failsoft.config import Config
from failsoft.config.cache import CacheConfig

log = logging.getLogger("failsoft.cache")


def _identity(cache: CacheConfig) -> tuple[str, str | None, int]:
    return (cache.backend, cache.url, cache.max_bytes)


class CacheSet:
    def __init__(self, config: Config, clock: Clock) -> None:
        self.clock = clock
        self._wanted: dict[tuple[str, str | None, int], CacheConfig] = {}
        for plan in (*config.models.values(),):
            if plan.policies.cache.enabled:
                self._wanted.setdefault(_identity(plan.policies.cache), plan.policies.cache)
        top = config.policies.cache
        if top.enabled:
            self._wanted.setdefault(_identity(top), top)
        self._open: dict[tuple[str, str | None, int], Any] = {}

    def __bool__(self) -> bool:
        return bool(self._wanted)

    async def start(self) -> None:
        from failsoft.cache.base import open_cache

        for identity, cache in self._wanted.items():
            target = cache.url if cache.backend != "memory" and cache.url else cache.backend
            backend = open_cache(target, max_bytes=cache.max_bytes, clock=self.clock)
            await backend.open()
            self._open[identity] = backend
            log.info("answer cache: %s", backend.describe())

    async def close(self) -> None:
        for backend in self._open.values():
            await backend.close()
        self._open.clear()

    def get(self, cache: CacheConfig) -> Any:
        return self._open.get(_identity(cache))

    def all(self) -> list[Any]:
        return list(self._open.values())
