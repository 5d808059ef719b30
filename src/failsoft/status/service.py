"""Serves the status page: builds a `StatusSnapshot` from the health monitor and the store,
renders it, and caches the rendering for a moment.

The page is public and may be polled by many browsers and monitors at once; a snapshot
needs store reads (history, transitions), so one snapshot serves every request for
`CACHE_SECONDS`, and rendered bodies are cached per snapshot.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from failsoft.assemble import Runtime
from failsoft.health.callers import ModelService, Summary, assess, headline, worse
from failsoft.health.types import DESCRIPTIONS, Incident, Indicator, State
from failsoft.status.history import History
from failsoft.status.html import content_security_policy, render_html
from failsoft.status.model import StatusSnapshot
from failsoft.status.statuspage_json import ENDPOINTS

CACHE_SECONDS = 2.0


class StatusService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._snapshot: StatusSnapshot | None = None
        self._taken = -1e9
        self._generation = runtime.generation
        self._rendered: dict[str, bytes] = {}
        self._lock = asyncio.Lock()
        self.csp = content_security_policy()
        self._history = History(runtime.store)
        """Store reads, bounded; from memory and the write queue while the store is away."""
        self._models: dict[str, tuple[State, datetime, datetime]] = {}
        """Per virtual model shown: its state, since when, and when first shown."""

    async def snapshot(self) -> StatusSnapshot:
        clock = self.runtime.health.clock
        async with self._lock:
            stale = self._generation != self.runtime.generation
            if stale or self._snapshot is None or clock.monotonic() - self._taken >= CACHE_SECONDS:
                if stale:
                    self._models.clear()
                self._generation = self.runtime.generation
                self._snapshot = await self._build()
                self._taken = clock.monotonic()
                self._rendered = {}
            return self._snapshot

    async def render(self, what: str) -> bytes:
        """`html`, or an `ENDPOINTS` key (`summary.json`, ...)."""
        snap = await self.snapshot()
        found = self._rendered.get(what)
        if found is None:
            found = render_html(snap) if what == "html" else ENDPOINTS[what](snap)
            self._rendered[what] = found
        return found

    async def _build(self) -> StatusSnapshot:
        health = self.runtime.health
        config = self.runtime.config.status
        now = health.now()
        since = now - timedelta(days=config.history_days)
        components = tuple(await health.health_in_steps())
        stored, stored_transitions = await self._history.read(since)
        active = {i.id: i for i in health.keeper.active.values()}
        for incident in stored:  # the keeper's copy is the freshest (live counters)
            if incident.resolved_at is None and incident.id not in active:
                active[incident.id] = incident
        current = [i for i in active.values() if not _scheduled_later(i, now)]
        scheduled = [i for i in active.values() if _scheduled_later(i, now)]
        history = [i for i in stored if i.resolved_at is not None]
        transitions = {key: tuple(items) for key, items in stored_transitions.items()}
        states = {c.id: c.state for c in components}
        callers = self._since(assess(self.callers(), self._plans(), states, config.callers), now)
        indicator, description = headline(callers, states, config.callers.window)
        for incident in current:
            # An incident an operator declared counts even when traffic looks fine.
            if incident.source == "manual":
                floor: Indicator = "minor" if incident.impact == "minor" else "major"
                if worse(indicator, floor) != indicator:
                    indicator, description = floor, DESCRIPTIONS[floor]
        return StatusSnapshot(
            page_id="failsoft",
            title=config.title,
            url=self.runtime.status_url,
            now=now,
            indicator=indicator,
            description=description,
            components=components,
            active=tuple(sorted(current, key=lambda i: i.started_at, reverse=True)),
            history=tuple(sorted(history, key=lambda i: i.started_at, reverse=True)),
            scheduled=tuple(sorted(scheduled, key=lambda i: i.started_at)),
            transitions=transitions,
            providers=tuple(
                health.declared[name]
                for name, provider in self.runtime.config.providers.items()
                if provider.status_page and name in health.declared
            ),
            uptime_days=config.history_days,
            refresh_seconds=config.refresh,
            callers=callers,
            callers_window=config.callers.window,
        )

    def callers(self) -> Summary:
        """What the callers of every process sharing the store got (`HealthMonitor.callers`
        merges the others' summaries, as of their last evaluation, with this one's)."""
        return self.runtime.health.callers()

    def _plans(self) -> dict[str, tuple[str, ...]]:
        return {
            name: tuple(t.label for t in plan.targets)
            for name, plan in self.runtime.config.models.items()
        }

    def _since(self, models: tuple[ModelService, ...], now: datetime) -> tuple[ModelService, ...]:
        """Each model's state with when it began (as seen by this page), so the JSON's
        `updated_at` moves only when a state changes."""
        out = []
        for m in models:
            seen = self._models.get(m.name)
            if seen is None or seen[0] != m.state:
                # (bounded: `CallerTally` keeps a bounded set of model names)
                seen = self._models[m.name] = (m.state, now, seen[2] if seen else now)
            out.append(replace(m, since=seen[1], first_seen=seen[2]))
        if len(self._models) > 2 * len(models) + 64:
            # Names other processes showed come and go: keep those shown now.
            shown = {m.name for m in models}
            self._models = {k: v for k, v in self._models.items() if k in shown}
        return tuple(out)


def _scheduled_later(incident: Incident, now: Any) -> bool:
    start = incident.scheduled_for
    return incident.source == "maintenance" and start is not None and start > now
