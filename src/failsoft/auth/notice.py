"""Key changes announced through Redis (`state.url`): one message on `<state.prefix>keys`
whenever a key is created, rotated or revoked; every process that hears it checks the store
at once instead of at its next poll.

The message carries nothing (no name, no id, no digest): it only says "look". Losing Redis
loses nothing either: the poll (`auth.refresh`) still finds every change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable

import redis.asyncio as aioredis

from failsoft.clock import Clock
from failsoft.config import StateConfig
from failsoft.fleet.link import FAULTS, RedisLink

log = logging.getLogger("failsoft.auth")

CHANNEL = "keys"


def channel(config: StateConfig) -> str:
    return config.prefix + CHANNEL


class KeyNotice:
    def __init__(
        self, config: StateConfig, clock: Clock, rng: random.Random, heard: Callable[[], None]
    ) -> None:
        self.link = RedisLink(config, clock, rng)
        self.channel = channel(config)
        self.heard = heard
        self._client: aioredis.Redis | None = None
        self._runner: asyncio.Task[None] | None = None
        self._sends: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        if self._runner is None:
            self._runner = asyncio.create_task(self.link.run(self._session, self._lost))

    async def close(self) -> None:
        tasks = [*self._sends, *([self._runner] if self._runner else [])]
        self._runner = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, *FAULTS):
                await task

    def announce(self) -> None:
        """Tell the other processes (in the background; nothing waits for Redis)."""
        client = self._client
        if client is None:
            return
        task = asyncio.create_task(self._send(client))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    async def _send(self, client: aioredis.Redis) -> None:
        with contextlib.suppress(*FAULTS):
            await self.link.bounded(client.publish(self.channel, b"changed"))

    async def _session(self) -> None:
        link = self.link
        client = link.client()
        await link.bounded(client.ping())
        pubsub = client.pubsub()
        try:
            await link.bounded(pubsub.subscribe(self.channel))
            self._client = client
            link.up = True
            self.heard()  # changes made while this process was not listening
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None and message.get("type") == "message":
                    self.heard()
                elif message is None:
                    await link.bounded(client.ping())  # a frozen Redis shows here
        finally:
            self._client = None
            with contextlib.suppress(*FAULTS):
                await asyncio.wait_for(pubsub.aclose(), link.timeout)

    def _lost(self) -> None:
        self._client = None


async def announce(config: StateConfig) -> bool:
    """One announcement from outside a gateway (`failsoft keys`); False if Redis did not
    take it (the gateways' poll finds the change anyway)."""
    client = aioredis.Redis.from_url(
        config.url or "",
        socket_connect_timeout=config.timeout,
        socket_timeout=config.timeout,
    )
    try:
        await asyncio.wait_for(client.publish(channel(config), b"changed"), config.timeout * 2)
        return True
    except FAULTS:
        return False
    finally:
        with contextlib.suppress(*FAULTS):
            await client.aclose()
