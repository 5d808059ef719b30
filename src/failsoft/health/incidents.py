"""Incidents: opened, updated and resolved by failsoft itself, or by an operator.

An incident opens when a model has been at `health.incident_at` or worse for
`health.open_after` seconds. Models of the same provider that go bad while one is open join
it (a provider's bad hour is usually one incident, not one per model). It is `monitoring`
once every model in it is back below the threshold, and resolved `resolve_after` seconds
after the last failure of its models, whether or not traffic reached them since (or, while
failures too few for the threshold go on, after that long below it); trouble during
monitoring sends it back to `investigating`. Every change comes out as an event for the
store and the webhooks; nothing here does I/O.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from failsoft.config import HealthConfig
from failsoft.health.types import (
    SEVERITY,
    Incident,
    IncidentStatus,
    IncidentUpdate,
    Indicator,
    State,
    indicator_for,
    worst,
)

_OUTCOME_WORDS = {
    "429": "429 rate limited",
    "500": "500 server errors",
    "502": "502 bad gateway",
    "503": "503 unavailable",
    "504": "504 gateway timeouts",
    "529": "529 overloaded",
    "401": "401 credentials rejected",
    "402": "402 payment required",
    "403": "403 forbidden",
    "first_byte_timeout": "no response",
    "first_token_timeout": "slow first tokens",
    "idle_timeout": "stalled streams",
    "connect_timeout": "connection timeouts",
    "deadline": "timeouts",
    "reset": "connection resets",
    "connect": "connection refused",
    "cut": "broken streams",
    "truncated": "truncated streams",
    "stream_error": "errors mid-stream",
    "malformed": "malformed responses",
}
_STATE_WORDS = {
    "operational": "operational",
    "degraded_performance": "degraded",
    "partial_outage": "a partial outage",
    "major_outage": "a major outage",
    "under_maintenance": "under maintenance",
}

CREDENTIALS_OUTCOME = "401"
"""The trail outcome of a provider rejecting failsoft's key (whatever status it used)."""

Event = tuple[str, Incident]
"""(`incident.opened` | `incident.updated` | `incident.resolved`, the incident now)."""


@dataclass(frozen=True)
class ComponentView:
    """One component at one evaluation, as the keeper needs it."""

    id: str
    provider: str
    model: str
    state: State
    error_rate: float | None
    top_outcome: str | None = None
    requests: int = 0
    last_failure: float | None = None
    """When its last failed attempt ended (the keeper's clock), if any is remembered."""


def reason(outcome: str | None) -> str:
    if outcome is None:
        return "errors"
    return _OUTCOME_WORDS.get(outcome, f"{outcome} errors" if outcome.isdigit() else outcome)


def describe(view: ComponentView) -> str:
    text = f"{view.id} is in {_STATE_WORDS[view.state]}"
    if view.error_rate is not None and view.requests:
        text += f": {view.error_rate:.0%} of {view.requests} attempts failed"
        if view.top_outcome:
            text += f", mostly {reason(view.top_outcome)}"
    return text


def new_id() -> str:
    return secrets.token_hex(6)


class IncidentKeeper:
    def __init__(self, config: HealthConfig, *, ids: Callable[[], str] = new_id) -> None:
        self.config = config
        self._ids = ids
        self.active: dict[str, Incident] = {}
        """Unresolved incidents by id (automatic, manual and maintenance)."""
        self._bad_since: dict[str, float] = {}
        self._quiet_since: dict[str, float] = {}
        self._states: dict[tuple[str, str], State] = {}
        """(incident id, component) → the state its last update reported."""
        self.dirty: set[str] = set()
        """Incidents whose request counters changed since they were last saved."""

    # ------------------------------------------------------------------ automatic

    def load(self, incidents: Iterable[Incident]) -> None:
        """Unresolved incidents from the store, after a restart."""
        for incident in incidents:
            if incident.resolved_at is None:
                self.active[incident.id] = incident

    def covering(self, component: str) -> list[Incident]:
        return [i for i in self.active.values() if component in i.components]

    def under_maintenance(self, now: datetime) -> set[str]:
        found: set[str] = set()
        for incident in self.active.values():
            if incident.source == "maintenance" and _in_window(incident, now):
                found.update(incident.components)
        return found

    def observe(self, views: list[ComponentView], mono: float, now: datetime) -> list[Event]:
        events: list[Event] = []
        threshold = SEVERITY[self.config.incident_at]
        by_id = {v.id: v for v in views}
        due: list[ComponentView] = []
        for view in views:
            if SEVERITY[view.state] >= threshold and view.state != "under_maintenance":
                started = self._bad_since.setdefault(view.id, mono)
                if mono - started >= self.config.open_after and not self._auto_for(view.id):
                    due.append(view)
            else:
                self._bad_since.pop(view.id, None)
        for view in due:
            joined = self._open_for_provider(view.provider)
            if joined is None:
                events.append(self._open(view, now))
            else:
                events.append(self._join(joined, view, now))
        for incident in list(self.active.values()):
            if incident.source != "auto":
                continue
            event = self._follow(incident, by_id, mono, now)
            if event is not None:
                events.append(event)
        return events

    def _auto_for(self, component: str) -> Incident | None:
        for incident in self.active.values():
            if incident.source == "auto" and component in incident.components:
                return incident
        return None

    def _open_for_provider(self, provider: str) -> Incident | None:
        for incident in self.active.values():
            if incident.source == "auto" and any(
                c.partition("/")[0] == provider for c in incident.components
            ):
                return incident
        return None

    def _open(self, view: ComponentView, now: datetime) -> Event:
        title = f"Elevated errors on {view.model} ({reason(view.top_outcome)})"
        body = describe(view) + ". failsoft is sending its requests to the next targets."
        if view.top_outcome == CREDENTIALS_OUTCOME:
            # Not the provider's outage but the gateway's key: say who must act.
            title = _credentials_title(view.provider, [view.model])
            body = (
                f"{describe(view)}. {view.provider} rejects failsoft's credentials: the "
                f"gateway's operator must fix providers.{view.provider}.api_key. failsoft is "
                "sending its requests to the next targets meanwhile."
            )
        elif view.top_outcome is None and view.error_rate is None:
            title = f"Degraded service on {view.model}"
        update = IncidentUpdate("investigating", body, now, view.state)
        incident = Incident(
            id=self._ids(),
            title=title,
            status="investigating",
            impact=_impact(view.state),
            started_at=now,
            updated_at=now,
            components=(view.id,),
            updates=(update,),
            peak_error_rate=view.error_rate or 0.0,
        )
        self.active[incident.id] = incident
        self._states[(incident.id, view.id)] = view.state
        return "incident.opened", incident

    def _join(self, incident: Incident, view: ComponentView, now: datetime) -> Event:
        models = [c.partition("/")[2] for c in incident.components] + [view.model]
        head, _, tail = incident.title.partition(" (")
        title = f"Elevated errors on {_join_words(models)}" + (f" ({tail}" if tail else "")
        if head.startswith("Credentials rejected"):
            title = _credentials_title(view.provider, models)
        elif not head.startswith("Elevated errors on"):
            title = incident.title
        update = IncidentUpdate("investigating", "Also affected: " + describe(view) + ".", now)
        changed = dataclasses.replace(
            incident,
            title=title,
            status="investigating",
            components=(*incident.components, view.id),
            updated_at=now,
            updates=(update, *incident.updates),
            impact=_max_impact(incident.impact, _impact(view.state)),
            peak_error_rate=max(incident.peak_error_rate, view.error_rate or 0.0),
        )
        self.active[changed.id] = changed
        self._states[(changed.id, view.id)] = view.state
        self._quiet_since.pop(changed.id, None)
        return "incident.updated", changed

    def _follow(
        self, incident: Incident, views: dict[str, ComponentView], mono: float, now: datetime
    ) -> Event | None:
        threshold = SEVERITY[self.config.incident_at]
        mine = [views[c] for c in incident.components if c in views]
        bad = [v for v in mine if SEVERITY[v.state] >= threshold]
        peak = max([incident.peak_error_rate, *(v.error_rate or 0.0 for v in bad)])
        notes = []
        for view in mine:
            key = (incident.id, view.id)
            before = self._states.get(key, view.state)
            # Changes below the threshold (degraded → operational) are not news.
            if before != view.state and max(SEVERITY[before], SEVERITY[view.state]) >= threshold:
                notes.append(describe(view))
            self._states[key] = view.state
        status: IncidentStatus = incident.status
        if bad:
            self._quiet_since.pop(incident.id, None)
            if incident.status == "monitoring":
                status = "investigating"
                notes.insert(0, "Errors are back")
        else:
            quiet = self._quiet_since.setdefault(incident.id, mono)
            failed = [v.last_failure for v in mine if v.last_failure is not None]
            if failed and max(failed) < quiet:
                # Quiet since its last failure, whether or not traffic reached it since.
                quiet = max(failed)
            if mono - quiet >= self.config.resolve_after:
                return self._resolve(incident, now, "Every affected model has been healthy "
                                     f"for {self.config.resolve_after:g}s. Resolved.")  # fmt: skip
            if incident.status != "monitoring":
                status = "monitoring"
                notes = ["Error rates are back to normal; failsoft is monitoring"]
        if not notes and status == incident.status and peak == incident.peak_error_rate:
            return None
        worst_now = worst([v.state for v in mine]) if mine else None
        impact = _max_impact(incident.impact, _impact(worst_now or "operational"))
        updates = incident.updates
        if notes:
            updates = (IncidentUpdate(status, ". ".join(notes) + ".", now, worst_now), *updates)
        changed = dataclasses.replace(
            incident,
            status=status,
            impact=impact,
            updated_at=now if notes else incident.updated_at,
            updates=updates,
            peak_error_rate=peak,
        )
        self.active[incident.id] = changed
        return ("incident.updated", changed) if notes else None

    def _resolve(self, incident: Incident, now: datetime, body: str) -> Event:
        update = IncidentUpdate("resolved", body, now, "operational")
        done = dataclasses.replace(
            incident,
            status="resolved",
            resolved_at=now,
            updated_at=now,
            updates=(update, *incident.updates),
        )
        self.active.pop(incident.id, None)
        self._quiet_since.pop(incident.id, None)
        for component in incident.components:
            self._states.pop((incident.id, component), None)
        return "incident.resolved", done

    # ------------------------------------------------------------------ counting

    def count(self, component: str, lost: bool, n: int = 1) -> None:
        """`n` requests that needed `component` and did not get an answer from it."""
        if n <= 0:
            return
        for incident in self.covering(component):
            if incident.source == "maintenance":
                continue
            field = "requests_lost" if lost else "requests_failed_over"
            self.active[incident.id] = dataclasses.replace(
                incident, **{field: getattr(incident, field) + n}
            )
            self.dirty.add(incident.id)

    def drop_component(self, component: str) -> None:
        """A component no longer kept (a directly named target forgotten past the bound):
        its pending bad state goes; an incident about it resolves as the quiet one it is."""
        self._bad_since.pop(component, None)

    def forget(self, incident_id: str) -> None:
        """Stop following an incident that another process resolved."""
        incident = self.active.pop(incident_id, None)
        self._quiet_since.pop(incident_id, None)
        self.dirty.discard(incident_id)
        for component in incident.components if incident is not None else ():
            self._states.pop((incident_id, component), None)

    # ------------------------------------------------------------------ by hand

    def create(
        self,
        *,
        title: str,
        components: tuple[str, ...],
        body: str,
        now: datetime,
        impact: Indicator = "major",
        status: IncidentStatus = "investigating",
        maintenance: bool = False,
        scheduled_for: datetime | None = None,
        scheduled_until: datetime | None = None,
    ) -> Event:
        incident = Incident(
            id=self._ids(),
            title=title,
            status=status,
            impact="maintenance" if maintenance else impact,
            started_at=scheduled_for if maintenance and scheduled_for else now,
            updated_at=now,
            components=components,
            updates=(IncidentUpdate(status, body, now),),
            source="maintenance" if maintenance else "manual",
            scheduled_for=scheduled_for,
            scheduled_until=scheduled_until,
        )
        self.active[incident.id] = incident
        return "incident.opened", incident

    def update(
        self, incident_id: str, *, body: str, now: datetime, status: IncidentStatus | None = None
    ) -> Event:
        incident = self.active[incident_id]
        if status == "resolved":
            return self._resolve(incident, now, body)
        new_status = status or incident.status
        changed = dataclasses.replace(
            incident,
            status=new_status,
            updated_at=now,
            updates=(IncidentUpdate(new_status, body, now), *incident.updates),
        )
        self.active[incident_id] = changed
        return "incident.updated", changed

    def expire_maintenance(self, now: datetime) -> list[Event]:
        """Maintenance windows whose end has passed are completed."""
        events = []
        for incident in list(self.active.values()):
            until = incident.scheduled_until
            if incident.source == "maintenance" and until is not None and until <= now:
                events.append(self._resolve(incident, now, "The maintenance window is over."))
        return events


def _in_window(incident: Incident, now: datetime) -> bool:
    start = incident.scheduled_for or incident.started_at
    end = incident.scheduled_until
    return start <= now and (end is None or now < end)


def _impact(state: State) -> Indicator:
    found = indicator_for(state)
    return "none" if found == "maintenance" else found


_IMPACT_ORDER = {"none": 0, "maintenance": 0, "minor": 1, "major": 2, "critical": 3}


def _max_impact(a: Indicator, b: Indicator) -> Indicator:
    return a if _IMPACT_ORDER[a] >= _IMPACT_ORDER[b] else b


def _credentials_title(provider: str, models: list[str]) -> str:
    return f"Credentials rejected by {provider} for {_join_words(models)}"


def _join_words(words: list[str]) -> str:
    if len(words) <= 2:
        return " and ".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]
