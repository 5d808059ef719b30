"""Keeps this process's copy of the store's keys current, in the background.

Every `auth.refresh` seconds (0.5 by default) one small query asks the store whether any
key changed (`keys_version`, a fingerprint); only then are the keys read again. A change
made in this process (the admin API) refreshes at once, and with `state.url` set, a change
made anywhere is also announced on a Redis channel that every process listens to, so it
applies within a round trip rather than a poll. A store that is away changes nothing: the
keys last loaded keep working, one line says so, one more when it answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from failsoft.auth.stored import StoredKeys
from failsoft.clock import SYSTEM_CLOCK, Clock
from failsoft.config import Config
from failsoft.readiness import Check

if TYPE_CHECKING:
    from failsoft.auth.notice import KeyNotice
    from failsoft.store import QueuedStore

log = logging.getLogger("failsoft.auth")


class KeyWatch:
    def __init__(self, config: Config, store: QueuedStore, clock: Clock = SYSTEM_CLOCK) -> None:
        self.keys = StoredKeys()
        self.store = store
        self.clock = clock
        self.refresh = 0.5
        self._seen: tuple[int, int, int] | None = None
        self._kick = asyncio.Event()
        self._one = asyncio.Lock()
        """One check at a time: a poll that read the keys before a change must not install
        them after the admin API's check installed the newer ones."""
        self._task: asyncio.Task[None] | None = None
        self._away: str | None = None
        self._began = False
        self._declared: frozenset[str] = frozenset()
        self._clash: frozenset[str] = frozenset()
        self.loads = 0
        """How many times the keys were read (tests, metrics)."""
        self.notice: KeyNotice | None = None
        if config.state.url:
            from failsoft.auth.notice import KeyNotice  # redis, only when configured

            self.notice = KeyNotice(config.state, clock, random.Random(), self.kick)
        self.reconfigure(config)

    def reconfigure(self, config: Config) -> None:
        """`auth.refresh` and `auth.limits` of a (reloaded) config; starts watching when
        a reload adds the `auth` section to a running gateway."""
        if config.auth is None:
            return
        self.refresh = config.auth.refresh
        self.keys.defaults(config.auth.limits)
        self._declared = frozenset(k.name for k in config.auth.keys)
        self._warn_clash()
        if self._began:
            self.start()

    async def begin(self, config: Config) -> None:
        """At the gateway's start, once the store is open: load the keys (if the store
        answers) and watch them, when the config asks for keys."""
        self._began = True
        if config.auth is not None:
            await self.check()
            self.start()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="failsoft-keys")
            if self.notice is not None:
                self.notice.start()

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.notice is not None:
            await self.notice.close()

    def kick(self) -> None:
        """Check the store now (a change was announced)."""
        self._kick.set()

    async def changed(self) -> None:
        """A key was written here: reload at once, and tell the other processes."""
        await self.check()
        if self.notice is not None:
            self.notice.announce()

    async def check(self) -> bool:
        """Reload the keys if the store says they changed; True if it answered. Never
        raises: a store that is away is logged once, and the last keys kept."""
        async with self._one:
            return await self._check()

    async def _check(self) -> bool:
        try:
            version = await self.store.keys_version()
            if version != self._seen:
                rows = await self.store.stored_keys()
                self.keys.load(rows, self.clock.wall())
                self._seen = version
                self.loads += 1
                self._warn_clash()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # StoreUnavailable, or anything the backend raised
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if self._away is None:
                log.warning(
                    "caller keys: the store does not answer (%s); serving the %d keys last "
                    "loaded until it does",
                    why,
                    len(self.keys),
                )
            self._away = why
            return False
        if self._away is not None:
            log.warning("caller keys: the store answers again; %d keys loaded", len(self.keys))
            self._away = None
        return True

    @property
    def why(self) -> str | None:
        """Why the keys may be stale (one line), or None."""
        return self._away

    def ready(self) -> Check:
        """For `/readyz`: reported, never making the process unready (the last keys work)."""
        detail = "" if self._away is None else f"serving the keys last loaded: {self._away}"
        return Check("keys", self._away is None, detail, required=False)

    def metrics(self) -> Iterator[Metric]:
        """How many stored keys this process knows, whether they may be stale, and how
        often they were read (counts only: no name, no id)."""
        known = GaugeMetricFamily(
            "failsoft_auth_stored_keys", "Live keys from the store this process accepts."
        )
        known.add_metric([], len(self.keys))
        yield known
        stale = GaugeMetricFamily(
            "failsoft_auth_stored_keys_stale",
            "1 while the store does not answer and the keys last loaded are served, else 0.",
        )
        stale.add_metric([], 0.0 if self._away is None else 1.0)
        yield stale
        yield CounterMetricFamily(
            "failsoft_auth_stored_keys_loads",
            "Times the keys were read from the store (each time they changed).",
            value=self.loads,
        )

    def _warn_clash(self) -> None:
        """A name both in the config and in the store (the config gained it after the store
        did): both keys work, and share the name's cache and limits. Said once per change."""
        clash = frozenset(self.keys.names()) & self._declared
        if clash and clash != self._clash:
            log.warning(
                "caller keys: %s named both in auth.keys and in the store; both work and "
                "share the name's cache and limits: rename or revoke one",
                ", ".join(sorted(clash)),
            )
        self._clash = clash

    async def _run(self) -> None:
        while True:
            self._kick.clear()
            await self.check()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), self.refresh)
