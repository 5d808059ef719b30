"""Incidents and transitions to and from JSON, for the store and the admin API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from failsoft.health.types import Incident, IncidentUpdate, Transition


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def statuspage_time(value: datetime | None) -> str | None:
    """`2026-06-03T07:28:39.123Z`, as Statuspage writes times (naive datetimes are UTC)."""
    if value is None:
        return None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _time(value: Any) -> datetime:
    parsed = parse_time(value)
    if parsed is None:
        raise ValueError("a required time is missing")
    return parsed


def incident_to_json(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.id,
        "title": incident.title,
        "status": incident.status,
        "impact": incident.impact,
        "started_at": iso(incident.started_at),
        "updated_at": iso(incident.updated_at),
        "resolved_at": iso(incident.resolved_at),
        "components": list(incident.components),
        "updates": [
            {"status": u.status, "body": u.body, "at": iso(u.at), "state": u.state}
            for u in incident.updates
        ],
        "source": incident.source,
        "peak_error_rate": incident.peak_error_rate,
        "requests_failed_over": incident.requests_failed_over,
        "requests_lost": incident.requests_lost,
        "scheduled_for": iso(incident.scheduled_for),
        "scheduled_until": iso(incident.scheduled_until),
    }


def incident_from_json(obj: dict[str, Any]) -> Incident:
    return Incident(
        id=str(obj["id"]),
        title=str(obj["title"]),
        status=obj["status"],
        impact=obj["impact"],
        started_at=_time(obj["started_at"]),
        updated_at=_time(obj["updated_at"]),
        resolved_at=parse_time(obj.get("resolved_at")),
        components=tuple(obj.get("components") or ()),
        updates=tuple(
            IncidentUpdate(u["status"], u["body"], _time(u["at"]), u.get("state"))
            for u in obj.get("updates") or ()
        ),
        source=obj.get("source", "auto"),
        peak_error_rate=float(obj.get("peak_error_rate") or 0.0),
        requests_failed_over=int(obj.get("requests_failed_over") or 0),
        requests_lost=int(obj.get("requests_lost") or 0),
        scheduled_for=parse_time(obj.get("scheduled_for")),
        scheduled_until=parse_time(obj.get("scheduled_until")),
    )


def transition_to_row(t: Transition) -> tuple[str, str, float]:
    return (t.component, t.state, t.at.timestamp())


def transition_from_row(component: str, state: str, at: float) -> Transition:
    return Transition(component, state, datetime.fromtimestamp(at, UTC))  # type: ignore[arg-type]
