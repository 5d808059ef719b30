"""Providers' own status pages, read into `ProviderStatus`: parsing only, no I/O.

Three shapes are read: Atlassian Statuspage v2 `summary.json` (also the subset incident.io
serves at the same path; parsed here), incident.io's widget JSON (`/proxy/<host>` or
`/api/v1/summary`; `incidentio`) and Google Cloud's `incidents.json` array
(`google_status`). `parse_any` tells them apart. The normalisation all three share (odd enum
values, timestamps, rich text, `StatusPageError` for a document of the wrong shape) is in
`page_fields`; this module re-exports its public names and the other two parsers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from failsoft.health.google_status import parse_google_cloud
from failsoft.health.incidentio import WIDGET_KEYS, parse_incidentio_widget
from failsoft.health.page_fields import (
    StatusPageError,
    as_dict,
    as_list,
    derive_indicator,
    dicts_of,
    first_time,
    flatten_rich_text,
    norm_key,
    parse_time,
    provider_status,
    shape_of,
    text_of,
    to_level,
    to_state,
    to_status,
    unique,
    update_status,
)
from failsoft.health.types import (
    DESCRIPTIONS,
    DeclaredComponent,
    DeclaredIncident,
    DeclaredUpdate,
    ProviderStatus,
)

__all__ = [
    "DESCRIPTIONS",
    "StatusPageError",
    "derive_indicator",
    "flatten_rich_text",
    "parse_any",
    "parse_google_cloud",
    "parse_incidentio_widget",
    "parse_statuspage",
    "parse_time",
    "to_level",
    "to_state",
    "to_status",
]


def parse_statuspage(
    obj: Any, provider: str, page_url: str, fetched_at: datetime
) -> ProviderStatus:
    """An Atlassian Statuspage v2 `summary.json` (or incident.io's compatible subset).

    The page's indicator is kept as stated even when every component is operational (an
    incident can raise it alone); only a missing or unknown one is derived."""
    if not isinstance(obj, dict) or not {"components", "status", "incidents"} & obj.keys():
        raise StatusPageError(
            f"{provider}: not a Statuspage summary (want an object with status, components "
            f"and incidents; got {shape_of(obj)})"
        )
    base = (text_of(as_dict(obj.get("page")).get("url")) or page_url).rstrip("/")
    components, names = _statuspage_components(obj.get("components"))
    incidents = [
        _sp_incident(raw, names, base, fetched_at) for raw in dicts_of(obj.get("incidents"))
    ]
    incidents = [i for i in incidents if i.status not in ("resolved", "postmortem")]
    for raw in dicts_of(obj.get("scheduled_maintenances")):
        if _maintenance_active(raw, fetched_at):
            incidents.append(_sp_incident(raw, names, base, fetched_at, maintenance=True))
    status = as_dict(obj.get("status"))
    indicator = to_level(status.get("indicator")) or derive_indicator(components, incidents)
    description = text_of(status.get("description")) or DESCRIPTIONS[indicator]
    return provider_status(
        provider, page_url, indicator, components, incidents, fetched_at, description
    )


def _statuspage_components(raw: Any) -> tuple[list[DeclaredComponent], dict[str, str]]:
    """Leaf components with their group's name (groups themselves are not components), and
    every id's name, to name an incident's components."""
    items = dicts_of(raw)
    groups = [i for i in items if i.get("group") in (True, "true")]
    group_names = {text_of(g.get("id")): text_of(g.get("name")) for g in groups}
    parent = {
        text_of(as_dict(child).get("id") or child): text_of(group.get("name"))
        for group in groups
        for child in as_list(group.get("components"))
    }
    group_names.pop("", None)
    parent.pop("", None)
    names = dict(group_names)
    components: list[DeclaredComponent] = []
    for item in items:
        cid, name = text_of(item.get("id")), text_of(item.get("name"))
        if item.get("group") in (True, "true") or not (cid or name):
            continue
        names[cid or name] = name or cid
        group = parent.get(cid) or group_names.get(text_of(item.get("group_id"))) or None
        state = to_state(item.get("status"))
        components.append(DeclaredComponent(cid or name, name or cid, state, group))
    return components, names


def _maintenance_active(raw: dict[str, Any], now: datetime) -> bool:
    key = norm_key(raw.get("status"))
    if key in ("in_progress", "verifying", "scheduled", "completed"):
        return key in ("in_progress", "verifying")
    start, end = parse_time(raw.get("scheduled_for")), parse_time(raw.get("scheduled_until"))
    return start is not None and end is not None and start <= now < end


def _sp_incident(
    raw: dict[str, Any],
    names: dict[str, str],
    base: str,
    fetched_at: datetime,
    *,
    maintenance: bool = False,
) -> DeclaredIncident:
    started = first_time(raw.get("started_at"), raw.get("created_at"), raw.get("scheduled_for"))
    updates: list[DeclaredUpdate] = []
    affected: list[str] = []
    for item in dicts_of(raw.get("incident_updates")):
        at = first_time(item.get("display_at"), item.get("created_at"), item.get("updated_at"))
        body = flatten_rich_text(item.get("body"))
        status = update_status(item.get("status"))
        updates.append(DeclaredUpdate(status, body, at or started or fetched_at))
        for c in dicts_of(item.get("affected_components")):  # may be null
            affected.append(text_of(c.get("name")) or names.get(text_of(c.get("code")), ""))
    updates.sort(key=lambda u: u.at, reverse=True)
    listed = [_component_name(c, names) for c in as_list(raw.get("components"))]
    started = started or (updates[-1].at if updates else fetched_at)
    iid = text_of(raw.get("id"))
    link = f"{base}/incidents/{iid}" if base and iid else text_of(raw.get("shortlink")) or None
    return DeclaredIncident(
        id=iid or text_of(raw.get("name")) or "unknown",
        name=text_of(raw.get("name")) or "Untitled incident",
        status=to_status(raw.get("status"), "identified" if maintenance else "investigating"),
        impact=to_level(raw.get("impact")) or ("maintenance" if maintenance else "minor"),
        started_at=started,
        updated_at=parse_time(raw.get("updated_at")) or (updates[0].at if updates else started),
        resolved_at=parse_time(raw.get("resolved_at")),
        url=link,
        components=unique(listed or affected),
        updates=tuple(updates),
        maintenance=maintenance,
        scheduled_for=parse_time(raw.get("scheduled_for")),
        scheduled_until=parse_time(raw.get("scheduled_until")),
    )


def _component_name(item: Any, names: dict[str, str]) -> str:
    if isinstance(item, dict):
        cid = text_of(item.get("id") or item.get("component_id") or item.get("code"))
        return text_of(item.get("name")) or names.get(cid, cid)
    return names.get(text_of(item), text_of(item))


def parse_any(obj: Any, provider: str, page_url: str, fetched_at: datetime) -> ProviderStatus:
    """Whichever of the three shapes `obj` is: a list is Google's, and incident.io's widget
    has keys no Statuspage summary has."""
    if isinstance(obj, list):
        return parse_google_cloud(obj, provider, page_url, fetched_at)
    if isinstance(obj, dict) and (isinstance(obj.get("summary"), dict) or WIDGET_KEYS & obj.keys()):
        return parse_incidentio_widget(obj, provider, page_url, fetched_at)
    return parse_statuspage(obj, provider, page_url, fetched_at)
