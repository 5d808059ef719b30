"""What the status page shows, as one immutable snapshot.

The health side builds a `StatusSnapshot` (from its windows, incidents and the providers'
pages); the renderers (HTML, Statuspage v2 JSON) only read it. Keeping the two apart lets
the page be rendered from a fixture in tests and cached between requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from failsoft.health.callers import ModelService
from failsoft.health.types import (
    ComponentHealth,
    Incident,
    Indicator,
    ProviderStatus,
    Transition,
)


@dataclass(frozen=True)
class StatusSnapshot:
    page_id: str
    """A stable id for the page (Statuspage JSON `page.id`)."""
    title: str
    url: str
    """The page's public URL (`page.url`), e.g. `http://127.0.0.1:8080/status`."""
    now: datetime
    indicator: Indicator
    description: str
    """"All Systems Operational", "Partial System Outage", ..., or, when every caller was
    answered although a component failed, "All requests answered — ... failing"."""
    components: tuple[ComponentHealth, ...]
    """Every provider×model, in config order."""
    active: tuple[Incident, ...] = ()
    """Unresolved incidents and maintenances in progress, newest first."""
    history: tuple[Incident, ...] = ()
    """Resolved incidents within the history window, newest first."""
    scheduled: tuple[Incident, ...] = ()
    """Maintenance windows that have not started yet."""
    transitions: dict[str, tuple[Transition, ...]] = field(default_factory=dict)
    """Per component id, its state changes over the uptime window (oldest first), plus the
    state it was in at the window's start as the first entry."""
    providers: tuple[ProviderStatus, ...] = ()
    """What each provider's own status page says (only providers with `status_page`)."""
    uptime_days: int = 90
    refresh_seconds: int = 15
    callers: tuple[ModelService, ...] = ()
    """What each virtual model's callers got over the last `callers_window` seconds (the
    headline's evidence); empty: the page has no caller figures (then shown without)."""
    callers_window: float = 300.0
