"""The health vocabulary shared by the observers, the incident keeper, the status page and
the notifications: component states, incidents, provider-declared status.

Plain frozen dataclasses with UTC-aware datetimes, so every producer (passive windows,
probes, status-page pollers, the admin API) and every consumer (HTML page, Statuspage JSON,
webhooks, the store) speaks the same types without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

State = Literal[
    "operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"
]
"""A component's state, in Statuspage's words (component `status`)."""

STATES: tuple[State, ...] = (
    "operational",
    "degraded_performance",
    "partial_outage",
    "major_outage",
    "under_maintenance",
)
SEVERITY: dict[State, int] = {
    "operational": 0,
    "under_maintenance": 0,
    "degraded_performance": 1,
    "partial_outage": 2,
    "major_outage": 3,
}
"""How bad a state is; maintenance is planned, not an outage."""

Indicator = Literal["none", "minor", "major", "critical", "maintenance"]
"""A page's overall `status.indicator`; also an incident's `impact`."""

IncidentStatus = Literal["investigating", "identified", "monitoring", "resolved", "postmortem"]
MaintenanceStatus = Literal["scheduled", "in_progress", "verifying", "completed"]

DOWNTIME_WEIGHT: dict[State, float] = {
    "operational": 0.0,
    "under_maintenance": 0.0,
    "degraded_performance": 0.0,
    "partial_outage": 0.3,
    "major_outage": 1.0,
}
"""Minutes of downtime per minute in a state (Statuspage's uptime showcase, as documented by
Instatus): uptime % = (minutes − Σ weight × minutes in state) / minutes × 100."""


def worst(states: list[State] | tuple[State, ...]) -> State:
    """The most severe of `states` (operational when empty)."""
    found: State = "operational"
    for state in states:
        if SEVERITY[state] > SEVERITY[found] or (
            state == "under_maintenance" and found == "operational"
        ):
            found = state
    return found


DESCRIPTIONS: dict[Indicator, str] = {
    "none": "All Systems Operational",
    "minor": "Partially Degraded Service",
    "major": "Partial System Outage",
    "critical": "Major System Outage",
    "maintenance": "Service Under Maintenance",
}
"""Statuspage's own wording of each page indicator (for failsoft's page, and for provider
pages that state no description)."""


def indicator_for(state: State) -> Indicator:
    """A page indicator from the worst component state (Statuspage's usual mapping)."""
    return {
        "operational": "none",
        "under_maintenance": "maintenance",
        "degraded_performance": "minor",
        "partial_outage": "major",
        "major_outage": "critical",
    }[state]  # type: ignore[return-value]


# --------------------------------------------------------------------------- declared status


@dataclass(frozen=True)
class DeclaredUpdate:
    """One update of a provider-declared incident, as plain text."""

    status: str
    """`investigating`, `identified`, `monitoring`, `resolved`, `postmortem`, or `update`."""
    body: str
    at: datetime


@dataclass(frozen=True)
class DeclaredIncident:
    """An incident from a provider's own status page, normalised."""

    id: str
    name: str
    status: IncidentStatus
    impact: Indicator
    started_at: datetime
    updated_at: datetime
    resolved_at: datetime | None = None
    url: str | None = None
    components: tuple[str, ...] = ()
    """Names of the provider's components it affects."""
    updates: tuple[DeclaredUpdate, ...] = ()
    """Newest first, as the pages list them."""
    maintenance: bool = False
    scheduled_for: datetime | None = None
    scheduled_until: datetime | None = None


@dataclass(frozen=True)
class DeclaredComponent:
    id: str
    name: str
    state: State
    group: str | None = None
    """The name of the group the component belongs to, if any."""


@dataclass(frozen=True)
class ProviderStatus:
    """What a provider's status page says, at `fetched_at`."""

    provider: str
    page_url: str
    indicator: Indicator
    description: str
    components: tuple[DeclaredComponent, ...] = ()
    incidents: tuple[DeclaredIncident, ...] = ()
    """Unresolved incidents and in-progress maintenances."""
    fetched_at: datetime | None = None
    error: str | None = None
    """Why the last poll failed (the rest is then the last good reading, possibly stale)."""


# --------------------------------------------------------------------------- failsoft's own


@dataclass(frozen=True)
class IncidentUpdate:
    status: IncidentStatus
    body: str
    at: datetime
    state: State | None = None
    """The affected components' worst state at this update."""


@dataclass(frozen=True)
class Incident:
    """An incident failsoft opened itself (or an operator opened through the admin API)."""

    id: str
    title: str
    status: IncidentStatus
    impact: Indicator
    started_at: datetime
    updated_at: datetime
    resolved_at: datetime | None = None
    components: tuple[str, ...] = ()
    """Component ids (`provider/model`) it affects."""
    updates: tuple[IncidentUpdate, ...] = ()
    """Newest first."""
    source: Literal["auto", "manual", "maintenance"] = "auto"
    peak_error_rate: float = 0.0
    requests_failed_over: int = 0
    requests_lost: int = 0
    scheduled_for: datetime | None = None
    scheduled_until: datetime | None = None


@dataclass(frozen=True)
class Transition:
    """A component entered `state` at `at`: uptime is computed from these."""

    component: str
    state: State
    at: datetime


@dataclass(frozen=True)
class ComponentHealth:
    """One provider×model as the status page, the admin API and the webhooks show it."""

    id: str
    """`provider/model`."""
    provider: str
    model: str
    state: State
    breaker: str = "closed"
    requests_1m: int = 0
    error_rate_1m: float = 0.0
    error_rate_5m: float = 0.0
    error_rate_1h: float = 0.0
    errors_by_class_5m: dict[str, int] = field(default_factory=dict)
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    ttft_p50_ms: float | None = None
    ttft_p95_ms: float | None = None
    declared: State | None = None
    """The provider's own page's state for the component mapped to this model, if any."""
    since: datetime | None = None
    """When the current state began."""
