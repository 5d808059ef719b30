"""The store as the gateway uses it: never on the critical path, never losing history.

`QueuedStore` wraps any backend. State changes, incident saves, dead letters and the
webhook outbox's additions and removals are queued in order (store/writes.py) and return
at once; one background writer stores them with the times they carry, retrying with
backoff while the store is away. With a spool directory (the default for PostgreSQL) what
waits is also kept in a local file (store/spool.py), so a restart during the store's outage
loses nothing. The queue is bounded: past `capacity` the oldest write is dropped, and the
log and `failsoft_store_dropped_total` say so.

Every other call (reads, leases, whatever a backend adds) is bounded by `timeout`, runs
after the writes queued before it (so it sees them), and raises `StoreUnavailable` when the
store does not answer. While the store is away such calls fail at once (the writer is
retrying; a reader would only wait out the timeout); with nothing to write, one call is let
through every `retry_max` seconds to find out whether it is back.

An unreachable store at `open()` is not an error: one line says which store and why, and
the writer keeps trying to open it. The writer loop itself is store/writer.py.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from failsoft.config.policies import Backoff
from failsoft.health.types import Incident, Transition
from failsoft.policy.backoff import full_jitter
from failsoft.store.base import (
    DeadLetter,
    OutboxDone,
    OutboxEntry,
    ResponseDropped,
    Store,
    StoredResponse,
    StoreSetupError,
    StoreUnavailable,
)
from failsoft.store.keys import StoredKey
from failsoft.store.report import describe_item, one_line, store_name, transient
from failsoft.store.spool import Item, Kind, Spool
from failsoft.store.writer import POISON_AFTER, REOPEN_AFTER, Writer
from failsoft.store.writes import Writes

__all__ = ["HURRIED", "POISON_AFTER", "REOPEN_AFTER", "Hook", "QueuedStore"]

log = logging.getLogger("failsoft.store")

T = TypeVar("T")
Hook = Callable[[], Awaitable[None]]

HURRIED = 0.5
"""Seconds each step of `close()` may still take after `hurry()`: enough for a local SQLite
file to take what is queued, too little for anyone to wait on."""


class QueuedStore(Writer):
    def __init__(
        self,
        inner: Store,
        *,
        timeout: float = 5.0,
        capacity: int = 10_000,
        spool: str | Path | None = None,
        retry_max: float = 5.0,
        rng: random.Random | None = None,
    ) -> None:
        self.inner = inner
        self.timeout = timeout
        self.retry_max = retry_max
        self.name = store_name(inner.describe())
        self._writes = Writes(self.name, capacity, Spool(spool) if spool is not None else None)
        self._backoff = Backoff(base=min(0.25, retry_max), cap=retry_max)
        self._rng = rng or random.Random()
        self._wake = asyncio.Event()
        self._kick = asyncio.Event()
        self._opened = asyncio.Event()
        self._hurry = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._hooks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._stopping = False
        self._shut = False
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._why = "not opened yet"
        self.failures = 0
        """Store calls that failed or timed out."""

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        """Open the backend if it answers; otherwise log one line and keep trying in the
        background. Raises only `StoreSetupError` (a missing driver)."""
        if self._writes.spool is not None:
            for kind, item in self._writes.spool.adopt():
                self._enqueue(kind, item)
        try:
            await self._open_inner()
        except StoreSetupError:
            raise
        except Exception as exc:
            self.failures += 1
            self._why = one_line(exc, self.timeout)
            self._down_since = time.monotonic()
            log.warning(
                "store %s is unreachable (%s): serving without it; incidents and state "
                "changes are queued and written when it answers",
                self.name,
                self._why,
            )
        self._task = asyncio.create_task(self._run(), name="failsoft-store-writer")

    async def close(self, *, flush: float | None = None) -> None:
        """Write what is queued (for up to `flush` seconds, default `timeout`), then close
        the backend (bounded too); after `hurry()` each step takes at most `HURRIED`.
        What is still queued is kept in the spool for the next start, or, without one,
        reported lost."""
        if self._shut:
            return
        self._closed = True  # from now on, writes are refused (and logged)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.timeout if flush is None else flush)
        self._stopping = True  # the writer stops after the write it is doing
        self._kick.set()
        self._wake.set()
        for hook in self._hooks:
            hook.cancel()
        tasks = [t for t in [self._task, *self._hooks] if t is not None]
        if tasks:
            await self._unless_hurried(asyncio.gather(*tasks, return_exceptions=True), self.timeout)
        self._writes.writing = None
        if self._opened.is_set():
            if self._writes and (left := deadline - loop.time()) > 0:
                await self._unless_hurried(self._drain(), left)  # the writer may be gone
            self._opened.clear()
            try:
                await self._unless_hurried(self.inner.close(), self.timeout + 1.0)
            except Exception as exc:
                log.warning("closing store %s: %s", self.name, one_line(exc, self.timeout))
        self._shut = True
        self._keep_or_report()

    def hurry(self) -> None:
        """Stop waiting (a second Ctrl-C): see `close()`."""
        self._hurry.set()

    def when_up(self, hook: Hook) -> None:
        """Run `hook` once the store is open and has the writes queued before it, retrying
        while it raises `StoreUnavailable` (e.g. load what the start could not)."""
        task = asyncio.create_task(self._until_done(hook), name="failsoft-store-hook")
        self._hooks.add(task)
        task.add_done_callback(self._hooks.discard)

    # ------------------------------------------------------------------ queued writes

    async def save_incident(self, incident: Incident) -> None:
        self._enqueue("incident", incident)

    async def add_transition(self, transition: Transition) -> None:
        self._enqueue("transition", transition)

    async def add_dead_letter(self, letter: DeadLetter) -> None:
        self._enqueue("dead_letter", letter)

    async def add_outbox(self, entry: OutboxEntry) -> None:
        self._enqueue("outbox", entry)

    async def drop_outbox(self, done: OutboxDone) -> None:
        self._enqueue("outbox_done", done)

    async def save_response(self, record: StoredResponse) -> None:
        self._enqueue("response", record)

    async def drop_response(self, done: ResponseDropped) -> None:
        self._enqueue("response_drop", done)

    # ------------------------------------------------------------------ bounded calls

    async def incidents(
        self, *, since: datetime | None = None, unresolved: bool = False, limit: int = 500
    ) -> list[Incident]:
        return await self._call(
            lambda: self.inner.incidents(since=since, unresolved=unresolved, limit=limit)
        )

    async def transitions(self, since: datetime) -> dict[str, list[Transition]]:
        return await self._call(lambda: self.inner.transitions(since))

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        return await self._call(lambda: self.inner.dead_letters(limit))

    async def outbox(self, limit: int = 10_000) -> list[OutboxEntry]:
        return await self._call(lambda: self.inner.outbox(limit))

    async def stored_response(self, ident: str, now: float) -> StoredResponse | None:
        return await self._call(lambda: self.inner.stored_response(ident, now))

    async def try_lead(self, name: str, holder: str, ttl: float, now: float) -> bool:
        return await self._call(lambda: self.inner.try_lead(name, holder, ttl, now))

    # Caller keys: written at once, not queued (whoever creates one must know it is kept
    # before being shown its secret), and bounded like the reads.

    async def add_key(self, key: StoredKey) -> None:
        await self._call(lambda: self.inner.add_key(key))

    async def rotate_key(
        self, ident: str, digest: str, at: float, previous: str | None, until: float | None
    ) -> bool:
        return await self._call(lambda: self.inner.rotate_key(ident, digest, at, previous, until))

    async def revoke_key(self, ident: str, at: float) -> bool:
        return await self._call(lambda: self.inner.revoke_key(ident, at))

    async def stored_keys(self) -> list[StoredKey]:
        return await self._call(self.inner.stored_keys)

    async def stored_key(self, ident: str) -> StoredKey | None:
        return await self._call(lambda: self.inner.stored_key(ident))

    async def keys_version(self) -> tuple[int, int, int]:
        return await self._call(self.inner.keys_version)

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    def __getattr__(self, name: str) -> Any:
        """Anything else of the backend (methods added later, `pool`...); its coroutine
        methods bounded like the reads."""
        if name.startswith("_") or name == "inner":
            raise AttributeError(name)
        attr = getattr(self.inner, name)
        if not inspect.iscoroutinefunction(attr):
            return attr

        async def bounded(*args: Any, **kwargs: Any) -> Any:
            return await self._call(lambda: attr(*args, **kwargs))

        return bounded

    def clear(self) -> None:
        """Forget what is queued, and what a memory backend holds (tests that share one
        gateway start clean)."""
        self._writes.clear()
        clear = getattr(self.inner, "clear", None)
        if clear is not None:
            clear()

    # ------------------------------------------------------------------ what is known

    @property
    def up(self) -> bool:
        return self._opened.is_set() and self._down_since is None

    @property
    def spool_path(self) -> Path | None:
        """The file writes waiting for the store are kept in, when there is a spool."""
        spool = self._writes.spool
        return None if spool is None else spool.path

    @property
    def why(self) -> str | None:
        """Why the store is away (one line), or None while it answers."""
        return None if self.up else self._why

    @property
    def queued(self) -> int:
        return len(self._writes)

    @property
    def dropped(self) -> int:
        return self._writes.dropped

    def pending_incidents(self) -> list[Incident]:
        """Incident saves not stored yet (the newest of each id)."""
        return self._writes.incidents()

    def pending_transitions(self) -> list[Transition]:
        return self._writes.transitions()

    # ------------------------------------------------------------------ internals

    def _enqueue(self, kind: Kind, item: Item) -> None:
        if self._closed:
            log.error("store %s is closed: %s not written", self.name, describe_item(item))
            return
        self._writes.add(kind, item, spool=not self.up)
        self._wake.set()

    async def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        if not self._opened.is_set():
            raise StoreUnavailable(f"store {self.name} is not open ({self._why})")
        if self._down_since is not None and (self._writes or time.monotonic() < self._retry_at):
            raise StoreUnavailable(f"store {self.name} is unreachable ({self._why})")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        try:
            async with asyncio.timeout_at(deadline):
                await self._writes.flushed(self._writes.last)
        except TimeoutError:
            raise StoreUnavailable(
                f"store {self.name}: {len(self._writes)} earlier writes still queued"
            ) from None
        try:
            async with asyncio.timeout_at(deadline):
                result = await make()
        except Exception as exc:
            if not transient(exc):
                raise
            self._failed(exc)
            raise StoreUnavailable(f"store {self.name}: {self._why}") from exc
        self._answered()
        return result

    async def _until_done(self, hook: Hook) -> None:
        failures = 0
        while True:
            await self._opened.wait()
            try:
                await hook()
                return
            except StoreUnavailable:
                failures += 1
                await asyncio.sleep(full_jitter(self._backoff, failures, self._rng))

    async def _unless_hurried(self, work: Awaitable[Any], seconds: float) -> None:
        """`work`, given up (cancelled) after `seconds`, or `HURRIED` after `hurry()`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        task = asyncio.ensure_future(work)
        hurry = asyncio.ensure_future(self._hurry.wait())
        try:
            await asyncio.wait({task, hurry}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
            if not task.done() and hurry.done():
                await asyncio.wait({task}, timeout=max(0.0, min(HURRIED, deadline - loop.time())))
        finally:
            hurry.cancel()
            if not task.done():
                task.cancel()
            await asyncio.gather(task, hurry, return_exceptions=True)
        error = None if task.cancelled() else task.exception()
        if error is not None and not isinstance(error, asyncio.CancelledError):
            raise error

    def _keep_or_report(self) -> None:
        """At the end of `close()`: what is still queued goes to the spool, or is lost."""
        left = len(self._writes)
        spool = self._writes.spool
        if spool is None:
            if left:
                log.error("store %s: %d queued writes lost at shutdown", self.name, left)
            return
        if not left:
            spool.clear()
            return
        self._writes.spool_all()
        spool.close()
        log.warning(
            "store %s: %d queued writes kept in %s for the next start", self.name, left, spool.path
        )
