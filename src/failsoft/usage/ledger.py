"""Spend per caller key, model and UTC day: counted in memory, written to the store in
batches, and read back so that every process (and instance) sees the fleet's spend.

On the request path only dict arithmetic runs (`charge`, `spent`); every store call and
every price-table lookup happens in one background task every `interval` seconds, which
adds what this process counted since its last write (`store.add_usage`) and then reloads
the month's totals of every key. A key's spend is those totals plus what this process has
not written yet, so a budget can be overshot by what the *other* processes spent in one
interval (docs/spend.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from failsoft.clock import Clock
from failsoft.config import Config
from failsoft.store.base import UsageRow
from failsoft.usage.meter import Usage
from failsoft.usage.prices import PriceBook

log = logging.getLogger("failsoft.usage")

FLUSH_INTERVAL = 5.0
"""Seconds between writes of the counted usage (and reloads of the fleet's totals)."""
MAX_ROWS = 100_000
"""Unwritten rows kept while the store is away; beyond, new rows are dropped (counted)."""

Key = tuple[str, str, str, str]
"""(key name, provider, model, day)."""


def day_of(wall: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(wall))


def period_start(day: str, period: str) -> str:
    """The first day of `day`'s budget period."""
    return day if period == "day" else day[:8] + "01"


def until_reset(wall: float, period: str) -> float:
    """Seconds until the period that `wall` falls in ends (UTC midnight, month's first)."""
    now = datetime.fromtimestamp(wall, UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        end = midnight + timedelta(days=1)
    else:
        first = midnight.replace(day=1)
        end = (first + timedelta(days=32)).replace(day=1)
    return max(1.0, (end - now).total_seconds())


class Ledger:
    def __init__(self, config: Config, store: Any, clock: Clock, interval: float = FLUSH_INTERVAL):
        self.config = config
        self.book = PriceBook(config.pricing)
        self.interval = interval
        self._store = store
        self._clock = clock
        self._pending: dict[Key, list[Any]] = {}
        """Counted, not yet written: [requests, input, output, cached, estimated, cost]."""
        self._inflight: dict[Key, list[Any]] = {}
        """Being written now (still counted in `spent`)."""
        self._loaded: dict[str, dict[str, float]] = {}
        """The store's totals this month: key → day → US dollars."""
        self._fresh: dict[str, dict[str, float]] = {}
        """Pending and in-flight cost: key → day → US dollars."""
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.on_charge: list[Any] = []
        """Called with (key, usages) after each charge (the `/metrics` counters)."""

    def reconfigure(self, config: Config) -> None:
        self.config = config
        if config.pricing != self.book.pricing:
            self.book = PriceBook(config.pricing)

    # ------------------------------------------------------------------ request path

    def charge(self, key: str, usages: list[Usage]) -> None:
        """Count one request's billed attempts against `key` (no I/O)."""
        if not usages:
            return
        day = day_of(self._clock.wall())
        fresh = self._fresh.setdefault(key, {})
        for u in usages:
            at = (key, u.provider, u.model, day)
            row = self._pending.get(at)
            if row is None:
                if len(self._pending) >= MAX_ROWS:
                    self.dropped += 1
                    continue
                row = self._pending[at] = [0, 0, 0, 0, 0, 0.0]
            rate = self.book.rate(u.provider, u.model)
            cost = 0.0 if rate is None else rate.cost(u.input, u.output, u.cached)
            row[0] += 1
            row[1] += u.input
            row[2] += u.output
            row[3] += u.cached
            if u.estimated:
                row[4] += u.input + u.output
            row[5] += cost
            fresh[day] = fresh.get(day, 0.0) + cost
        for hook in self.on_charge:
            hook(key, usages)

    def spent(self, key: str, period: str) -> float:
        """US dollars `key` spent in the current `period` (day or month, UTC), as far as
        this process knows: the store's totals at the last reload plus its own unwritten."""
        day = day_of(self._clock.wall())
        start = period_start(day, period)
        total = 0.0
        for days in (self._loaded.get(key), self._fresh.get(key)):
            if days:
                for d, cost in days.items():
                    if start <= d <= day:
                        total += cost
        return total

    # ------------------------------------------------------------------ background

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        """Stop, writing what is counted (bounded by the store's own timeout)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):
            await self.flush(reload=False)

    async def _run(self) -> None:
        while True:
            if self.config.auth is not None or self._pending:
                try:
                    await self.flush()
                except Exception:
                    log.exception("usage: flush failed")
            await asyncio.sleep(self.interval)

    async def flush(self, reload: bool = True) -> None:
        """Write what was counted since the last flush, then reload the month's totals."""
        batch: dict[Key, list[Any]] = {}
        if self._pending:
            batch, self._pending = self._pending, {}
            self._inflight = batch
            try:
                rows = await asyncio.to_thread(self._price, batch)
                await self._store.add_usage(rows)
            except Exception as exc:
                log.warning(
                    "usage: could not write %d rows to the store (%s); kept", len(batch), exc
                )
                for at, row in batch.items():
                    mine = self._pending.setdefault(at, [0, 0, 0, 0, 0, 0.0])
                    for i, v in enumerate(row):
                        mine[i] += v
                self._inflight = {}
                return
        if reload and self.config.auth is not None:
            day = day_of(self._clock.wall())
            try:
                totals = await self._store.spend(period_start(day, "month"), day)
            except Exception as exc:
                log.debug("usage: could not reload the totals (%s)", exc)
                self._fold(batch)
            else:
                loaded: dict[str, dict[str, float]] = {}
                for key, d, cost in totals:
                    loaded.setdefault(key, {})[d] = cost
                self._loaded = loaded
        else:
            self._fold(batch)
        self._inflight = {}
        self._refresh()

    def _fold(self, batch: dict[Key, list[Any]]) -> None:
        """Written but not reloaded: count it in the totals this process knows."""
        for (key, _, _, day), row in batch.items():
            days = self._loaded.setdefault(key, {})
            days[day] = days.get(day, 0.0) + row[5]

    def _refresh(self) -> None:
        fresh: dict[str, dict[str, float]] = {}
        for (key, _, _, day), row in self._pending.items():
            days = fresh.setdefault(key, {})
            days[day] = days.get(day, 0.0) + row[5]
        self._fresh = fresh

    def _price(self, batch: dict[Key, list[Any]]) -> list[UsageRow]:
        """The batch as rows, each priced at its model's rate (looked up if new: this
        runs in a worker thread)."""
        out = []
        providers = self.config.providers
        for (key, provider, model, day), row in batch.items():
            p = providers.get(provider)
            base_url = p.base_url if p is not None else ""
            dialect = p.dialect if p is not None else ""
            rate = self.book.resolve(provider, model, base_url, dialect)
            cost = 0.0 if rate is None else rate.cost(row[1], row[2], row[3])
            row[5] = cost
            out.append(UsageRow(key, provider, model, day, *_counts(row), cost))
        return out

    async def report(self, since: str, until: str, key: str | None) -> list[UsageRow]:
        """The store's rows, with what this process has not written yet added."""
        rows = {
            (r.key, r.provider, r.model, r.day): r
            for r in await self._store.usage(since, until, key)
        }
        for at, row in (*self._inflight.items(), *self._pending.items()):
            k, provider, model, day = at
            if (key and k != key) or not since <= day <= until:
                continue
            old = rows.get(at)
            base = (
                [0, 0, 0, 0, 0, 0.0]
                if old is None
                else [old.requests, old.input, old.output, old.cached, old.estimated, old.cost]
            )
            rows[at] = UsageRow(
                k, provider, model, day, *[a + b for a, b in zip(base, row, strict=True)]
            )
        return sorted(rows.values(), key=lambda r: (r.day, r.key, r.provider, r.model))


def _counts(row: list[Any]) -> tuple[int, int, int, int, int]:
    return int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4])
