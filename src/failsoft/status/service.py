"""Serves the status page: builds a `StatusSnapshot` from the health monitor and the store,
renders it, and caches the rendering for a moment.

The page is public and may be polled by many browsers and monitors at once; a snapshot
needs store reads (history, transitions), so one snapshot serves every request for
`CACHE_SECONDS`, and rendered bodies are cached per snapshot.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from failsoft.assemble import Runtime
from failsoft.health.types import DESCRIPTIONS, SEVERITY, Incident, indicator_for, worst
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

    async def snapshot(self) -> StatusSnapshot:
        clock = self.runtime.health.clock
        async with self._lock:
            stale = self._generation != self.runtime.generation
            if stale or self._snapshot is None or clock.monotonic() - self._taken >= CACHE_SECONDS:
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
        components = tuple(health.health())
        stored = await self.runtime.store.incidents(since=since)
        active = {i.id: i for i in health.keeper.active.values()}
        for incident in stored:  # the keeper's copy is the freshest (live counters)
            if incident.resolved_at is None and incident.id not in active:
                active[incident.id] = incident
        current = [i for i in active.values() if not _scheduled_later(i, now)]
        scheduled = [i for i in active.values() if _scheduled_later(i, now)]
        history = [i for i in stored if i.resolved_at is not None]
        transitions = {
            key: tuple(items)
            for key, items in (await self.runtime.store.transitions(since)).items()
        }
        state = worst([c.state for c in components])
        for incident in current:
            # An incident an operator declared counts even when traffic looks fine.
            if incident.source == "manual" and SEVERITY[state] < SEVERITY["partial_outage"]:
                state = "partial_outage" if incident.impact != "minor" else "degraded_performance"
        indicator = indicator_for(state)
        return StatusSnapshot(
            page_id="failsoft",
            title=config.title,
            url=self.runtime.status_url,
            now=now,
            indicator=indicator,
            description=DESCRIPTIONS[indicator],
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
        )


def _scheduled_later(incident: Incident, now: Any) -> bool:
    start = incident.scheduled_for
    return incident.source == "maintenance" and start is not None and start > now
