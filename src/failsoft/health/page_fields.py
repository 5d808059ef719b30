"""Normalising status-page fields: what the three page parsers share, parsing only, no I/O.

Pages drift: enum values appear that no document lists (`full_outage`, indicator
`maintenance`), timestamps carry local offsets, messages are rich-text trees. A status page
is advice next to failsoft's own observations, so an odd field must never cost the whole
reading: each value is normalised to the closest known one (logged at debug), and only a
document of the wrong shape altogether raises `StatusPageError`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, get_args

import orjson

from failsoft.health.types import (
    DESCRIPTIONS,
    SEVERITY,
    DeclaredComponent,
    DeclaredIncident,
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


RANK: dict[Indicator, int] = {"none": 0, "maintenance": 1, "minor": 2, "major": 3, "critical": 4}
LEVEL_STATE: dict[Indicator, State] = {
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
    **{level: level for level in RANK},
    **_alias("operational all_systems_operational", "none"),
    **{word: indicator_for(state) for word, state in _STATES.items() if word not in RANK},
}
_STATUSES: dict[str, IncidentStatus] = {
    **{status: status for status in get_args(IncidentStatus)},
    # Maintenance statuses: the work is planned, so its cause is known ("identified").
    **_alias("in_progress maintenance_in_progress scheduled maintenance_scheduled", "identified"),
    **_alias("verifying", "monitoring"),
    **_alias("completed complete maintenance_complete closed fixed available", "resolved"),
    **_alias("post_mortem", "postmortem"),
}


def norm_key(value: Any) -> str:
    """An enum word as a lookup key: lower case, spaces and dashes as `_`; "" if not text."""
    return re.sub(r"[\s\-]+", "_", value.strip().lower()) if isinstance(value, str) else ""


def to_state(value: Any) -> State:
    """A component status in Statuspage's words. Missing is operational (nothing was said);
    an unrecognised word is read by its stem, else as `degraded_performance`."""
    key = norm_key(value)
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
    key = norm_key(value)
    if key and key not in _LEVELS:
        log.debug("status page: unknown indicator or impact %r", value)
    return _LEVELS.get(key)


def to_status(value: Any, default: IncidentStatus = "investigating") -> IncidentStatus:
    """An incident status; unknown is `investigating`, the least-informed open state (for
    planned work, `identified`)."""
    key = norm_key(value)
    if key and key not in _STATUSES:
        log.debug("status page: unknown incident status %r", value)
    return _STATUSES.get(key, default)


def update_status(value: Any) -> str:
    """An incident update's status word; `update` when it is not a known incident status."""
    return _STATUSES.get(norm_key(value), "update")


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


def first_time(*values: Any) -> datetime | None:
    """The first of `values` that reads as a timestamp."""
    return next((t for t in map(parse_time, values) if t is not None), None)


def text_of(value: Any) -> str:
    """A string or number as stripped text; anything else as ""."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value.strip() if isinstance(value, str) else ""


def as_list(value: Any) -> list[Any]:
    if value is not None and not isinstance(value, list):
        log.debug("status page: expected a list, got %s", type(value).__name__)
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def dicts_of(value: Any) -> list[dict[str, Any]]:
    """The objects of a list (other items skipped); [] when `value` is not a list."""
    return [item for item in as_list(value) if isinstance(item, dict)]


def unique(names: list[str]) -> tuple[str, ...]:
    """The non-empty names, first occurrence kept, in order."""
    return tuple(dict.fromkeys(name for name in names if name))


def shape_of(obj: Any) -> str:
    """What a document looks like, for the `StatusPageError` of a wrong one."""
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
        attrs = as_dict(node.get("attrs"))
        out.append(text_of(attrs.get("label") or attrs.get("text")))
    if kind in _BLOCKS:
        out.append("\n")


# --------------------------------------------------------------------------- the reading


def derive_indicator(
    components: list[DeclaredComponent], incidents: list[DeclaredIncident]
) -> Indicator:
    """For pages with no (or an unknown) indicator: the worse of the worst component and the
    worst open incident's impact; `maintenance` when only planned work is going on."""
    found = indicator_for(worst([c.state for c in components]))
    for incident in incidents:
        level: Indicator = "maintenance" if incident.maintenance else incident.impact
        found = level if RANK[level] > RANK[found] else found
    return found


def provider_status(
    provider: str,
    page_url: str,
    indicator: Indicator,
    components: list[DeclaredComponent],
    incidents: list[DeclaredIncident],
    fetched_at: datetime,
    description: str = "",
) -> ProviderStatus:
    """The reading; without a `description`, Statuspage's wording for the indicator."""
    return ProviderStatus(
        provider=provider,
        page_url=page_url,
        indicator=indicator,
        description=description or DESCRIPTIONS[indicator],
        components=tuple(components),
        incidents=tuple(incidents),
        fetched_at=fetched_at,
    )


@dataclass
class Slot:
    """A component being assembled from the several places a page mentions it."""

    name: str
    group: str | None
    state: State = "operational"


def slot_for(slots: dict[str, Slot], item: dict[str, Any], group: str | None = None) -> Slot:
    """The slot of the component `item` mentions (by id), made on first mention."""
    cid = text_of(item.get("component_id") or item.get("id"))
    name = text_of(item.get("name") or item.get("title"))
    group = group or text_of(item.get("group_name")) or None
    slot = slots.get(cid)
    if slot is None:
        slot = Slot(name or cid, group)
        if cid:
            slots[cid] = slot
    else:  # a later mention may name what an earlier one only identified
        slot.name = name if name and slot.name == cid else slot.name
        slot.group = slot.group or group
    return slot


def raise_state(slot: Slot, state: State) -> None:
    """Worsen `slot` to `state`; maintenance only marks a component that is otherwise fine."""
    if state == "under_maintenance":
        slot.state = state if slot.state == "operational" else slot.state
    elif SEVERITY[state] > SEVERITY[slot.state]:
        slot.state = state
