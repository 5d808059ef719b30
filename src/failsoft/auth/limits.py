"""Per-key rate limits: requests per minute, tokens per minute, requests in flight.

Checked after the key matched (auth/check.py), so state is kept only for keys that exist,
and forgotten a window after a key's last request. Each limit is counted per key name:

- `rpm`: requests admitted in the sliding minute (window.py); a refused request does not
  count.
- `tpm`: input + output tokens of the answers in the sliding minute, charged when an
  answer ends, from its usage (`charge`), not reserved from `max_tokens` up front: one
  long answer can overshoot, and the key is then refused until the minute has let enough
  of it go.
- `concurrency`: requests in flight, held from admission until the response's last byte
  (a stream until its end), and released when the caller disconnects or the handler
  fails (`Ticket.done`, called from the access exchange's `finish`, which runs on every
  way out). Shared through Redis, the release is in Redis before the last byte is sent
  (`Ticket.done` hands back its task for the response's end to await): a caller that
  has its answer may go on at once, on any process.

Across processes: with `state.url` the counts live in Redis (limits_shared.py), exact for
the fleet; a Redis that does not answer within `state.timeout` admits the request (fail
open). Without it, each of N workers (`failsoft serve --workers N`) enforces limit / N
(at least 1): the fleet never exceeds a limit, but a key may be refused a little early
when the kernel spreads its requests unevenly over the workers (docs/security.md).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, Metric

from failsoft.auth.window import SLOTS, Window
from failsoft.clock import Clock
from failsoft.config.auth import KeyLimits

if TYPE_CHECKING:
    from failsoft.auth.limits_shared import SharedLimits

WINDOW = 60.0
"""Seconds a limit counts over (tests shorten it)."""
WORKERS_ENV = "FAILSOFT_WORKERS"
"""How many workers `failsoft serve --workers N` runs: each enforces 1/N of a limit when
no Redis is shared."""
MAX_LABELS = 1000
"""Distinct key names `failsoft_key_limited_total` labels; the rest count as `other`."""
CONCURRENCY_RETRY = 1.0
"""Retry-After for a key at its concurrency limit: when a slot frees is not known."""


def limited(limits: KeyLimits) -> bool:
    """Whether `limits` sets anything this module enforces (checked once per request)."""
    return limits.rpm is not None or limits.tpm is not None or limits.concurrency is not None


class Standing:
    """A key's position against its rpm and tpm after a decision: what the rate-limit
    headers tell the caller. `reset` is seconds until the window has let everything go."""

    __slots__ = ("at", "requests", "tokens")

    def __init__(
        self,
        at: float,
        requests: tuple[int, int, float] | None,
        tokens: tuple[int, int, float] | None,
    ) -> None:
        self.at = at
        """Wall time of the decision (for Anthropic's RFC 3339 resets)."""
        self.requests = requests
        """(limit, remaining, reset seconds), or None without `rpm`."""
        self.tokens = tokens
        """(limit, remaining, reset seconds), or None without `tpm`."""


class RateLimited(Exception):
    """A key is over one of its limits: a 429 the caller may retry after `retry_after`."""

    def __init__(self, limit: str, value: int, retry_after: float, standing: Standing) -> None:
        words = {
            "rpm": f"{value} requests per minute",
            "tpm": f"{value} tokens per minute",
            "concurrency": f"{value} requests in flight",
        }[limit]
        super().__init__(f"failsoft: this API key is over its limit of {words}")
        self.message = str(self)
        self.limit = limit
        self.retry_after = retry_after
        self.standing = standing


class Ticket:
    """One admitted request: what it holds, released (and its tokens charged) once."""

    __slots__ = ("held", "limiter", "name", "shared", "standing", "tokens")

    def __init__(
        self, limiter: Limiter, name: str, held: bool, tokens: bool, standing: Standing
    ) -> None:
        self.limiter = limiter
        self.name = name
        self.held = held
        """A concurrency slot is held until `done`."""
        self.tokens = tokens
        """The key has a `tpm`: the answer's usage is charged at `done`."""
        self.shared = False
        """Counted in Redis (False when Redis was away and the request went unchecked)."""
        self.standing = standing

    def done(
        self, input_tokens: int | None, output_tokens: int | None
    ) -> asyncio.Task[None] | None:
        """The response ended, however it ended. Idempotent. Hands back the release of a
        slot counted in Redis (a task already running), for a response's last bytes to
        wait on; None when there is nothing to wait for."""
        limiter = self.limiter
        given_back = None
        if self.held:
            self.held = False
            given_back = limiter.release(self)
        if self.tokens:
            self.tokens = False
            # TPM is charged here: what the request's upstreams billed (usage/meter.py), or
            # for an answer no upstream billed (a cached one) the usage it carries.
            limiter.charge(self.name, (input_tokens or 0) + (output_tokens or 0))
        return given_back


class _KeyState:
    __slots__ = ("inflight", "requests", "tokens", "used")

    def __init__(self, now: float) -> None:
        self.requests = Window()
        self.tokens = Window()
        self.inflight = 0
        self.used = now


class Limiter:
    """Every key's counts in this process (and in Redis through `shared`)."""

    def __init__(
        self,
        clock: Clock,
        *,
        share: int | None = None,
        window: float | None = None,
        shared: SharedLimits | None = None,
    ) -> None:
        self.clock = clock
        self.window = window if window is not None else WINDOW
        self.width = self.window / SLOTS
        self.share = 1 if shared is not None else max(1, share or _workers())
        """The part of each limit this process enforces alone: 1/N of it under N workers."""
        self.shared = shared
        self._keys: dict[str, _KeyState] = {}
        self._swept = clock.monotonic()
        self.refused: dict[tuple[str, str], int] = {}
        """(key name or `other`, limit) → requests refused."""
        self._labels: set[str] = set()

    def part(self, limit: int) -> int:
        return max(1, limit // self.share)

    async def admit(self, name: str, limits: KeyLimits) -> Ticket:
        """A ticket for one request of key `name`; raises `RateLimited`."""
        shared = self.shared
        if shared is not None:
            try:
                ticket = await shared.admit(self, name, limits)
            except RateLimited as exc:
                self._count(name, exc.limit)
                raise
            if ticket is not None:
                return ticket
            # Redis is away: admitted unchecked (fail open), counted by `shared`.
            return Ticket(self, name, False, False, Standing(self.clock.wall(), None, None))
        return self.admit_here(name, limits)

    def admit_here(self, name: str, limits: KeyLimits) -> Ticket:
        """The decision from this process's own counts."""
        now = self.clock.monotonic()
        if now - self._swept > self.window:
            self._sweep(now)
        state = self._keys.get(name)
        if state is None:
            state = self._keys[name] = _KeyState(now)
        state.used = now
        slot = int(now // self.width)
        requests = tokens = None
        if limits.tpm is not None:
            limit = self.part(limits.tpm)
            state.tokens.advance(slot)
            tokens = self._position(state.tokens, limit, now)
        if limits.rpm is not None:
            limit = self.part(limits.rpm)
            state.requests.advance(slot)
            requests = self._position(state.requests, limit, now)
        standing = Standing(self.clock.wall(), requests, tokens)
        if tokens is not None and tokens[1] <= 0:
            wait = state.tokens.freed(tokens[0]) * self.width - now
            self._refuse(name, "tpm", tokens[0], wait, standing)
        if requests is not None and requests[1] <= 0:
            wait = state.requests.freed(requests[0]) * self.width - now
            self._refuse(name, "rpm", requests[0], wait, standing)
        held = limits.concurrency is not None
        if held:
            assert limits.concurrency is not None
            limit = self.part(limits.concurrency)
            if state.inflight >= limit:
                self._refuse(name, "concurrency", limit, CONCURRENCY_RETRY, standing)
            state.inflight += 1
        if requests is not None:
            state.requests.add(slot, 1)
            standing.requests = self._position(state.requests, requests[0], now)
        return Ticket(self, name, held, limits.tpm is not None, standing)

    def _position(self, window: Window, limit: int, now: float) -> tuple[int, int, float]:
        reset = max(0.0, window.emptied() * self.width - now)
        return limit, max(0, limit - window.total), reset

    def _refuse(self, name: str, limit: str, value: int, wait: float, standing: Standing) -> None:
        self._count(name, limit)
        raise RateLimited(limit, value, max(wait, 0.0), standing)

    def _count(self, name: str, limit: str) -> None:
        label = name
        if label not in self._labels:
            if len(self._labels) >= MAX_LABELS:
                label = "other"
            else:
                self._labels.add(label)
        key = (label, limit)
        self.refused[key] = self.refused.get(key, 0) + 1

    def release(self, ticket: Ticket) -> asyncio.Task[None] | None:
        """A concurrency slot given back: at once in this process; in Redis by the task
        handed back."""
        if ticket.shared and self.shared is not None:
            return self.shared.release(ticket.name)
        state = self._keys.get(ticket.name)
        if state is not None and state.inflight > 0:
            state.inflight -= 1
        return None

    def charge(self, caller_name: str, tokens: int) -> None:
        """`tokens` (input + output) spent by key `caller_name` now: counted against its
        `tpm` for the next window (in Redis too when it is shared)."""
        if tokens <= 0:
            return
        if self.shared is not None:
            self.shared.charge(caller_name, tokens)
            return
        now = self.clock.monotonic()
        state = self._keys.get(caller_name)
        if state is None:
            state = self._keys[caller_name] = _KeyState(now)
        state.used = now
        state.tokens.add(int(now // self.width), tokens)

    def _sweep(self, now: float) -> None:
        """Forget keys idle for a whole window (their counts have all expired)."""
        self._swept = now
        idle = [n for n, s in self._keys.items() if not s.inflight and now - s.used > self.window]
        for name in idle:
            del self._keys[name]

    def __len__(self) -> int:
        return len(self._keys)

    async def close(self) -> None:
        if self.shared is not None:
            await self.shared.close()

    def metrics(self) -> Iterator[Metric]:
        """`failsoft_key_limited_total{key, limit}` (key: the key's name, never the key)."""
        family = CounterMetricFamily(
            "failsoft_key_limited",
            "Requests refused (429) because their key was over a limit (rpm, tpm, concurrency).",
            labels=["key", "limit"],
        )
        for (name, limit), count in sorted(self.refused.items()):
            family.add_metric([name, limit], count)
        yield family
        if self.shared is not None:
            yield from self.shared.metrics()


def _workers() -> int:
    try:
        return max(1, int(os.environ.get(WORKERS_ENV, "1")))
    except ValueError:
        return 1
