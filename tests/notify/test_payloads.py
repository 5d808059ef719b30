"""Notification bodies: Statuspage-shaped incidents, breaker changes, Slack messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from failsoft.events import BreakerChanged
from failsoft.health.types import ComponentHealth, Incident, IncidentUpdate
from failsoft.notify.payloads import (
    BREAKER_CLOSED,
    BREAKER_OPENED,
    INCIDENT_OPENED,
    INCIDENT_RESOLVED,
    INCIDENT_UPDATED,
    breaker_data,
    breaker_event_type,
    incident_data,
    iso,
    render,
    slack,
    standard,
)
from failsoft.types import Target

PAGE = "http://127.0.0.1:8080/status"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
OPUS = "anthropic/claude-opus-4-7"
SONNET = "anthropic/claude-sonnet-4-5"


def incident(**overrides: object) -> Incident:
    fields: dict[str, object] = {
        "id": "inc_1",
        "title": "Elevated errors on Claude Opus",
        "status": "identified",
        "impact": "critical",
        "started_at": T0,
        "updated_at": T0 + timedelta(minutes=10),
        "components": (OPUS, SONNET),
        "updates": (
            IncidentUpdate(
                "identified", "Mostly 529s.", T0 + timedelta(minutes=10), "major_outage"
            ),
            IncidentUpdate("investigating", "Note from ops.", T0 + timedelta(minutes=5)),
            IncidentUpdate("investigating", "Error rate 40%.", T0, "partial_outage"),
        ),
        "peak_error_rate": 0.62,
        "requests_failed_over": 120,
        "requests_lost": 3,
    }
    fields.update(overrides)
    return Incident(**fields)  # type: ignore[arg-type]


def test_iso_is_utc_with_z() -> None:
    assert iso(T0) == "2024-05-01T12:00:00.000Z"
    assert iso(datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))) == iso(T0)
    assert iso(datetime(2024, 5, 1, 12, 0)) == iso(T0)  # naive means UTC
    assert iso(None) is None


def test_incident_in_statuspage_shape() -> None:
    data = incident_data(incident(), PAGE)
    assert data["id"] == "inc_1"
    assert data["name"] == "Elevated errors on Claude Opus"
    assert data["status"] == "identified"
    assert data["impact"] == "critical"
    assert data["created_at"] == data["started_at"] == "2024-05-01T12:00:00.000Z"
    assert data["updated_at"] == "2024-05-01T12:10:00.000Z"
    assert data["resolved_at"] is None
    assert data["shortlink"] == PAGE
    # Without live states, the newest update's state stands for every affected component.
    assert data["components"] == [
        {"id": OPUS, "name": OPUS, "status": "major_outage"},
        {"id": SONNET, "name": SONNET, "status": "major_outage"},
    ]
    assert (
        data["peak_error_rate"],
        data["requests_failed_over"],
        data["requests_lost"],
        data["source"],
    ) == (0.62, 120, 3, "auto")


def test_incident_updates_newest_first_with_stable_ids() -> None:
    updates = incident_data(incident(), PAGE)["incident_updates"]
    assert [u["id"] for u in updates] == ["inc_1-3", "inc_1-2", "inc_1-1"]
    assert [u["body"] for u in updates] == ["Mostly 529s.", "Note from ops.", "Error rate 40%."]
    newest = updates[0]
    assert newest["status"] == "identified"
    assert newest["created_at"] == newest["display_at"] == "2024-05-01T12:10:00.000Z"
    assert newest["affected_components"][0] == {
        "code": OPUS,
        "name": OPUS,
        "old_status": "partial_outage",
        "new_status": "major_outage",
    }
    assert updates[1]["affected_components"] is None  # a note changed no state
    assert updates[2]["affected_components"][1]["old_status"] == "operational"
    # A newer update keeps the older ones' ids.
    more = incident(updates=(IncidentUpdate("monitoring", "Better.", T0), *incident().updates))
    assert [u["id"] for u in incident_data(more, PAGE)["incident_updates"]][1:] == [
        u["id"] for u in updates
    ]
    assert incident_data(more, PAGE)["monitoring_at"] == iso(T0)


def test_live_component_states_win() -> None:
    live = [ComponentHealth(OPUS, "anthropic", "claude-opus-4-7", "degraded_performance")]
    components = incident_data(incident(), PAGE, live)["components"]
    assert [c["status"] for c in components] == ["degraded_performance", "major_outage"]
    # No states at all: the impact says how bad it is.
    bare = incident_data(incident(updates=(), impact="minor"), PAGE)
    assert bare["components"][0]["status"] == "degraded_performance"


def test_resolved_incident() -> None:
    done = incident(status="resolved", resolved_at=T0 + timedelta(hours=1))
    data = incident_data(done, None)
    assert data["resolved_at"] == "2024-05-01T13:00:00.000Z"
    assert {c["status"] for c in data["components"]} == {"operational"}
    assert data["shortlink"] is None


def test_breaker_data_and_event_types() -> None:
    event = BreakerChanged(Target("openai", "gpt-4o"), "open", "closed", "5 failures", 30.0)
    assert breaker_data(event) == {
        "target": "openai/gpt-4o",
        "provider": "openai",
        "model": "gpt-4o",
        "state": "open",
        "previous": "closed",
        "reason": "5 failures",
        "open_for": 30.0,
    }
    assert breaker_event_type(event) == BREAKER_OPENED
    closed = BreakerChanged(Target("openai", "gpt-4o"), "closed", "half_open", "probe ok")
    assert breaker_event_type(closed) == BREAKER_CLOSED
    assert breaker_event_type(BreakerChanged(Target("o", "m"), "half_open", "open", "")) is None


def test_standard_envelope() -> None:
    body = standard(INCIDENT_OPENED, incident(), at=T0, page_url=PAGE)
    assert set(body) == {"type", "timestamp", "data"}
    assert body["type"] == "incident.opened"
    assert body["timestamp"] == "2024-05-01T12:00:00.000Z"
    assert body["data"]["name"] == "Elevated errors on Claude Opus"
    assert standard("test.ping", {"hello": 1}, at=T0)["data"] == {"hello": 1}
    orjson.dumps(body)  # serialisable as it is


@pytest.mark.parametrize(
    ("event_type", "overrides", "emoji"),
    [
        (INCIDENT_OPENED, {"impact": "critical"}, "🔴"),
        (INCIDENT_UPDATED, {"impact": "major"}, "🟠"),
        (INCIDENT_UPDATED, {"impact": "minor"}, "🟡"),
        (INCIDENT_OPENED, {"impact": "maintenance", "source": "maintenance"}, "🔧"),
        (INCIDENT_RESOLVED, {"status": "resolved", "resolved_at": T0}, "✅"),
    ],
)
def test_slack_incident_emoji_per_severity(
    event_type: str, overrides: dict[str, object], emoji: str
) -> None:
    message = slack(event_type, incident(**overrides), page_url=PAGE)
    header = message["blocks"][0]
    assert header["type"] == "header"
    assert header["text"]["type"] == "plain_text"
    assert header["text"]["text"].startswith(emoji + " ")
    assert message["text"].startswith(f"*{emoji} ")


def test_slack_incident_message() -> None:
    message = slack(INCIDENT_OPENED, incident(), page_url=PAGE)
    assert set(message) == {"text", "blocks"}
    header, section, context = message["blocks"]
    assert header["text"]["text"] == "🔴 Incident opened: Elevated errors on Claude Opus"
    assert section["type"] == "section"
    assert "*Status:* identified · *Impact:* critical" in section["text"]["text"]
    assert "Mostly 529s." in section["text"]["text"]
    components = section["fields"][0]["text"]
    assert f"`{OPUS}` major outage" in components
    assert "120 failed over · 3 lost" in section["fields"][1]["text"]
    assert context["type"] == "context"
    link = f"<{PAGE}|View the status page>"
    assert link in context["elements"][0]["text"]
    # The fallback text alone tells the whole story (Mattermost, Discord ignore blocks).
    for part in ("Incident opened", "Mostly 529s.", OPUS, link):
        assert part in message["text"]


def test_slack_escapes_and_limits() -> None:
    nasty = incident(
        title="<!channel> & " + "x" * 200,
        updates=(IncidentUpdate("investigating", "<@U123> see <http://evil|here>", T0),),
    )
    message = slack(INCIDENT_OPENED, nasty)
    header = message["blocks"][0]["text"]["text"]
    assert len(header) <= 150 and header.endswith("…")
    body = message["blocks"][1]["text"]["text"]
    assert "&lt;@U123&gt;" in body and "<@U123>" not in body
    assert "<!channel>" not in message["text"] and "&lt;!channel&gt; &amp;" in message["text"]
    assert "status page" not in message["text"]  # no page URL, no link


def test_slack_breaker_message() -> None:
    event = BreakerChanged(Target("openai", "gpt-4o"), "open", "closed", "5 failures", 30.0)
    message = render("slack", BREAKER_OPENED, event, at=T0, page_url=PAGE)
    header, section, context = message["blocks"]
    assert header["text"]["text"] == "🔴 Circuit breaker opened: openai/gpt-4o"
    assert "closed → open" in section["text"]["text"]
    assert "5 failures" in section["text"]["text"] and "30s" in section["text"]["text"]
    assert PAGE in context["elements"][0]["text"]
    closed = BreakerChanged(Target("openai", "gpt-4o"), "closed", "half_open", "probe ok")
    assert slack(BREAKER_CLOSED, closed)["blocks"][0]["text"]["text"].startswith("✅")


def test_render_picks_the_format() -> None:
    event = BreakerChanged(Target("openai", "gpt-4o"), "open", "closed", "5 failures", 30.0)
    assert render("standard", BREAKER_OPENED, event, at=T0)["data"]["target"] == "openai/gpt-4o"
    assert "blocks" in render("slack", BREAKER_OPENED, event, at=T0)
    generic = render("slack", "test.ping", {"a": 1}, at=T0)
    assert generic["text"].startswith("*failsoft: test.ping*")
