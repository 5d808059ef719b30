"""Per-key limits counted in Redis (`state.url`), so a fleet enforces each limit once.

One Lua script per request decides atomically from the counts of every process: the
sliding minutes are hashes of slot → count (as window.py keeps them in memory, timed by
Redis's own clock so instances need no synchronised clocks), and a key's requests in
flight a hash of process → count. Each process holds a lease key it renews while it
runs; the script ignores (and deletes) the counts of a process whose lease has expired,
so the slots of a crashed process come back within `LEASE` seconds.

A limit check needs an answer before the request may go on, so this is the one Redis
call on a request's path. It is bounded by `state.timeout`; past it, or on any Redis
error, the request is admitted unchecked (fail open), the fault is logged once, counted
in `failsoft_key_limits_unchecked_total`, and Redis is not asked again for `COOL_OFF`
seconds, so an away Redis costs at most one timeout per cool-off. Charging tokens happens
in the background. Giving a slot back is sent at once, and a response's last bytes wait
for Redis to have it (server/access.py): the caller may send its next request to another
process as soon as it has read them, and that process must not still count the slot
(back-to-back requests of a key with `concurrency: 1` would get spurious 429s). A release
that is lost (Redis slow or away) is corrected by the next lease renewal, which rewrites
this process's own counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from prometheus_client.core import CounterMetricFamily, Metric
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from failsoft.auth.limits import RateLimited, Standing, Ticket
from failsoft.cache.redis import redacted_url
from failsoft.config.auth import KeyLimits
from failsoft.fleet.link import FAULTS, one_line

if TYPE_CHECKING:
    from failsoft.auth.limits import Limiter
    from failsoft.clock import Clock

log = logging.getLogger("failsoft.limits")

LEASE = 15.0
"""Seconds a process's concurrency counts outlive it (renewed every third of this)."""
COOL_OFF = 1.0
"""Seconds Redis is left alone after a fault: requests meanwhile are admitted unchecked."""
_LIMITS = ("", "rpm", "tpm", "concurrency")

_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local width = tonumber(ARGV[1]) / 60
local slot = math.floor(now / width)
local function scan(key)
  local h = redis.call('HGETALL', key)
  local total, slots = 0, {}
  for i = 1, #h, 2 do
    local s, n = tonumber(h[i]), tonumber(h[i + 1])
    if s <= slot - 60 then
      redis.call('HDEL', key, h[i])
    else
      total = total + n
      slots[#slots + 1] = {s, n}
    end
  end
  table.sort(slots, function(a, b) return a[1] < b[1] end)
  return total, slots
end
local function freed(slots, total, limit)
  for _, e in ipairs(slots) do
    total = total - e[2]
    if total < limit then return (e[1] + 60) * width - now end
  end
  return 0
end
local function emptied(slots)
  if #slots == 0 then return 0 end
  return (slots[#slots][1] + 60) * width - now
end
local rpm, tpm, conc = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {0, 0, 0, -1, 0, -1, 0}
local rtotal, rslots, ttotal, tslots = 0, {}, 0, {}
if tpm >= 0 then
  ttotal, tslots = scan(KEYS[2])
  out[6], out[7] = math.max(0, tpm - ttotal), emptied(tslots)
  if ttotal >= tpm then
    out[1], out[2], out[3] = 2, tpm, freed(tslots, ttotal, tpm)
  end
end
if rpm >= 0 then
  rtotal, rslots = scan(KEYS[1])
  out[4], out[5] = math.max(0, rpm - rtotal), emptied(rslots)
  if out[1] == 0 and rtotal >= rpm then
    out[1], out[2], out[3] = 1, rpm, freed(rslots, rtotal, rpm)
  end
end
if out[1] == 0 and conc >= 0 then
  -- This process's own count is what it says (its releases may still be on their way).
  if tonumber(ARGV[8]) > 0 then
    redis.call('HSET', KEYS[3], ARGV[5], ARGV[8])
  else
    redis.call('HDEL', KEYS[3], ARGV[5])
  end
  local h = redis.call('HGETALL', KEYS[3])
  local held = 0
  for i = 1, #h, 2 do
    if redis.call('EXISTS', ARGV[6] .. h[i]) == 1 then
      held = held + tonumber(h[i + 1])
    else
      redis.call('HDEL', KEYS[3], h[i])
    end
  end
  if held >= conc then
    out[1], out[2], out[3] = 3, conc, 1000
  else
    redis.call('HINCRBY', KEYS[3], ARGV[5], 1)
    redis.call('PEXPIRE', KEYS[3], ARGV[7] * 4)
    redis.call('SET', ARGV[6] .. ARGV[5], 1, 'PX', ARGV[7])
  end
end
if out[1] == 0 and rpm >= 0 then
  redis.call('HINCRBY', KEYS[1], slot, 1)
  redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1]) + width))
  out[4], out[5] = math.max(0, rpm - rtotal - 1), 60 * width
end
return out
"""

_CHARGE = """
local width = tonumber(ARGV[1]) / 60
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HINCRBY', KEYS[1], math.floor(now / width), ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1]) + width))
return 1
"""

_RELEASE = """
if tonumber(ARGV[2]) > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
else
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return 1
"""


class SharedLimits:
    """The Redis side of `Limiter` (one per process)."""

    def __init__(self, url: str, prefix: str, timeout: float, clock: Clock) -> None:
        self.url = url
        self.where = redacted_url(url)
        self.prefix = prefix + "limits:"
        self.timeout = timeout
        self.clock = clock
        self.process = secrets.token_hex(8)
        """This process's name in the concurrency hashes (random: a restart is a new one)."""
        self.held: dict[str, int] = {}
        """Key name → slots this process holds (rewritten into Redis at each renewal)."""
        self.unchecked = 0
        """Requests admitted without an answer from Redis."""
        self.faults = 0
        self._away_until = 0.0
        self._away = False
        self._client: aioredis.Redis | None = None
        self._scripts: dict[str, Any] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._renewal: asyncio.Task[None] | None = None
        self._window_ms = 60_000

    def _connect(self) -> aioredis.Redis:
        client = aioredis.Redis.from_url(
            self.url,
            socket_connect_timeout=self.timeout,
            socket_timeout=self.timeout,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )
        self._scripts = {
            "admit": client.register_script(_ADMIT),
            "charge": client.register_script(_CHARGE),
            "release": client.register_script(_RELEASE),
        }
        self._client = client
        return client

    def _key(self, kind: str, name: str) -> str:
        return f"{self.prefix}{kind}:{name}"

    async def admit(self, limiter: Limiter, name: str, limits: KeyLimits) -> Ticket | None:
        """A ticket counted in Redis; None when Redis is away (admit unchecked)."""
        now = self.clock.monotonic()
        if now < self._away_until:
            self.unchecked += 1
            return None
        if self._client is None:
            self._connect()
        self._window_ms = round(limiter.window * 1000)
        conc = limits.concurrency
        # Slots this process holds or is asking for: its own count, set absolutely (so a
        # release still on its way is not counted, and two admissions deciding at once
        # cannot both take the last slot).
        pending = self.held.get(name, 0)
        if conc is not None:
            self.held[name] = pending + 1
        args = [
            self._window_ms,
            -1 if limits.rpm is None else limits.rpm,
            -1 if limits.tpm is None else limits.tpm,
            -1 if conc is None else conc,
            self.process,
            self.prefix + "lease:",
            round(LEASE * 1000),
            pending,
        ]
        keys = [self._key("rpm", name), self._key("tpm", name), self._key("conc", name)]
        try:
            out = await asyncio.wait_for(
                self._scripts["admit"](keys=keys, args=args), self.timeout + 0.05
            )
        except BaseException as exc:
            if conc is not None:
                self._unhold(name)
            if not isinstance(exc, FAULTS):
                raise
            self._fault(exc)
            self.unchecked += 1
            return None
        if self._away:
            self._away = False
            log.warning("rate limits: Redis at %s answers again; limits shared again", self.where)
        verdict, value, retry_ms, r_left, r_reset, t_left, t_reset = (int(x) for x in out)
        wall = self.clock.wall()
        requests = None if limits.rpm is None else (limits.rpm, r_left, r_reset / 1000)
        tokens = None if limits.tpm is None else (limits.tpm, t_left, t_reset / 1000)
        standing = Standing(wall, requests, tokens)
        held = conc is not None
        if verdict:
            if held:
                self._unhold(name)
            raise RateLimited(_LIMITS[verdict], value, retry_ms / 1000, standing)
        if held and self._renewal is None:
            self._renewal = asyncio.get_running_loop().create_task(self._renew())
        ticket = Ticket(limiter, name, held, limits.tpm is not None, standing)
        ticket.shared = True
        return ticket

    def _fault(self, exc: BaseException) -> None:
        self.faults += 1
        self._away_until = self.clock.monotonic() + COOL_OFF
        if not self._away:
            self._away = True
            log.warning(
                "rate limits: Redis at %s is away (%s); admitting requests unchecked until "
                "it answers",
                self.where,
                one_line(exc, self.timeout),
            )

    def _unhold(self, name: str) -> None:
        self.held[name] = max(0, self.held.get(name, 0) - 1)

    def release(self, name: str) -> asyncio.Task[None] | None:
        """A slot given back: this process's count, rewritten in Redis by the task handed
        back (None when there is nothing to send). A response's end awaits it, so the slot
        is free for the whole fleet before the caller can ask again; it runs to its end even
        when its awaiter is cancelled (a rewrite that is lost or arrives out of order is
        mended by the next lease renewal). Within a fault's cool-off it is still sent but
        not handed back: no response waits on a Redis that just failed."""
        self._unhold(name)
        task = self._background(
            "release", [self._key("conc", name)], [self.process, self.held[name]]
        )
        return None if self.clock.monotonic() < self._away_until else task

    def charge(self, name: str, tokens: int) -> None:
        self._background("charge", [self._key("tpm", name)], [self._window_ms, tokens])

    def _background(
        self, script: str, keys: list[str], args: list[Any]
    ) -> asyncio.Task[None] | None:
        if self._client is None:
            return None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        task = loop.create_task(self._call(script, keys, args))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _call(self, script: str, keys: list[str], args: list[Any]) -> None:
        try:
            await asyncio.wait_for(self._scripts[script](keys=keys, args=args), self.timeout)
        except FAULTS as exc:
            self._fault(exc)

    async def _renew(self) -> None:
        """Keep this process's lease, and rewrite its own counts (mending lost releases)."""
        while True:
            await asyncio.sleep(LEASE / 3)
            client = self._client
            if client is None:
                continue
            try:
                pipe = client.pipeline(transaction=False)
                pipe.set(self.prefix + "lease:" + self.process, 1, px=round(LEASE * 1000))
                for name, count in list(self.held.items()):
                    if count > 0:
                        pipe.hset(self._key("conc", name), self.process, count)
                        pipe.pexpire(self._key("conc", name), round(LEASE * 4000))
                    else:
                        pipe.hdel(self._key("conc", name), self.process)
                        del self.held[name]
                await asyncio.wait_for(pipe.execute(), self.timeout)
            except FAULTS as exc:
                self._fault(exc)

    async def close(self) -> None:
        renewal, self._renewal = self._renewal, None
        if renewal is not None:
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=self.timeout * 2)
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(*FAULTS):
                await asyncio.wait_for(client.aclose(), self.timeout)

    def metrics(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "failsoft_key_limits_unchecked",
            "Requests of keys with limits admitted unchecked because Redis did not answer.",
        )
        family.add_metric([], self.unchecked)
        yield family
