"""The connection to Redis: made and remade in the background, never waited for.

`run(session)` connects, hands the client to `session` (which runs until a Redis call
fails or times out), then waits a jittered, growing delay (full jitter, from 0.1 s up to
`retry_max`) and connects again, for as long as the process lives. Losing Redis is logged
once, finding it again once more; `up` and `why` say where things stand for `/readyz` and
`/metrics`. Every call the session makes is bounded by `timeout` (socket timeouts, and
`bounded` around each await, since a frozen server may accept a connection and say
nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from failsoft.cache.redis import redacted_url
from failsoft.clock import Clock
from failsoft.config import StateConfig

log = logging.getLogger("failsoft.fleet")

FAULTS = (RedisError, OSError, TimeoutError)
_FIRST_DELAY = 0.1
T = TypeVar("T")


def one_line(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError) and not str(exc):
        return f"no answer within {timeout:g}s"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class RedisLink:
    def __init__(self, config: StateConfig, clock: Clock, rng: random.Random) -> None:
        assert config.url is not None
        self.url = config.url
        self.where = redacted_url(config.url)
        """The URL without credentials: the only form that is ever logged or shown."""
        self.timeout = config.timeout
        self.retry_max = config.retry_max
        self.clock = clock
        self.rng = rng
        self.up = False
        self.why = "not connected yet"
        self.faults = 0
        self._lost = False
        """Lost after having been up (so the next connection is a rejoin)."""
        self._clients: list[aioredis.Redis] = []

    def client(self) -> aioredis.Redis:
        """A new client (the session closes it by returning); connects on first use."""
        client = aioredis.Redis.from_url(
            self.url,
            socket_connect_timeout=self.timeout,
            socket_timeout=self.timeout,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )
        self._clients.append(client)
        return client

    async def bounded(self, call: Awaitable[T]) -> T:
        """`call`, or TimeoutError soon after `timeout` seconds. The client's own socket
        timeouts (`timeout`) normally end it first; this is the safety net. Cutting a call
        short is safe at any point, connecting included: redis-py closes a connection whose
        connect or handshake is cancelled (and uvloop a transport cancelled mid-connect).
        What must not happen is a call on a client after `run` has closed it: its pool would
        open a new connection that nothing closes (`Fleet` ends its calls with the session)."""
        return await asyncio.wait_for(call, self.timeout * 2 + 0.05)

    async def run(
        self,
        session: Callable[[], Awaitable[None]],
        lost: Callable[[], None],
    ) -> None:
        """Keep a session going until cancelled; `lost` is called when one ends in a fault."""
        tries = 0
        while True:
            try:
                await session()
            except FAULTS as exc:
                self._down(one_line(exc, self.timeout))
                lost()
            finally:
                await self._close_clients()
            tries = 0 if self.up else tries + 1
            self.up = False
            delay = self.rng.uniform(0, min(self.retry_max, _FIRST_DELAY * 2 ** min(tries, 16)))
            await asyncio.sleep(delay)

    def joined(self) -> None:
        """The session is connected and subscribed."""
        self.up = True
        self.why = ""
        if self._lost:
            log.warning("shared state: Redis at %s answers again; rejoined the fleet", self.where)
        else:
            log.info("shared state: breakers and budgets shared through Redis at %s", self.where)
        self._lost = False

    def _down(self, why: str) -> None:
        self.faults += 1
        self.why = why
        if self.up or not self._lost:
            log.warning(
                "shared state: Redis at %s is away (%s); deciding alone until it returns",
                self.where,
                why,
            )
        self._lost = True

    async def _close_clients(self) -> None:
        clients, self._clients = self._clients, []
        for client in clients:
            with contextlib.suppress(*FAULTS):
                await asyncio.wait_for(client.aclose(), self.timeout)

    def describe(self) -> dict[str, Any]:
        return {"url": self.where, "up": self.up, "why": self.why}
