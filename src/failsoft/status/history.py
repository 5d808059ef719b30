"""The page's history (incidents, state changes) from the store, and what the page shows
when the store is away: the history the store last gave, plus the changes still queued for
it. Rendering never waits on the store longer than `store.timeout`, and never fails
because of it.
"""

from __future__ import annotations

import logging
from datetime import datetime

from failsoft.health.types import Incident, Transition
from failsoft.store import StoreUnavailable
from failsoft.store.queue import QueuedStore

log = logging.getLogger("failsoft.status")

Stored = tuple[list[Incident], dict[str, list[Transition]]]


class History:
    def __init__(self, store: QueuedStore) -> None:
        self.store = store
        self._last: Stored = ([], {})
        self.complete = True
        """Whether the last `read` came from the store (not from what the process knows)."""

    async def read(self, since: datetime) -> Stored:
        """Incidents started or resolved since `since` (and unresolved ones), and each
        component's state changes since then, oldest first, after the state it was in."""
        try:
            incidents = await self.store.incidents(since=since)
            transitions = await self.store.transitions(since)
        except StoreUnavailable as exc:
            if self.complete:  # (the store has said, once, that it is away)
                log.debug("status page: history from memory until the store answers (%s)", exc)
            self.complete = False
            last_incidents, last_transitions = self._last
            return (
                _incidents(last_incidents, self.store.pending_incidents(), since),
                _transitions(last_transitions, self.store.pending_transitions(), since),
            )
        self.complete = True
        self._last = (incidents, transitions)
        return incidents, transitions


def _incidents(stored: list[Incident], queued: list[Incident], since: datetime) -> list[Incident]:
    found = {i.id: i for i in stored}
    for incident in queued:  # newer than the stored copy
        if incident.resolved_at is None or incident.resolved_at >= since:
            found[incident.id] = incident
    return sorted(found.values(), key=lambda i: i.started_at, reverse=True)


def _transitions(
    stored: dict[str, list[Transition]], queued: list[Transition], since: datetime
) -> dict[str, list[Transition]]:
    out: dict[str, list[Transition]] = {}
    for component in {*stored, *(t.component for t in queued)}:
        items = {(t.state, t.at): t for t in stored.get(component, ())}
        items.update({(t.state, t.at): t for t in queued if t.component == component})
        ordered = sorted(items.values(), key=lambda t: t.at)
        before = [t for t in ordered if t.at < since]
        out[component] = before[-1:] + [t for t in ordered if t.at >= since]
    return out
