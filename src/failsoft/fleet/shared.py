"""One fleet of gateway processes, one view of every target: `Fleet` shares breakers,
failure counts, half-open probes and retry budgets through Redis (docs/fleet.md).

Nothing here is awaited by a request. The request path records what it saw in a batch
(`Witness`: an append, no I/O) and decides on its own breakers as always; a background
session publishes the batch every `publish_every` seconds on one pub/sub channel, merges
what the other processes publish (`merge.py`), and claims the fleet's one half-open probe
(`SET NX PX`). When Redis is away, or frozen, each process simply decides alone, as it
would without a `state` section, until the session is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import uuid
from collections.abc import Coroutine, Iterator
from typing import Any

import orjson
import redis.asyncio as aioredis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from failsoft.clock import Clock
from failsoft.config import Config
from failsoft.fleet.batch import Batch, Closed, Heard, Opened, decode
from failsoft.fleet.link import FAULTS, RedisLink
from failsoft.fleet.merge import merge
from failsoft.policy.breaker import BreakerChange, State
from failsoft.readiness import Check
from failsoft.router.state import RouterState
from failsoft.types import Target

log = logging.getLogger("failsoft.fleet")

_CLAIM_HOLD = 0.5
"""Seconds the fleet's probe claim outlives the probe's verdict, so that a process whose
open period ends a moment later does not probe again before it hears the verdict."""


class Fleet:
    def __init__(
        self, config: Config, state: RouterState, clock: Clock, rng: random.Random | None = None
    ) -> None:
        self.config = config.state
        self.state = state
        self.clock = clock
        self.link = RedisLink(config.state, clock, rng or random.Random())
        self.origin = uuid.uuid4().hex[:12]
        """This process's name on the channel (its own messages come back and are skipped)."""
        prefix = config.state.prefix
        self.channel = prefix + "events"
        self._open_key = prefix + "open:"
        self._probe_key = prefix + "probe:"
        self._known = {t for model in config.models.values() for t in model.targets}
        self._hold = min(_CLAIM_HOLD, config.breaker.open_for / 2)
        self._batch = Batch()
        self._wake = asyncio.Event()
        self._urgent = False
        """A breaker changed: send now rather than at the next batch (changes are rare, and
        the rest of the fleet should follow within a round trip)."""
        self._client: aioredis.Redis | None = None
        self._applying = False
        self._opened_at: dict[Target, float] = {}
        self._owned: set[Target] = set()
        """Targets whose current probe claim is this process's."""
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: asyncio.Task[None] | None = None
        self.counts = {"sent": 0, "received": 0, "unreadable": 0, "opened": 0, "closed": 0}
        self.claims = {"won": 0, "lost": 0, "unknown": 0}
        state.witness = self
        state.watchers.append(self._changed)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self._runner is None:
            self._runner = asyncio.get_running_loop().create_task(
                self.link.run(self._session, self._lost)
            )

    async def close(self) -> None:
        runner, self._runner = self._runner, None
        for task in [*self._tasks, *([runner] if runner else [])]:
            task.cancel()
        for task in [*self._tasks, *([runner] if runner else [])]:
            with contextlib.suppress(asyncio.CancelledError, *FAULTS):
                await task
        self._tasks.clear()

    # ------------------------------------------------------------------ the request path

    def succeeded(self, target: Target, started: float) -> None:
        if self._client is not None:
            self._batch.add_success(target, started)
            self._wake.set()

    def failed(self, target: Target, started: float) -> None:
        if self._client is not None:
            self._batch.add_failure(target, started)
            self._wake.set()

    def spent(self, target: Target) -> None:
        if self._client is not None:
            self._batch.add_spent(target)
            self._wake.set()

    def _changed(self, change: BreakerChange) -> None:
        now = self.clock.monotonic()
        target = change.target
        if change.state is State.OPEN:
            self._opened_at[target] = now
        if target in self._owned and change.state is not State.HALF_OPEN:
            self._owned.discard(target)  # the probe's verdict is in: free the claim soon
            self._spawn(self._release(target))
        if self._applying or self._client is None:
            return
        if change.state is State.OPEN:
            open_for = change.open_for or 0.0
            self._batch.add_change(target, Opened(now + open_for, open_for, change.reason))
            self._urgent = True
            self._wake.set()
        elif change.state is State.CLOSED:
            self._batch.add_change(target, Closed(change.reason, now))
            self._urgent = True
            self._wake.set()
        else:
            self.state.breakers[target].defer_probe()  # until the claim says whose it is
            self._spawn(self._claim(target))

    # ------------------------------------------------------------------ the session

    async def _session(self) -> None:
        link = self.link
        client = link.client()
        await link.bounded(client.ping())
        pubsub = client.pubsub()
        try:
            await link.bounded(pubsub.subscribe(self.channel))
            await self._snapshot(client)
            self._batch = Batch()
            self._client = client
            link.joined()
            tasks = [
                asyncio.create_task(self._publish(client)),
                asyncio.create_task(self._listen(pubsub)),
            ]
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError, *FAULTS):
                        await task
            for task in done:
                task.result()
        finally:
            self._client = None
            try:
                await self._end_calls()
            finally:
                with contextlib.suppress(*FAULTS):
                    await asyncio.wait_for(pubsub.aclose(), link.timeout)

    async def _end_calls(self) -> None:
        """End the claims and releases still running on this session's client before the
        link closes it. One that outlived it would call on a closed client, whose pool
        quietly opens a new connection that nothing ever closes: a socket left to the
        garbage collector (and, under uvloop, a ResourceWarning wherever that happens)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _lost(self) -> None:
        """Redis went away: decide alone (a deferred probe is ours to make again)."""
        self._client = None
        self._batch = Batch()
        self._owned.clear()
        for breaker in self.state.breakers:
            if breaker.deferred:
                breaker.allow_probe()

    async def _publish(self, client: aioredis.Redis) -> None:
        loop = asyncio.get_running_loop()
        every, last = self.config.publish_every, -math.inf
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.config.heartbeat)
            except TimeoutError:
                await self.link.bounded(client.ping())  # a frozen Redis shows here
                continue
            wait = last + every - loop.time()
            if wait > 0 and not self._urgent:
                # (the first news after a quiet spell goes at once; a breaker change too)
                await self._sleep_unless_urgent(wait)
            self._wake.clear()
            self._urgent = False
            batch, self._batch = self._batch, Batch()
            last = loop.time()
            if batch:
                await self._send(client, batch)

    async def _sleep_unless_urgent(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        self._wake.clear()
        while not self._urgent and (left := until - loop.time()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), left)
            self._wake.clear()

    async def _send(self, client: aioredis.Redis, batch: Batch) -> None:
        now, wall = self.clock.monotonic(), self.clock.wall()
        pipe = client.pipeline(transaction=False)
        pipe.publish(self.channel, batch.encode(self.origin, now, wall))
        for target, change in batch.changes.items():
            key = self._open_key + target.label
            if isinstance(change, Opened):
                left = change.until - now
                if left > 0.001:
                    row = [wall + left, change.open_for, change.reason]
                    pipe.set(key, orjson.dumps(row), px=math.ceil(left * 1000))
            else:
                pipe.delete(key)
        await self.link.bounded(pipe.execute())
        self.counts["sent"] += 1

    async def _listen(self, pubsub: aioredis.client.PubSub) -> None:
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is not None and message.get("type") == "message":
                self._heard(message["data"])

    def reconfigure(self, config: Config) -> None:
        """A config reload: the targets to publish and the probe claim's hold follow the
        new models and breaker; the connection (`state.*`) needs a restart."""
        self._known = {t for model in config.models.values() for t in model.targets}
        self._hold = min(_CLAIM_HOLD, config.breaker.open_for / 2)

    def _known_target(self, target: Target) -> bool:
        return target in self._known or self.state.breakers.get(target) is not None

    def _heard(self, data: Any) -> None:
        if not isinstance(data, bytes):
            return
        heard = decode(data, self.clock.monotonic(), self.clock.wall(), self._known_target)
        if heard is None:
            self.counts["unreadable"] += 1
            return
        if heard.origin != self.origin:
            self.counts["received"] += 1
            self._apply(heard)

    def _apply(self, heard: Heard) -> None:
        self._applying = True
        try:
            applied = merge(self.state, heard, self.clock.monotonic(), self._opened_at)
        finally:
            self._applying = False
        self.counts["opened"] += applied.opened
        self.counts["closed"] += applied.closed

    async def _snapshot(self, client: aioredis.Redis) -> None:
        """Breakers open elsewhere when this process (re)joins: it opens them too."""
        targets = sorted(self._known, key=lambda t: t.label)
        if not targets:
            return
        keys = [self._open_key + t.label for t in targets]
        rows = await self.link.bounded(client.mget(keys))
        now, wall = self.clock.monotonic(), self.clock.wall()
        heard = Heard("snapshot")
        for target, row in zip(targets, rows, strict=True):
            with contextlib.suppress(ValueError, TypeError, IndexError):
                until, open_for, reason = orjson.loads(row) if row else (0, 0, "")
                if float(until) > wall:
                    left = float(until) - wall
                    heard.changes[target] = Opened(now + left, float(open_for), str(reason))
        self._apply(heard)

    # ------------------------------------------------------------------ one probe

    async def _claim(self, target: Target) -> None:
        """Claim the fleet's probe of `target`: won, this process probes; lost, it waits
        for the winner's verdict (or for the claim to lapse, then claims again)."""
        client = self._client
        breaker = self.state.breakers[target]
        if client is None or not breaker.deferred:
            breaker.allow_probe()
            return
        key = self._probe_key + target.label
        ttl = math.ceil(self.config.probe_ttl * 1000)
        try:
            won = await self.link.bounded(client.set(key, self.origin, nx=True, px=ttl))
            left = 0 if won else await self.link.bounded(client.pttl(key))
        except FAULTS:
            self.claims["unknown"] += 1
            breaker.allow_probe()  # Redis does not answer: local behaviour
            return
        if not self.state.breakers[target].deferred:
            return  # the state moved on meanwhile
        if won:
            self.claims["won"] += 1
            self._owned.add(target)
            breaker.allow_probe()
            return
        self.claims["lost"] += 1
        retry = max(0.01, (left if left > 0 else 0) / 1000 + 0.01)
        asyncio.get_running_loop().call_later(retry, self._reclaim, target)

    def _reclaim(self, target: Target) -> None:
        if self.state.breakers[target].deferred:
            self._spawn(self._claim(target))  # the winner never told: its claim lapsed

    async def _release(self, target: Target) -> None:
        client = self._client
        if client is None:
            return
        with contextlib.suppress(*FAULTS):
            key = self._probe_key + target.label
            await self.link.bounded(client.pexpire(key, math.ceil(self._hold * 1000)))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ reporting

    def check(self) -> Check:
        link = self.link
        detail = "" if link.up else f"Redis at {link.where}: {link.why}; deciding alone"
        return Check("state", link.up, detail, required=False)

    def metrics(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "failsoft_fleet_up", "Whether breakers and budgets are shared through Redis now"
        )
        up.add_metric([], 1.0 if self.link.up else 0.0)
        yield up
        faults = CounterMetricFamily(
            "failsoft_fleet_faults", "Times the shared state's Redis session was lost"
        )
        faults.add_metric([], self.link.faults)
        yield faults
        batches = CounterMetricFamily(
            "failsoft_fleet_batches", "Batches of shared state sent and received", labels=["way"]
        )
        for way in ("sent", "received", "unreadable"):
            batches.add_metric([way], self.counts[way])
        yield batches
        followed = CounterMetricFamily(
            "failsoft_fleet_breaker_changes",
            "Breaker changes made here because another process made them",
            labels=["change"],
        )
        for change in ("opened", "closed"):
            followed.add_metric([change], self.counts[change])
        yield followed
        claims = CounterMetricFamily(
            "failsoft_fleet_probe_claims", "Half-open probe claims, by result", labels=["result"]
        )
        for result, count in self.claims.items():
            claims.add_metric([result], count)
        yield claims
