"""Providers' own status pages, read into `ProviderStatus`: parsing only, no I/O.

Three shapes are read: Atlassian Statuspage v2 `summary.json` (also the subset incident.io
serves at the same path), incident.io's widget JSON (`/proxy/<host>` or `/api/v1/summary`)
and Google Cloud's `incidents.json` array. Pages drift: enum values appear that no document
lists (`full_outage`, indicator `maintenance`), timestamps carry local offsets, messages are
rich-text trees. A status page is advice next to failsoft's own observations, so an odd field
must never cost the whole reading: each value is normalised to the closest known one (logged
at debug), and only a document of the wrong shape altogether raises `StatusPageError`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, get_args

import orjson

from failsoft.health.types import (
    SEVERITY,
    DeclaredComponent,
    DeclaredIncident,
    DeclaredUpdate,
    IncidentStatus,
    Indicator,
    ProviderStatus,
    State,
    indicator_for,
    worst,
)

log = logging.getLogger("failsoft.health")


class StatusPageError(ValueError):
    """The document is not a status page of the expected kind (wrong shape, not a field)."""


DESCRIPTIONS: dict[Indicator, str] = {
    "none": "All Systems Operational",
    "minor": "Partially Degraded Service",
    "major": "Partial System Outage",
    "critical": "Major System Outage",
    "maintenance": "Service Under Maintenance",
}
"""Statuspage's own wording, for pages that state no description (or no indicator)."""

_RANK: dict[Indicator, int] = {"none": 0, "maintenance": 1, "minor": 2, "major": 3, "critical": 4}
_LEVEL_STATE: dict[Indicator, State] = {
    "none": "operational",
    "maintenance": "under_maintenance",
    "minor": "degraded_performance",
    "major": "partial_outage",
    "critical": "major_outage",
}
"""The inverse of `indicator_for`: an impact read as the state of what it affects."""


def _alias(words: str, value: Any) -> dict[str, Any]:
    return dict.fromkeys(words.split(), value)


_STATES: dict[str, State] = {
    **{state: state for state in SEVERITY},
    **_alias("ok up normal available healthy none", "operational"),
    **_alias("degraded degradation minor slow service_information", "degraded_performance"),
    **_alias("partial major disruption service_disruption", "partial_outage"),
    **_alias("full_outage outage down critical unavailable service_outage", "major_outage"),
    **_alias("maintenance in_maintenance maintenance_in_progress", "under_maintenance"),
}
_LEVELS: dict[str, Indicator] = {
    **{level: level for level in _RANK},
    **_alias("operational all_systems_operational", "none"),
    **{word: indicator_for(state) for word, state in _STATES.items() if word not in _RANK},
}
_STATUSES: dict[str, IncidentStatus] = {
    **{status: status for status in get_args(IncidentStatus)},
    # Maintenance statuses: the work is planned, so its cause is known ("identified").
    **_alias("in_progress maintenance_in_progress scheduled maintenance_scheduled", "identified"),
    **_alias("verifying", "monitoring"),
    **_alias("completed complete maintenance_complete closed fixed available", "resolved"),
    **_alias("post_mortem", "postmortem"),
}


def _key(value: Any) -> str:
    return re.sub(r"[\s\-]+", "_", value.strip().lower()) if isinstance(value, str) else ""


def to_state(value: Any) -> State:
    """A component status in Statuspage's words. Missing is operational (nothing was said);
    an unrecognised word is read by its stem, else as `degraded_performance`."""
    key = _key(value)
    if key in _STATES or value is None or (isinstance(value, str) and not key):
        return _STATES.get(key, "operational")
    log.debug("status page: unknown component status %r", value)
    if "maint" in key:
        return "under_maintenance"
    if "partial" in key:
        return "partial_outage"
    return "major_outage" if "outage" in key or "down" in key else "degraded_performance"


def to_level(value: Any) -> Indicator | None:
    """A page indicator or an incident impact; None when absent or unrecognised, so the
    caller can derive one from what it does know."""
    key = _key(value)
    if key and key not in _LEVELS:
        log.debug("status page: unknown indicator or impact %r", value)
    return _LEVELS.get(key)


def to_status(value: Any, default: IncidentStatus = "investigating") -> IncidentStatus:
    """An incident status; unknown is `investigating`, the least-informed open state (for
    planned work, `identified`)."""
    key = _key(value)
    if key and key not in _STATUSES:
        log.debug("status page: unknown incident status %r", value)
    return _STATUSES.get(key, default)


def _update_status(value: Any) -> str:
    return _STATUSES.get(_key(value), "update")


def parse_time(value: Any) -> datetime | None:
    """A timestamp as a UTC-aware datetime: ISO 8601 with any offset (none means UTC), `Z`,
    any number of fractional digits, or epoch seconds/milliseconds. None when unreadable."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, UTC)
        if not isinstance(value, str) or not value.strip():
            return None
        parsed = datetime.fromisoformat(value.strip())
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        log.debug("status page: unreadable timestamp %r", value)
        return None


def _first_time(*values: Any) -> datetime | None:
    return next((t for t in map(parse_time, values) if t is not None), None)


def _text(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value.strip() if isinstance(value, str) else ""


def _list(value: Any) -> list[Any]:
    if value is not None and not isinstance(value, list):
        log.debug("status page: expected a list, got %s", type(value).__name__)
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in _list(value) if isinstance(item, dict)]


def _unique(names: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(name for name in names if name))


def _shape(obj: Any) -> str:
    if isinstance(obj, dict):
        return "an object with keys " + (", ".join(sorted(map(str, obj))[:8]) or "none")
    return f"a JSON {type(obj).__name__}"


# --------------------------------------------------------------------------- rich text

# fmt: off
_BLOCKS = frozenset((
    "paragraph", "heading", "blockquote", "codeBlock", "code_block", "listItem", "list_item",
    "bulletList", "orderedList", "bullet_list", "ordered_list", "horizontalRule", "rule",
))
# fmt: on


def flatten_rich_text(node: Any) -> str:
    """Plain text from a rich-text doc tree (`{type: "doc", content: [...]}`), one line per
    block; a plain string passes through (a JSON-encoded tree is decoded first)."""
    if isinstance(node, str):
        text: str = node
        if not (text.lstrip().startswith("{") and '"type"' in text):
            return text.strip()
        try:
            node = orjson.loads(text)
        except orjson.JSONDecodeError:
            return text.strip()
    out: list[str] = []
    _walk(node, out, 0)
    lines = (line.strip() for line in "".join(out).split("\n"))
    return "\n".join(line for line in lines if line)


def _walk(node: Any, out: list[str], depth: int) -> None:
    if depth > 64:  # a hostile tree must not exhaust the stack
        return
    if isinstance(node, list):
        for child in node:
            _walk(child, out, depth + 1)
        return
    if not isinstance(node, dict):
        out.append(node if isinstance(node, str) else "")
        return
    kind = node.get("type")
    if kind == "text":
        out.append(node["text"] if isinstance(node.get("text"), str) else "")
    elif kind in ("hardBreak", "hard_break"):
        out.append("\n")
    elif "content" in node:
        out.append("- " if kind in ("listItem", "list_item") else "")
        _walk(node["content"], out, depth + 1)
    else:  # a mention or an emoji: its label stands in for it
        attrs = _dict(node.get("attrs"))
        out.append(_text(attrs.get("label") or attrs.get("text")))
    if kind in _BLOCKS:
        out.append("\n")


# --------------------------------------------------------------------------- Statuspage v2


def parse_statuspage(
    obj: Any, provider: str, page_url: str, fetched_at: datetime
) -> ProviderStatus:
    """An Atlassian Statuspage v2 `summary.json` (or incident.io's compatible subset).

    The page's indicator is kept as stated even when every component is operational (an
    incident can raise it alone); only a missing or unknown one is derived."""
    if not isinstance(obj, dict) or not {"components", "status", "incidents"} & obj.keys():
        raise StatusPageError(
            f"{provider}: not a Statuspage summary (want an object with status, components "
            f"and incidents; got {_shape(obj)})"
        )
    base = (_text(_dict(obj.get("page")).get("url")) or page_url).rstrip("/")
    components, names = _statuspage_components(obj.get("components"))
    incidents = [_sp_incident(raw, names, base, fetched_at) for raw in _dicts(obj.get("incidents"))]
    incidents = [i for i in incidents if i.status not in ("resolved", "postmortem")]
    for raw in _dicts(obj.get("scheduled_maintenances")):
        if _maintenance_active(raw, fetched_at):
            incidents.append(_sp_incident(raw, names, base, fetched_at, maintenance=True))
    status = _dict(obj.get("status"))
    indicator = to_level(status.get("indicator")) or derive_indicator(components, incidents)
    description = _text(status.get("description")) or DESCRIPTIONS[indicator]
    return _status(provider, page_url, indicator, components, incidents, fetched_at, description)


def _status(
    provider: str,
    page_url: str,
    indicator: Indicator,
    components: list[DeclaredComponent],
    incidents: list[DeclaredIncident],
    fetched_at: datetime,
    description: str = "",
) -> ProviderStatus:
    return ProviderStatus(
        provider=provider,
        page_url=page_url,
        indicator=indicator,
        description=description or DESCRIPTIONS[indicator],
        components=tuple(components),
        incidents=tuple(incidents),
        fetched_at=fetched_at,
    )


def _statuspage_components(raw: Any) -> tuple[list[DeclaredComponent], dict[str, str]]:
    """Leaf components with their group's name (groups themselves are not components), and
    every id's name, to name an incident's components."""
    items = _dicts(raw)
    groups = [i for i in items if i.get("group") in (True, "true")]
    group_names = {_text(g.get("id")): _text(g.get("name")) for g in groups}
    parent = {
        _text(_dict(child).get("id") or child): _text(group.get("name"))
        for group in groups
        for child in _list(group.get("components"))
    }
    group_names.pop("", None)
    parent.pop("", None)
    names = dict(group_names)
    components: list[DeclaredComponent] = []
    for item in items:
        cid, name = _text(item.get("id")), _text(item.get("name"))
        if item.get("group") in (True, "true") or not (cid or name):
            continue
        names[cid or name] = name or cid
        group = parent.get(cid) or group_names.get(_text(item.get("group_id"))) or None
        state = to_state(item.get("status"))
        components.append(DeclaredComponent(cid or name, name or cid, state, group))
    return components, names


def _maintenance_active(raw: dict[str, Any], now: datetime) -> bool:
    key = _key(raw.get("status"))
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
    started = _first_time(raw.get("started_at"), raw.get("created_at"), raw.get("scheduled_for"))
    updates: list[DeclaredUpdate] = []
    affected: list[str] = []
    for item in _dicts(raw.get("incident_updates")):
        at = _first_time(item.get("display_at"), item.get("created_at"), item.get("updated_at"))
        body = flatten_rich_text(item.get("body"))
        status = _update_status(item.get("status"))
        updates.append(DeclaredUpdate(status, body, at or started or fetched_at))
        for c in _dicts(item.get("affected_components")):  # may be null
            affected.append(_text(c.get("name")) or names.get(_text(c.get("code")), ""))
    updates.sort(key=lambda u: u.at, reverse=True)
    listed = [_component_name(c, names) for c in _list(raw.get("components"))]
    started = started or (updates[-1].at if updates else fetched_at)
    iid = _text(raw.get("id"))
    link = f"{base}/incidents/{iid}" if base and iid else _text(raw.get("shortlink")) or None
    return DeclaredIncident(
        id=iid or _text(raw.get("name")) or "unknown",
        name=_text(raw.get("name")) or "Untitled incident",
        status=to_status(raw.get("status"), "identified" if maintenance else "investigating"),
        impact=to_level(raw.get("impact")) or ("maintenance" if maintenance else "minor"),
        started_at=started,
        updated_at=parse_time(raw.get("updated_at")) or (updates[0].at if updates else started),
        resolved_at=parse_time(raw.get("resolved_at")),
        url=link,
        components=_unique(listed or affected),
        updates=tuple(updates),
        maintenance=maintenance,
        scheduled_for=parse_time(raw.get("scheduled_for")),
        scheduled_until=parse_time(raw.get("scheduled_until")),
    )


def _component_name(item: Any, names: dict[str, str]) -> str:
    if isinstance(item, dict):
        cid = _text(item.get("id") or item.get("component_id") or item.get("code"))
        return _text(item.get("name")) or names.get(cid, cid)
    return names.get(_text(item), _text(item))


def derive_indicator(
    components: list[DeclaredComponent], incidents: list[DeclaredIncident]
) -> Indicator:
    """For pages with no (or an unknown) indicator: the worse of the worst component and the
    worst open incident's impact; `maintenance` when only planned work is going on."""
    found = indicator_for(worst([c.state for c in components]))
    for incident in incidents:
        level: Indicator = "maintenance" if incident.maintenance else incident.impact
        found = level if _RANK[level] > _RANK[found] else found
    return found


# --------------------------------------------------------------------------- incident.io

_WIDGET_KEYS = {"ongoing_incidents", "in_progress_maintenances", "affected_components", "structure"}


@dataclass
class _Slot:
    """A component being assembled from the several places a page mentions it."""

    name: str
    group: str | None
    state: State = "operational"


def _slot(slots: dict[str, _Slot], item: dict[str, Any], group: str | None = None) -> _Slot:
    cid = _text(item.get("component_id") or item.get("id"))
    name = _text(item.get("name") or item.get("title"))
    group = group or _text(item.get("group_name")) or None
    slot = slots.get(cid)
    if slot is None:
        slot = _Slot(name or cid, group)
        if cid:
            slots[cid] = slot
    else:  # a later mention may name what an earlier one only identified
        slot.name = name if name and slot.name == cid else slot.name
        slot.group = slot.group or group
    return slot


def _raise_state(slot: _Slot, state: State) -> None:
    if state == "under_maintenance":
        slot.state = state if slot.state == "operational" else slot.state
    elif SEVERITY[state] > SEVERITY[slot.state]:
        slot.state = state


def parse_incidentio_widget(
    obj: Any, provider: str, page_url: str, fetched_at: datetime
) -> ProviderStatus:
    """incident.io's own JSON: `{"summary": {...}}` from `/proxy/<host>`, or the flat
    `/api/v1/summary`. Neither states a page indicator, so one is derived."""
    wrapped = obj.get("summary") if isinstance(obj, dict) else None
    page = wrapped if isinstance(wrapped, dict) else obj
    if not isinstance(page, dict) or not (_WIDGET_KEYS | {"components"}) & page.keys():
        raise StatusPageError(
            f"{provider}: not an incident.io widget (want ongoing_incidents, "
            f"in_progress_maintenances, affected_components; got {_shape(obj)})"
        )
    base = _text(page.get("public_url")) or _text(page.get("page_url")) or page_url
    slots: dict[str, _Slot] = {}
    for item in _dicts(_dict(page.get("structure")).get("items")):
        group = _dict(item.get("group"))
        for child in _dicts(group.get("components")) or [_dict(item.get("component"))]:
            _slot(slots, child, _text(group.get("name")) or None)
    for item in _dicts(page.get("components")):
        _slot(slots, item)
    # The page-wide list, when there is one, is the authority on component states; else the
    # states are inferred from what the open incidents and maintenances affect.
    explicit = isinstance(page.get("affected_components"), list)
    for item in _dicts(page.get("affected_components")):
        _slot(slots, item).state = to_state(item.get("status"))
    args = (slots, base.rstrip("/"), fetched_at, explicit)
    incidents = [_io_incident(raw, *args, False) for raw in _dicts(page.get("ongoing_incidents"))]
    incidents = [i for i in incidents if i.status not in ("resolved", "postmortem")]
    incidents += [
        _io_incident(r, *args, True) for r in _dicts(page.get("in_progress_maintenances"))
    ]
    components = [DeclaredComponent(cid, s.name, s.state, s.group) for cid, s in slots.items()]
    indicator = derive_indicator(components, incidents)
    return _status(provider, page_url, indicator, components, incidents, fetched_at)


def _io_incident(
    raw: dict[str, Any],
    slots: dict[str, _Slot],
    base: str,
    fetched_at: datetime,
    explicit: bool,
    maintenance: bool,
) -> DeclaredIncident:
    entries = _dicts(raw.get("affected_components")) + _dicts(raw.get("component_impacts"))
    level = raw.get("current_worst_impact") or raw.get("impact")
    states = [to_state(e.get("status")) for e in entries if e.get("status")]
    impact = to_level(level) or (indicator_for(worst(states)) if states else "major")
    names: list[str] = []
    for entry in entries:
        slot = _slot(slots, entry)
        names.append(slot.name)
        ended = parse_time(entry.get("end_at"))
        if not explicit and (ended is None or ended > fetched_at):
            own = to_state(entry.get("status")) if entry.get("status") else _LEVEL_STATE[impact]
            _raise_state(slot, "under_maintenance" if maintenance else own)
    updates = [
        DeclaredUpdate(
            _update_status(u.get("to_status") or u.get("status")),
            flatten_rich_text(next((u[k] for k in _MESSAGE_KEYS if u.get(k)), "")),
            _first_time(u.get("published_at"), u.get("created_at"), u.get("at")) or fetched_at,
        )
        for u in _dicts(raw.get("updates"))
    ]
    if not updates and raw.get("last_update_message"):
        at = parse_time(raw.get("last_update_at")) or fetched_at
        updates = [DeclaredUpdate("update", flatten_rich_text(raw["last_update_message"]), at)]
    updates.sort(key=lambda u: u.at, reverse=True)
    iid = _text(raw.get("id"))
    starts = ("starts_at", *_START_KEYS) if maintenance else _START_KEYS
    started = _first_time(*(raw.get(k) for k in starts))
    started = started or (updates[-1].at if updates else fetched_at)
    updated = _first_time(raw.get("last_update_at"), raw.get("updated_at"))
    until = _first_time(raw.get("ends_at"), raw.get("scheduled_end_at"), raw.get("scheduled_until"))
    return DeclaredIncident(
        id=iid or _text(raw.get("name")) or "unknown",
        name=_text(raw.get("name")) or "Untitled incident",
        status=to_status(raw.get("status"), "identified" if maintenance else "investigating"),
        impact="maintenance" if maintenance else impact,
        started_at=started,
        updated_at=updated or (updates[0].at if updates else started),
        resolved_at=parse_time(raw.get("resolved_at")),
        url=_text(raw.get("url")) or (f"{base}/incidents/{iid}" if base and iid else None),
        components=_unique(names),
        updates=tuple(updates),
        maintenance=maintenance,
        scheduled_for=_first_time(raw.get("starts_at"), raw.get("scheduled_for"))
        if maintenance
        else None,
        scheduled_until=until if maintenance else None,
    )


_MESSAGE_KEYS = ("message_string", "message", "body", "text")
_START_KEYS = ("published_at", "started_at", "created_at", "starts_at")

# --------------------------------------------------------------------------- Google Cloud

_SEVERITY_LEVEL: dict[str, Indicator] = {"high": "critical", "medium": "major", "low": "minor"}


def parse_google_cloud(
    obj: Any,
    provider: str,
    page_url: str,
    fetched_at: datetime,
    *,
    products: Collection[str] = (),
) -> ProviderStatus:
    """Google Cloud's `incidents.json`: a flat array, each incident open while `end` is empty.
    It lists no components, so the products the open incidents name stand in for them;
    `products` (titles or ids, any case) keeps only the incidents touching one of them."""
    if not isinstance(obj, list):
        raise StatusPageError(f"{provider}: not a Google Cloud incidents array (got {_shape(obj)})")
    wanted = {p.lower() for p in products}
    slots: dict[str, _Slot] = {}
    incidents: list[DeclaredIncident] = []
    for raw in _dicts(obj):
        affected = _dicts(raw.get("affected_products"))
        keys = {_text(p.get(k)).lower() for p in affected for k in ("id", "title")}
        if raw.get("end") or (wanted and not wanted & keys):
            continue
        severity = _SEVERITY_LEVEL.get(_key(raw.get("severity")), "minor")
        impact = to_level(raw.get("status_impact")) or severity
        for product in affected:
            _raise_state(_slot(slots, product), _LEVEL_STATE[impact])
        latest = _dict(raw.get("most_recent_update"))
        updates = [
            DeclaredUpdate(
                _update_status(u.get("status")),
                flatten_rich_text(u.get("text")),
                parse_time(u.get("when")) or fetched_at,
            )
            for u in _dicts(raw.get("updates")) or ([latest] if latest else [])
        ]
        updates.sort(key=lambda u: u.at, reverse=True)
        iid = _text(raw.get("id")) or _text(raw.get("number")) or "unknown"
        started = _first_time(raw.get("begin"), raw.get("created")) or fetched_at
        uri = _text(raw.get("uri")).lstrip("/")
        incidents.append(
            DeclaredIncident(
                id=iid,
                name=_text(raw.get("external_desc")).split("\n")[0][:200] or f"Incident {iid}",
                # Google has no investigating/identified; AVAILABLE means it has recovered.
                status="monitoring" if _key(latest.get("status")) == "available" else "identified",
                impact=impact,
                started_at=started,
                updated_at=_first_time(raw.get("modified"), latest.get("when")) or started,
                url=f"{page_url.rstrip('/')}/{uri}" if uri else None,
                components=_unique([_text(p.get("title")) or _text(p.get("id")) for p in affected]),
                updates=tuple(updates),
            )
        )
    components = [DeclaredComponent(cid, s.name, s.state) for cid, s in slots.items()]
    indicator = derive_indicator(components, incidents)
    return _status(provider, page_url, indicator, components, incidents, fetched_at)


def parse_any(obj: Any, provider: str, page_url: str, fetched_at: datetime) -> ProviderStatus:
    """Whichever of the three shapes `obj` is: a list is Google's, and incident.io's widget
    has keys no Statuspage summary has."""
    if isinstance(obj, list):
        return parse_google_cloud(obj, provider, page_url, fetched_at)
    if isinstance(obj, dict) and (
        isinstance(obj.get("summary"), dict) or _WIDGET_KEYS & obj.keys()
    ):
        return parse_incidentio_widget(obj, provider, page_url, fetched_at)
    return parse_statuspage(obj, provider, page_url, fetched_at)
