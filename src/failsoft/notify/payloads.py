"""What a notification says: Standard Webhooks JSON, or a Slack-compatible message.

The standard body is `{"type", "timestamp", "data"}` (the Standard Webhooks payload shape);
an incident's `data` is the incident in Statuspage v2's shape, so receivers that already read
Statuspage incidents (incident bots, aggregators) need no new parser, plus failsoft's own
numbers. The Slack body is an incoming-webhook message: blocks for Slack, and a `text` that
stands on its own, because Mattermost and Discord's `/slack` endpoint ignore blocks.

Pure functions of the health types and the page URL: the sender renders, tests compare.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from failsoft.events import BreakerChanged
from failsoft.health.codec import statuspage_time as iso
from failsoft.health.types import ComponentHealth, Incident, Indicator, State

INCIDENT_OPENED = "incident.opened"
INCIDENT_UPDATED = "incident.updated"
INCIDENT_RESOLVED = "incident.resolved"
BREAKER_OPENED = "breaker.opened"
BREAKER_CLOSED = "breaker.closed"
EVENT_TYPES = frozenset(
    {INCIDENT_OPENED, INCIDENT_UPDATED, INCIDENT_RESOLVED, BREAKER_OPENED, BREAKER_CLOSED}
)

Format = Literal["standard", "slack"]
Subject = Incident | BreakerChanged | Mapping[str, Any]
"""What a notification is about; a plain mapping is sent as the `data` as it is."""

_IMPACT_STATE: dict[Indicator, State] = {
    "none": "operational",
    "minor": "degraded_performance",
    "major": "partial_outage",
    "critical": "major_outage",
    "maintenance": "under_maintenance",
}
_IMPACT_EMOJI: dict[Indicator, str] = {
    "none": "⚪",
    "minor": "🟡",
    "major": "🟠",
    "critical": "🔴",
    "maintenance": "🔧",
}
_HEADLINE = {
    INCIDENT_OPENED: "Incident opened",
    INCIDENT_UPDATED: "Incident updated",
    INCIDENT_RESOLVED: "Incident resolved",
    BREAKER_OPENED: "Circuit breaker opened",
    BREAKER_CLOSED: "Circuit breaker closed",
}
_HEADER_MAX = 150
"""Slack refuses a whole message whose header text is longer than this."""
_SECTION_MAX = 3000


def breaker_event_type(event: BreakerChanged) -> str | None:
    """The notification for a breaker change; half-open is a probe, not news (None)."""
    return {"open": BREAKER_OPENED, "closed": BREAKER_CLOSED}.get(event.state)


# --------------------------------------------------------------------------- standard


def _component_state(incident: Incident, live: Mapping[str, ComponentHealth], cid: str) -> State:
    if cid in live:
        return live[cid].state
    if incident.status in ("resolved", "postmortem"):
        return "operational"
    for update in incident.updates:
        if update.state is not None:
            return update.state
    return _IMPACT_STATE[incident.impact]


def incident_data(
    incident: Incident, page_url: str | None, components: Sequence[ComponentHealth] = ()
) -> dict[str, Any]:
    """The incident as a Statuspage v2 incident, plus failsoft's numbers and `source`.

    `components` gives the affected components' live states; without them a state is
    inferred from the incident (its newest update's state, else its impact).
    """
    live = {c.id: c for c in components}
    updates: list[dict[str, Any]] = []
    count = len(incident.updates)
    for i, update in enumerate(incident.updates):
        # Updates carry no id of their own: number them from the oldest, so an id stays the
        # same as newer updates are prepended.
        older = next((u.state for u in incident.updates[i + 1 :] if u.state is not None), None)
        affected = None
        if update.state is not None:
            affected = [
                {
                    "code": cid,
                    "name": cid,
                    "old_status": older or "operational",
                    "new_status": update.state,
                }
                for cid in incident.components
            ]
        updates.append(
            {
                "id": f"{incident.id}-{count - i}",
                "incident_id": incident.id,
                "status": update.status,
                "body": update.body,
                "created_at": iso(update.at),
                "updated_at": iso(update.at),
                "display_at": iso(update.at),
                "affected_components": affected,
            }
        )
    monitoring = [u.at for u in incident.updates if u.status == "monitoring"]
    return {
        "id": incident.id,
        "name": incident.title,
        "status": incident.status,
        "impact": incident.impact,
        "created_at": iso(incident.started_at),
        "updated_at": iso(incident.updated_at),
        "monitoring_at": iso(min(monitoring)) if monitoring else None,
        "resolved_at": iso(incident.resolved_at),
        "started_at": iso(incident.started_at),
        "scheduled_for": iso(incident.scheduled_for),
        "scheduled_until": iso(incident.scheduled_until),
        "shortlink": page_url,
        "components": [
            {"id": cid, "name": cid, "status": _component_state(incident, live, cid)}
            for cid in incident.components
        ],
        "incident_updates": updates,
        "peak_error_rate": incident.peak_error_rate,
        "requests_failed_over": incident.requests_failed_over,
        "requests_lost": incident.requests_lost,
        "source": incident.source,
    }


def breaker_data(event: BreakerChanged) -> dict[str, Any]:
    return {
        "target": event.target.label,
        "provider": event.target.provider,
        "model": event.target.model,
        "state": event.state,
        "previous": event.previous,
        "reason": event.reason,
        "open_for": event.open_for,
    }


def standard(
    event_type: str,
    subject: Subject,
    *,
    at: datetime,
    page_url: str | None = None,
    components: Sequence[ComponentHealth] = (),
) -> dict[str, Any]:
    """The Standard Webhooks body: `{"type", "timestamp", "data"}`."""
    if isinstance(subject, Incident):
        data = incident_data(subject, page_url, components)
    elif isinstance(subject, BreakerChanged):
        data = breaker_data(subject)
    else:
        data = dict(subject)
    return {"type": event_type, "timestamp": iso(at), "data": data}


# --------------------------------------------------------------------------- slack


def escape(text: str) -> str:
    """Slack mrkdwn's three control characters; anything else is shown as written."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _words(value: str) -> str:
    return value.replace("_", " ")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _message(
    headline: str, lines: list[str], fields: list[str], context: list[str]
) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _cut(headline, _HEADER_MAX), "emoji": True},
        }
    ]
    section: dict[str, Any] = {"type": "section"}
    if lines:
        section["text"] = {"type": "mrkdwn", "text": _cut("\n".join(lines), _SECTION_MAX)}
    if fields:
        section["fields"] = [{"type": "mrkdwn", "text": _cut(f, 2000)} for f in fields[:10]]
    if len(section) > 1:
        blocks.append(section)
    if context:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]}
        )
    # Receivers without blocks show only `text`, so it carries everything but the layout.
    text = "\n".join([f"*{escape(headline)}*", *lines, *fields, " · ".join(context)])
    return {"text": text.rstrip(), "blocks": blocks}


def _link(page_url: str | None) -> list[str]:
    return [f"<{page_url}|View the status page>"] if page_url else []


def slack_incident(
    event_type: str,
    incident: Incident,
    page_url: str | None,
    components: Sequence[ComponentHealth] = (),
) -> dict[str, Any]:
    resolved = event_type == INCIDENT_RESOLVED or incident.status == "resolved"
    emoji = "✅" if resolved else _IMPACT_EMOJI[incident.impact]
    what = _HEADLINE.get(event_type, event_type)
    lines = [f"*Status:* {_words(incident.status)} · *Impact:* {incident.impact}"]
    if incident.updates:
        lines.append(escape(incident.updates[0].body))
    live = {c.id: c for c in components}
    fields = []
    if incident.components:
        states = [
            f"`{escape(cid)}` {_words(_component_state(incident, live, cid))}"
            for cid in incident.components
        ]
        fields.append("*Components*\n" + "\n".join(states))
    if incident.peak_error_rate or incident.requests_failed_over or incident.requests_lost:
        fields.append(
            f"*Traffic*\npeak error rate {incident.peak_error_rate:.0%}\n"
            f"{incident.requests_failed_over} failed over · {incident.requests_lost} lost"
        )
    context = [f"started {_short(incident.started_at)}"]
    if incident.resolved_at is not None:
        context.append(f"resolved {_short(incident.resolved_at)}")
    return _message(
        f"{emoji} {what}: {incident.title}", lines, fields, [*context, *_link(page_url)]
    )


def slack_breaker(event_type: str, event: BreakerChanged, page_url: str | None) -> dict[str, Any]:
    emoji = {"open": "🔴", "closed": "✅"}.get(event.state, "🟡")
    what = _HEADLINE.get(event_type, event_type)
    lines = [f"*State:* {_words(event.previous)} → {_words(event.state)}"]
    if event.reason:
        lines.append(f"*Reason:* {escape(event.reason)}")
    if event.open_for is not None:
        lines.append(f"*Open for:* {event.open_for:g}s")
    return _message(f"{emoji} {what}: {event.target.label}", lines, [], _link(page_url))


def slack(
    event_type: str,
    subject: Subject,
    *,
    page_url: str | None = None,
    components: Sequence[ComponentHealth] = (),
) -> dict[str, Any]:
    """A Slack incoming-webhook message (also Mattermost, Discord `/slack`)."""
    if isinstance(subject, Incident):
        return slack_incident(event_type, subject, page_url, components)
    if isinstance(subject, BreakerChanged):
        return slack_breaker(event_type, subject, page_url)
    return _message(f"failsoft: {event_type}", [], [], _link(page_url))


def render(
    fmt: Format,
    event_type: str,
    subject: Subject,
    *,
    at: datetime,
    page_url: str | None = None,
    components: Sequence[ComponentHealth] = (),
) -> dict[str, Any]:
    """The body for an endpoint of format `fmt`."""
    if fmt == "slack":
        return slack(event_type, subject, page_url=page_url, components=components)
    return standard(event_type, subject, at=at, page_url=page_url, components=components)


def _short(at: datetime) -> str:
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.strftime("%Y-%m-%d %H:%M UTC")
