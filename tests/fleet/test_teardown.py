"""A session that ends leaves no socket behind: the claims and releases still running on its
client end with it, instead of calling on the client once the link has closed it (which
quietly opens a new connection in a pool nothing closes again: the socket a later test's
garbage collector met as an unclosed uvloop transport)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from failsoft.clock import SYSTEM_CLOCK
from failsoft.events import EventHub
from failsoft.fleet import Fleet
from failsoft.fleet.link import RedisLink
from failsoft.policy.breaker import State
from failsoft.router.state import RouterState
from tests.fleet.support import private_redis, unique_prefix, until
from tests.fleet.test_shared import PRIMARY, config


class Gate:
    """Holds every PTTL a link's clients send until opened (the moment a probe claim, lost
    to another process, asks how long the winner's claim lasts)."""

    def __init__(self, link: RedisLink, monkeypatch: pytest.MonkeyPatch) -> None:
        self.open = asyncio.Event()
        self.waiting = 0
        self.over = 0
        """Held calls that returned, failed or were cancelled."""
        make = link.client

        def client() -> aioredis.Redis:
            made = make()
            monkeypatch.setattr(made, "pttl", self._held(made.pttl))
            return made

        monkeypatch.setattr(link, "client", client)

    def _held(self, call: Callable[[str], Any]) -> Callable[[str], Any]:
        async def held(name: str) -> Any:
            self.waiting += 1
            try:
                await self.open.wait()
                return await call(name)
            finally:
                self.over += 1

        return held


async def connections(admin: aioredis.Redis) -> int:
    return len(await admin.client_list())


async def test_a_claim_running_when_the_session_ends_leaves_no_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with private_redis() as redis:
        prefix = unique_prefix()
        cfg = config(redis.url, prefix)
        state = RouterState(cfg, SYSTEM_CLOCK, EventHub(), random.Random(1))
        fleet = Fleet(cfg, state, SYSTEM_CLOCK, random.Random(2))
        gate = Gate(fleet.link, monkeypatch)
        admin = aioredis.Redis.from_url(redis.url)
        try:
            fleet.start()
            await until(lambda: fleet.link.up)
            # Another process holds the fleet's probe claim: this one's claim is lost and
            # asks Redis how long it lasts, on the session's client, held at the gate.
            await admin.set(prefix + "probe:" + PRIMARY.label, "elsewhere", px=60_000)
            state.breakers[PRIMARY].force(State.OPEN, 0.05)
            await until(lambda: gate.waiting == 1)
            # The session ends (Redis is killed) and the link closes its client; Redis is
            # back and the fleet has rejoined on a new client before the claim goes on.
            redis.kill()
            await until(lambda: not fleet.link.up)
            redis.start()
            await until(lambda: fleet.link.up)
            gate.open.set()
            await until(lambda: gate.over == 1)
            await fleet.close()
            # Only the admin connection is left once the fleet is closed.
            deadline = time.monotonic() + 5
            while (left := await connections(admin)) > 1 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert left == 1
        finally:
            await fleet.close()
            state.breakers.close()
            await admin.aclose()
