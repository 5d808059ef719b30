"""incident.io's own status-page JSON, read into `ProviderStatus`: parsing only, no I/O.

Two shapes: `{"summary": {...}}` from the widget's `/proxy/<host>`, and the flat
`/api/v1/summary`. (incident.io also serves a Statuspage-compatible `summary.json`; that is
`statuspage.parse_statuspage`'s.) Fields are normalised as in `page_fields`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from failsoft.health.page_fields import (
    LEVEL_STATE,
    Slot,
    StatusPageError,
    as_dict,
    derive_indicator,
    dicts_of,
    first_time,
    flatten_rich_text,
    parse_time,
    provider_status,
    raise_state,
    shape_of,
    slot_for,
    text_of,
    to_level,
    to_state,
    to_status,
    unique,
    update_status,
)
from failsoft.health.types import (
    DeclaredComponent,
    DeclaredIncident,
    DeclaredUpdate,
    ProviderStatus,
    indicator_for,
    worst,
)

WIDGET_KEYS = {"ongoing_incidents", "in_progress_maintenances", "affected_components", "structure"}
"""Keys of incident.io's widget that no Statuspage summary has."""

_MESSAGE_KEYS = ("message_string", "message", "body", "text")
_START_KEYS = ("published_at", "started_at", "created_at", "starts_at")


def parse_incidentio_widget(
    obj: Any, provider: str, page_url: str, fetched_at: datetime
) -> ProviderStatus:
    """incident.io's own JSON: `{"summary": {...}}` from `/proxy/<host>`, or the flat
    `/api/v1/summary`. Neither states a page indicator, so one is derived."""
    wrapped = obj.get("summary") if isinstance(obj, dict) else None
    page = wrapped if isinstance(wrapped, dict) else obj
    if not isinstance(page, dict) or not (WIDGET_KEYS | {"components"}) & page.keys():
        raise StatusPageError(
            f"{provider}: not an incident.io widget (want ongoing_incidents, "
            f"in_progress_maintenances, affected_components; got {shape_of(obj)})"
        )
    base = text_of(page.get("public_url")) or text_of(page.get("page_url")) or page_url
    slots: dict[str, Slot] = {}
    for item in dicts_of(as_dict(page.get("structure")).get("items")):
        group = as_dict(item.get("group"))
        for child in dicts_of(group.get("components")) or [as_dict(item.get("component"))]:
            slot_for(slots, child, text_of(group.get("name")) or None)
    for item in dicts_of(page.get("components")):
        slot_for(slots, item)
    # The page-wide list, when there is one, is the authority on component states; else the
    # states are inferred from what the open incidents and maintenances affect.
    explicit = isinstance(page.get("affected_components"), list)
    for item in dicts_of(page.get("affected_components")):
        slot_for(slots, item).state = to_state(item.get("status"))
    args = (slots, base.rstrip("/"), fetched_at, explicit)
    incidents = [_io_incident(raw, *args, False) for raw in dicts_of(page.get("ongoing_incidents"))]
    incidents = [i for i in incidents if i.status not in ("resolved", "postmortem")]
    incidents += [
        _io_incident(r, *args, True) for r in dicts_of(page.get("in_progress_maintenances"))
    ]
    components = [DeclaredComponent(cid, s.name, s.state, s.group) for cid, s in slots.items()]
    indicator = derive_indicator(components, incidents)
    return provider_status(provider, page_url, indicator, components, incidents, fetched_at)


def _io_incident(
    raw: dict[str, Any],
    slots: dict[str, Slot],
    base: str,
    fetched_at: datetime,
    explicit: bool,
    maintenance: bool,
) -> DeclaredIncident:
    entries = dicts_of(raw.get("affected_components")) + dicts_of(raw.get("component_impacts"))
    level = raw.get("current_worst_impact") or raw.get("impact")
    states = [to_state(e.get("status")) for e in entries if e.get("status")]
    impact = to_level(level) or (indicator_for(worst(states)) if states else "major")
    names: list[str] = []
    for entry in entries:
        slot = slot_for(slots, entry)
        names.append(slot.name)
        ended = parse_time(entry.get("end_at"))
        if not explicit and (ended is None or ended > fetched_at):
            own = to_state(entry.get("status")) if entry.get("status") else LEVEL_STATE[impact]
            raise_state(slot, "under_maintenance" if maintenance else own)
    updates = [
        DeclaredUpdate(
            update_status(u.get("to_status") or u.get("status")),
            flatten_rich_text(next((u[k] for k in _MESSAGE_KEYS if u.get(k)), "")),
            first_time(u.get("published_at"), u.get("created_at"), u.get("at")) or fetched_at,
        )
        for u in dicts_of(raw.get("updates"))
    ]
    if not updates and raw.get("last_update_message"):
        at = parse_time(raw.get("last_update_at")) or fetched_at
        updates = [DeclaredUpdate("update", flatten_rich_text(raw["last_update_message"]), at)]
    updates.sort(key=lambda u: u.at, reverse=True)
    iid = text_of(raw.get("id"))
    starts = ("starts_at", *_START_KEYS) if maintenance else _START_KEYS
    started = first_time(*(raw.get(k) for k in starts))
    started = started or (updates[-1].at if updates else fetched_at)
    updated = first_time(raw.get("last_update_at"), raw.get("updated_at"))
    until = first_time(raw.get("ends_at"), raw.get("scheduled_end_at"), raw.get("scheduled_until"))
    return DeclaredIncident(
        id=iid or text_of(raw.get("name")) or "unknown",
        name=text_of(raw.get("name")) or "Untitled incident",
        status=to_status(raw.get("status"), "identified" if maintenance else "investigating"),
        impact="maintenance" if maintenance else impact,
        started_at=started,
        updated_at=updated or (updates[0].at if updates else started),
        resolved_at=parse_time(raw.get("resolved_at")),
        url=text_of(raw.get("url")) or (f"{base}/incidents/{iid}" if base and iid else None),
        components=unique(names),
        updates=tuple(updates),
        maintenance=maintenance,
        scheduled_for=first_time(raw.get("starts_at"), raw.get("scheduled_for"))
        if maintenance
        else None,
        scheduled_until=until if maintenance else None,
    )
