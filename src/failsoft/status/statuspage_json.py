"""failsoft's status as Atlassian Statuspage v2 JSON, so existing pollers can read it.

Each public function renders one endpoint (`summary.json`, `status.json`, ...) from a
`StatusSnapshot` to bytes; the server only picks the function and sets the headers.
Shapes follow `protocols.md` §D.1 key for key; the choices where failsoft's model differs:

* Component ids: a `provider/model` id has a `/`, which pollers splice into URLs and HTML
  ids. The JSON id (the `code` of affected components too) is therefore `component_code(id)`:
  the first 12 characters of the lowercase base32 SHA-256 of the failsoft id, e.g.
  `anthropic/claude-opus-4-7` → always the same 12 characters out of `a-z2-7`, the same
  alphabet and length as Statuspage's own ids. Provider groups hash `provider:<name>`
  (`group_code`), which can't collide with a component since those always contain a `/`.
  The human name keeps the readable `provider / model`.
* Groups: one group component per provider (`group: true`, `components: [child ids]`), in
  config order, each followed by its models (`group_id` set); `position` counts from 1 over
  that order. A group's status is its worst model's.
* What callers got: when the snapshot has caller figures, the virtual models come first, as a
  group of their own (`CALLERS_GROUP`, id the hash of `callers:`), one child per model (id
  `model_code(name)`, the hash of `model:<name>`). A child's status follows the share of
  its requests answered over the last few minutes (`health.callers`); its `description`
  states that share and how much of it fallbacks answered.
* Incidents keep failsoft's incident id; update ids are `<incident id>-<n>`, n counting from
  the oldest update, so they stay put as updates are appended. `shortlink` points at the
  incident on the HTML page (`<page url>#incident-<id>`).
* Maintenances (`source == "maintenance"`) appear only under `scheduled_maintenances`, with
  the maintenance status words (`scheduled`, `in_progress`, `verifying`, `completed`), never
  in `incidents`, so a consumer's incident-status enum stays valid.
* Timestamps are UTC, ISO-8601 with milliseconds and `Z`; `page.time_zone` is `Etc/UTC`.
  `page.updated_at` is the last change to anything the JSON shows (else the snapshot time).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import cache
from typing import Any

import orjson

from failsoft.health.callers import served_text
from failsoft.health.codec import statuspage_time as iso
from failsoft.health.types import ComponentHealth, Incident, IncidentUpdate, State, worst
from failsoft.status.model import StatusSnapshot
from failsoft.status.uptime import utc

INCIDENTS_LIMIT = 50
"""`incidents.json` lists this many of the most recent incidents, as Statuspage does."""

Json = dict[str, Any]


@cache
def _code(text: str) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return base64.b32encode(digest).decode().lower()[:12]


def component_code(component_id: str) -> str:
    """The JSON (and HTML) id of a `provider/model` component: stable, URL- and id-safe."""
    return _code(component_id)


def group_code(provider: str) -> str:
    """The JSON id of a provider's group component."""
    return _code(f"provider:{provider}")


def model_code(name: str) -> str:
    """The JSON (and HTML) id of a virtual model in the callers' group."""
    return _code(f"model:{name}")


CALLERS_GROUP = "What callers got"
CALLERS_GROUP_CODE = _code("callers:")


def component_name(component: ComponentHealth) -> str:
    return f"{component.provider} / {component.model}"


def _dumps(obj: Json) -> bytes:
    return orjson.dumps(obj)


# --------------------------------------------------------------------------- page, components


def _updated_at(snap: StatusSnapshot) -> datetime:
    stamps = [c.since for c in snap.components if c.since is not None]
    stamps += [m.since for m in snap.callers if m.since is not None]
    stamps += [i.updated_at for i in (*snap.active, *snap.history, *snap.scheduled)]
    stamps = [utc(s) for s in stamps if utc(s) <= utc(snap.now)]
    return max(stamps) if stamps else snap.now


def page(snap: StatusSnapshot) -> Json:
    return {
        "id": snap.page_id,
        "name": snap.title,
        "url": snap.url,
        "time_zone": "Etc/UTC",
        "updated_at": iso(_updated_at(snap)),
    }


def _created_at(snap: StatusSnapshot, component: ComponentHealth) -> datetime:
    stamps = [t.at for t in snap.transitions.get(component.id, ())[:1]]
    if component.since is not None:
        stamps.append(component.since)
    return min((utc(s) for s in stamps), default=utc(snap.now))


def _component(
    snap: StatusSnapshot,
    cid: str,
    name: str,
    status: State,
    position: int,
    created: datetime,
    updated: datetime,
    **rest: Any,
) -> Json:
    return {
        "id": cid,
        "name": name,
        "status": status,
        "created_at": iso(created),
        "updated_at": iso(updated),
        "position": position,
        "description": None,
        "showcase": True,
        "start_date": None,
        "group_id": None,
        "page_id": snap.page_id,
        "group": False,
        "only_show_if_degraded": False,
        **rest,
    }


def components(snap: StatusSnapshot) -> list[Json]:
    """Groups and models in display order (each group followed by its models).

    `created_at` is the component's first known moment (its first transition within the
    window, or when its current state began); `updated_at` is when its current state began.
    """
    by_provider: dict[str, list[ComponentHealth]] = {}
    for c in snap.components:
        by_provider.setdefault(c.provider, []).append(c)
    out: list[Json] = _callers(snap)
    for provider, models in by_provider.items():
        gid = group_code(provider)
        created = {c.id: _created_at(snap, c) for c in models}
        updated = {c.id: utc(c.since) if c.since else created[c.id] for c in models}
        state = worst([c.state for c in models])
        out.append(
            _component(
                snap,
                gid,
                provider,
                state,
                len(out) + 1,
                min(created.values()),
                max(updated.values()),
                showcase=False,
                group=True,
                components=[component_code(c.id) for c in models],
            )
        )
        for c in models:
            item = _component(
                snap,
                component_code(c.id),
                component_name(c),
                c.state,
                len(out) + 1,
                created[c.id],
                updated[c.id],
                start_date=f"{created[c.id]:%Y-%m-%d}",
                group_id=gid,
            )
            out.append(item)
    return out


def _callers(snap: StatusSnapshot) -> list[Json]:
    """The callers' group and its models (before the providers' groups), or nothing."""
    if not snap.callers:
        return []
    updated = [utc(m.since or snap.now) for m in snap.callers]
    created = [utc(m.first_seen or snap.now) for m in snap.callers]
    out = [
        _component(
            snap,
            CALLERS_GROUP_CODE,
            CALLERS_GROUP,
            worst([m.state for m in snap.callers]),
            1,
            min(created),
            max(updated),
            showcase=False,
            group=True,
            components=[model_code(m.name) for m in snap.callers],
        )
    ]
    for m, made, moved in zip(snap.callers, created, updated, strict=True):
        item = _component(
            snap,
            model_code(m.name),
            m.name,
            m.state,
            len(out) + 1,
            made,
            moved,
            start_date=f"{made:%Y-%m-%d}",
            group_id=CALLERS_GROUP_CODE,
        )
        item["description"] = served_text(m, snap.callers_window)
        out.append(item)
    return out


# --------------------------------------------------------------------------- incidents

_MAINTENANCE_STATUS = {
    "investigating": "in_progress",
    "identified": "in_progress",
    "monitoring": "verifying",
    "resolved": "completed",
    "postmortem": "completed",
}


def _is_maintenance(incident: Incident) -> bool:
    return incident.source == "maintenance"


def public_status(incident: Incident, status: str, now: datetime) -> str:
    """The status word as Statuspage would publish it: maintenances use their own words."""
    if not _is_maintenance(incident):
        return status
    start = incident.scheduled_for or incident.started_at
    if status != "resolved" and utc(start) > utc(now):
        return "scheduled"
    return _MAINTENANCE_STATUS.get(status, "in_progress")


def _updates(snap: StatusSnapshot, incident: Incident, names: dict[str, str]) -> list[Json]:
    """Newest first; ids count from the oldest update so they survive appends."""
    out: list[Json] = []
    previous: State = "operational"
    for n, update in enumerate(reversed(incident.updates), start=1):
        out.append(_update(snap, incident, update, n, previous, names))
        if update.state is not None:
            previous = update.state
    return out[::-1]


def _update(
    snap: StatusSnapshot,
    incident: Incident,
    update: IncidentUpdate,
    n: int,
    previous: State,
    names: dict[str, str],
) -> Json:
    at = iso(update.at)
    affected: list[Json] | None = None
    if update.state is not None and incident.components:
        affected = [
            {
                "code": component_code(cid),
                "name": names.get(cid, cid.replace("/", " / ", 1)),
                "old_status": previous,
                "new_status": update.state,
            }
            for cid in incident.components
        ]
    return {
        "id": f"{incident.id}-{n}",
        "status": public_status(incident, update.status, snap.now),
        "body": update.body,
        "incident_id": incident.id,
        "created_at": at,
        "updated_at": at,
        "display_at": at,
        "affected_components": affected,
        "deliver_notifications": True,
        "custom_tweet": None,
        "tweet_id": None,
    }


def incident(snap: StatusSnapshot, inc: Incident) -> Json:
    """One incident (or maintenance) in Statuspage's exact shape."""
    by_id = {c.id: c for c in snap.components}
    names = {cid: component_name(c) for cid, c in by_id.items()}
    monitoring = [u.at for u in inc.updates if u.status == "monitoring"]
    body: Json = {
        "id": inc.id,
        "name": inc.title,
        "status": public_status(inc, inc.status, snap.now),
        "created_at": iso(min(utc(t) for t in (inc.started_at, *(u.at for u in inc.updates)))),
        "updated_at": iso(inc.updated_at),
        "monitoring_at": iso(max(monitoring)) if monitoring else None,
        "resolved_at": iso(inc.resolved_at),
        "impact": inc.impact,
        "shortlink": f"{snap.url}#incident-{inc.id}",
        "started_at": iso(inc.started_at),
        "page_id": snap.page_id,
        "incident_updates": _updates(snap, inc, names),
        "components": [
            {
                "id": component_code(cid),
                "name": names.get(cid, cid.replace("/", " / ", 1)),
                "status": by_id[cid].state if cid in by_id else "operational",
            }
            for cid in inc.components
        ],
    }
    if _is_maintenance(inc):
        body["scheduled_for"] = iso(inc.scheduled_for or inc.started_at)
        body["scheduled_until"] = iso(inc.scheduled_until)
    return body


def _unique(incidents: Iterable[Incident]) -> list[Incident]:
    """First occurrence wins: an incident can sit in `active` and, a moment later, `history`."""
    seen: dict[str, Incident] = {}
    for i in incidents:
        seen.setdefault(i.id, i)
    return list(seen.values())


def _recent(incidents: Iterable[Incident]) -> list[Incident]:
    return sorted(_unique(incidents), key=lambda i: utc(i.started_at), reverse=True)


def unresolved(snap: StatusSnapshot) -> list[Incident]:
    return [
        i
        for i in _recent(snap.active)
        if not _is_maintenance(i) and i.status not in ("resolved", "postmortem")
    ]


def maintenances(snap: StatusSnapshot, *, completed: bool = False) -> list[Incident]:
    """Upcoming and in progress (and, with `completed`, finished ones from the history)."""
    pool = [*snap.scheduled, *snap.active, *(snap.history if completed else ())]
    found = [i for i in _unique(pool) if _is_maintenance(i)]
    if not completed:
        found = [i for i in found if i.status not in ("resolved", "postmortem")]
    return sorted(found, key=lambda i: utc(i.scheduled_for or i.started_at), reverse=True)


# --------------------------------------------------------------------------- endpoints


def status_body(snap: StatusSnapshot) -> Json:
    return {"indicator": snap.indicator, "description": snap.description}


def summary_json(snap: StatusSnapshot) -> bytes:
    return _dumps(
        {
            "page": page(snap),
            "components": components(snap),
            "incidents": [incident(snap, i) for i in unresolved(snap)],
            "scheduled_maintenances": [incident(snap, i) for i in maintenances(snap)],
            "status": status_body(snap),
        }
    )


def status_json(snap: StatusSnapshot) -> bytes:
    return _dumps({"page": page(snap), "status": status_body(snap)})


def components_json(snap: StatusSnapshot) -> bytes:
    return _dumps({"page": page(snap), "components": components(snap)})


def incidents_json(snap: StatusSnapshot) -> bytes:
    """The 50 most recent incidents, any status, newest first."""
    recent = [i for i in _recent((*snap.active, *snap.history)) if not _is_maintenance(i)]
    return _dumps(
        {"page": page(snap), "incidents": [incident(snap, i) for i in recent[:INCIDENTS_LIMIT]]}
    )


def unresolved_incidents_json(snap: StatusSnapshot) -> bytes:
    return _dumps({"page": page(snap), "incidents": [incident(snap, i) for i in unresolved(snap)]})


def _maintenances_body(snap: StatusSnapshot, found: list[Incident]) -> bytes:
    items = [incident(snap, i) for i in found]
    return _dumps({"page": page(snap), "scheduled_maintenances": items})


def scheduled_maintenances_json(snap: StatusSnapshot) -> bytes:
    """Upcoming, in-progress and completed maintenances, newest first."""
    return _maintenances_body(snap, maintenances(snap, completed=True)[:INCIDENTS_LIMIT])


def upcoming_maintenances_json(snap: StatusSnapshot) -> bytes:
    found = [i for i in maintenances(snap) if public_status(i, i.status, snap.now) == "scheduled"]
    return _maintenances_body(snap, found)


def active_maintenances_json(snap: StatusSnapshot) -> bytes:
    found = [i for i in maintenances(snap) if public_status(i, i.status, snap.now) != "scheduled"]
    return _maintenances_body(snap, found)


ENDPOINTS: dict[str, Callable[[StatusSnapshot], bytes]] = {
    "summary.json": summary_json,
    "status.json": status_json,
    "components.json": components_json,
    "incidents.json": incidents_json,
    "incidents/unresolved.json": unresolved_incidents_json,
    "scheduled-maintenances.json": scheduled_maintenances_json,
    "scheduled-maintenances/upcoming.json": upcoming_maintenances_json,
    "scheduled-maintenances/active.json": active_maintenances_json,
}
"""Path under `.../api/v2/` → renderer, for the server mount."""
