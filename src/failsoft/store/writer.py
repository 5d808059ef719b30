"""The writer of `QueuedStore`: one background task that stores the queued writes in order,
with the times they carry, and tells whether the store answers.

Apart from store/queue.py, which holds the queue's API and lifecycle (open, close, hurry,
hooks, the bounded calls), because this is the one loop that talks to the backend on the
queue's behalf: it opens the backend until it answers, applies the write at the head of the
queue, backs off while the store is away, reopens the backend after repeated failures and
drops a write the store keeps refusing. `_failed` and `_answered` keep the up/down state
that the bounded calls update too. `QueuedStore` inherits it; the attributes declared here
are the queue's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time

from failsoft.config.policies import Backoff
from failsoft.health.types import Incident, Transition
from failsoft.policy.backoff import full_jitter
from failsoft.store.base import (
    OutboxDone,
    OutboxEntry,
    ResponseDropped,
    Store,
    StoredResponse,
    StoreSetupError,
)
from failsoft.store.report import describe_item, one_line, transient
from failsoft.store.writes import Write, Writes

log = logging.getLogger("failsoft.store")

REOPEN_AFTER = 5
"""Consecutive failed writes after which the backend is closed and opened again (a broken
connection or pool does not always mend itself)."""
POISON_AFTER = 10
"""Failures after which a write that fails for a reason other than the store being away is
dropped (and logged), so that one bad row cannot hold up every later write."""


class Writer:
    """The writer loop of `QueuedStore`; it holds the state below."""

    inner: Store
    name: str
    timeout: float
    retry_max: float
    failures: int
    _writes: Writes
    _backoff: Backoff
    _rng: random.Random
    _wake: asyncio.Event
    _kick: asyncio.Event
    _opened: asyncio.Event
    _stopping: bool
    _down_since: float | None
    _retry_at: float
    _why: str

    async def _open_inner(self) -> None:
        async with asyncio.timeout(self.timeout * 2):  # connect, then create the schema
            await self.inner.open()
        self._opened.set()

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        self._why = one_line(exc, self.timeout)
        self._retry_at = time.monotonic() + self.retry_max
        if self._down_since is not None:
            return
        self._down_since = time.monotonic()
        self._writes.dropped_lately = 0
        waiting = self._writes.spool_all()
        spool = self._writes.spool
        log.warning(
            "store %s is unreachable (%s): %d writes queued%s; retrying in the background",
            self.name,
            self._why,
            waiting,
            f" (spooled to {spool.path})" if spool is not None and waiting else "",
        )

    def _answered(self) -> None:
        if self._down_since is None:
            return
        away = time.monotonic() - self._down_since
        self._down_since = None
        self._retry_at = 0.0
        dropped = self._writes.dropped_lately
        log.info(
            "store %s answers again after %.1fs; writing %d queued writes%s",
            self.name,
            away,
            len(self._writes),
            f" ({dropped} were dropped)" if dropped else "",
        )

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            if not self._opened.is_set():
                try:
                    await self._open_inner()
                except StoreSetupError as exc:
                    log.error("store %s cannot be opened: %s", self.name, exc)
                    return
                except Exception as exc:
                    failures += 1
                    self._failed(exc)
                    await self._pause(failures)
                    continue
                failures = 0
                self._answered()
                continue
            write = self._writes.head()
            if write is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                async with asyncio.timeout(self.timeout):
                    await self._apply(write)
            except Exception as exc:
                self._writes.failed(write)
                failures += 1
                if write.failures >= POISON_AFTER and not transient(exc):
                    self._give_up(write, exc)
                    continue
                self._failed(exc)
                if failures % REOPEN_AFTER == 0:
                    await self._reopen()
                await self._pause(failures)
                continue
            failures = 0
            self._writes.done(write)
            self._answered()

    async def _apply(self, write: Write) -> None:
        item = write.item
        if isinstance(item, Transition):
            await self.inner.add_transition(item)
        elif isinstance(item, Incident):
            await self.inner.save_incident(item)
        elif isinstance(item, OutboxEntry):
            await self.inner.add_outbox(item)
        elif isinstance(item, OutboxDone):
            await self.inner.drop_outbox(item)
        elif isinstance(item, StoredResponse):
            await self.inner.save_response(item)
        elif isinstance(item, ResponseDropped):
            await self.inner.drop_response(item)
        else:
            await self.inner.add_dead_letter(item)

    def _give_up(self, write: Write, exc: BaseException) -> None:
        log.error(
            "store %s refused %s %d times (%s): dropped",
            self.name,
            describe_item(write.item),
            write.failures,
            one_line(exc, self.timeout),
        )
        self._writes.dropped += 1
        self._writes.done(write)

    async def _pause(self, failures: int) -> None:
        """The backoff before the next attempt; `close()` cuts it short."""
        if self._stopping:
            return
        self._kick.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(full_jitter(self._backoff, failures, self._rng)):
                await self._kick.wait()

    async def _reopen(self) -> None:
        self._opened.clear()
        try:
            async with asyncio.timeout(self.timeout + 1.0):
                await self.inner.close()
        except Exception as exc:
            log.debug("closing store %s to open it again: %s", self.name, exc)

    async def _drain(self) -> None:
        """Write what is queued, in order, until the queue is empty or a write fails."""
        while (write := self._writes.head()) is not None:
            try:
                async with asyncio.timeout(self.timeout):
                    await self._apply(write)
            except Exception as exc:
                self._writes.failed(write)
                self._failed(exc)
                return
            self._writes.done(write)
