"""The JSON endpoints key for key as Statuspage v2 (protocols.md §D.1), so existing pollers
and client libraries read failsoft's page without knowing it isn't Statuspage."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from failsoft.status import statuspage_json as sj
from failsoft.status.model import StatusSnapshot
from tests.status.fixtures import (
    GPT4O,
    NOW,
    OPUS,
    build_snapshot,
    empty_snapshot,
    history,
)

PAGE_KEYS = {"id", "name", "url", "time_zone", "updated_at"}
COMPONENT_KEYS = {
    "id",
    "name",
    "status",
    "created_at",
    "updated_at",
    "position",
    "description",
    "showcase",
    "start_date",
    "group_id",
    "page_id",
    "group",
    "only_show_if_degraded",
}
INCIDENT_KEYS = {
    "id",
    "name",
    "status",
    "created_at",
    "updated_at",
    "monitoring_at",
    "resolved_at",
    "impact",
    "shortlink",
    "started_at",
    "page_id",
    "incident_updates",
    "components",
}
UPDATE_KEYS = {
    "id",
    "status",
    "body",
    "incident_id",
    "created_at",
    "updated_at",
    "display_at",
    "affected_components",
    "deliver_notifications",
    "custom_tweet",
    "tweet_id",
}
COMPONENT_STATUS = {
    "operational",
    "degraded_performance",
    "partial_outage",
    "major_outage",
    "under_maintenance",
}
INCIDENT_STATUS = {"investigating", "identified", "monitoring", "resolved", "postmortem"}
MAINTENANCE_STATUS = {"scheduled", "in_progress", "verifying", "completed"}
INDICATORS = {"none", "minor", "major", "critical", "maintenance"}
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
CODE = re.compile(r"^[a-z2-7]{12}$")


def load(body: bytes) -> Any:
    assert isinstance(body, bytes)
    return json.loads(body)  # the stdlib, as a consumer would


def stamps(obj: Any) -> list[str]:
    """Every `*_at` / `*_for` / `*_until` value anywhere in `obj`."""
    found: list[str] = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key.endswith(("_at", "_for", "_until")) and value is not None:
                found.append(value)
            found += stamps(value)
    elif isinstance(obj, list):
        for value in obj:
            found += stamps(value)
    return found


@pytest.fixture
def snap() -> StatusSnapshot:
    return build_snapshot()


def test_summary_shape(snap: StatusSnapshot) -> None:
    body = load(sj.summary_json(snap))
    assert set(body) == {"page", "components", "incidents", "scheduled_maintenances", "status"}
    assert set(body["page"]) == PAGE_KEYS
    assert body["page"]["time_zone"] == "Etc/UTC"
    assert body["page"]["id"] == "failsoft"
    assert body["page"]["url"] == snap.url
    assert body["status"] == {"indicator": "critical", "description": "Major System Outage"}
    for stamp in stamps(body):
        assert STAMP.match(stamp), stamp


def test_components_are_grouped_by_provider(snap: StatusSnapshot) -> None:
    components = load(sj.components_json(snap))["components"]
    groups = [c for c in components if c["group"]]
    children = [c for c in components if not c["group"]]
    assert [g["name"] for g in groups] == ["anthropic", "openai", "local"]
    assert len(children) == len(snap.components)
    for g in groups:
        assert set(g) == COMPONENT_KEYS | {"components"}
        assert g["group_id"] is None
        mine = [c["id"] for c in children if c["group_id"] == g["id"]]
        assert g["components"] == mine
    for c in children:
        assert set(c) == COMPONENT_KEYS
        assert c["status"] in COMPONENT_STATUS
        assert c["page_id"] == "failsoft"
        assert CODE.match(c["id"])
        assert re.match(r"^\d{4}-\d\d-\d\d$", c["start_date"])
    # positions follow the list: each group right before its models
    assert [c["position"] for c in components] == list(range(1, len(components) + 1))
    assert components[0]["name"] == "anthropic"
    assert components[1]["name"] == "anthropic / claude-opus-4-7"
    assert components[1]["status"] == "major_outage"
    by_name = {g["name"]: g["status"] for g in groups}
    assert by_name == {
        "anthropic": "major_outage",
        "openai": "degraded_performance",
        "local": "under_maintenance",
    }


def test_component_ids_are_stable_safe_and_unique(snap: StatusSnapshot) -> None:
    # pinned: pollers store these ids, so changing the encoding breaks them
    assert sj.component_code(OPUS) == "pewfuskk7fhd"
    assert sj.component_code("openai/gpt-4o") == "vozxlw36z5ax"
    assert sj.group_code("anthropic") == "3btbngaje37k"
    first = load(sj.components_json(snap))["components"]
    again = load(sj.components_json(build_snapshot(NOW + timedelta(minutes=5))))["components"]
    assert [c["id"] for c in first] == [c["id"] for c in again]
    assert len({c["id"] for c in first}) == len(first)


def test_incident_shape_and_updates_newest_first(snap: StatusSnapshot) -> None:
    incidents = load(sj.summary_json(snap))["incidents"]
    opus = next(i for i in incidents if i["id"] == "inc-opus-0603")
    assert set(opus) == INCIDENT_KEYS
    assert opus["status"] == "identified"
    assert opus["impact"] == "critical"
    assert opus["resolved_at"] is None
    assert opus["monitoring_at"] is None
    assert opus["shortlink"] == f"{snap.url}#incident-inc-opus-0603"
    assert opus["components"] == [
        {
            "id": sj.component_code(OPUS),
            "name": "anthropic / claude-opus-4-7",
            "status": "major_outage",
        }
    ]
    updates = opus["incident_updates"]
    assert [u["status"] for u in updates] == ["identified", "investigating"]
    assert updates[0]["created_at"] > updates[1]["created_at"]
    assert [u["id"] for u in updates] == ["inc-opus-0603-2", "inc-opus-0603-1"]
    for u in updates:
        assert set(u) == UPDATE_KEYS
        assert u["incident_id"] == "inc-opus-0603"
        assert u["display_at"] == u["created_at"]
    assert updates[0]["affected_components"] == [
        {
            "code": sj.component_code(OPUS),
            "name": "anthropic / claude-opus-4-7",
            "old_status": "partial_outage",
            "new_status": "major_outage",
        }
    ]
    assert updates[1]["affected_components"][0]["old_status"] == "operational"


def test_update_ids_survive_a_new_update(snap: StatusSnapshot) -> None:
    inc = snap.active[0]
    before = sj.incident(snap, inc)["incident_updates"]
    newer = replace(
        inc, updates=(replace(inc.updates[0], status="monitoring", body="ok"), *inc.updates)
    )
    after = load(sj.incidents_json(replace(snap, active=(newer, *snap.active[1:]))))
    item = next(i for i in after["incidents"] if i["id"] == inc.id)
    assert item["incident_updates"][0]["id"] == f"{inc.id}-3"
    assert [u["id"] for u in item["incident_updates"][1:]] == [u["id"] for u in before]
    assert item["monitoring_at"] == item["incident_updates"][0]["created_at"]


def test_unresolved_filter(snap: StatusSnapshot) -> None:
    summary = load(sj.summary_json(snap))["incidents"]
    unresolved = load(sj.unresolved_incidents_json(snap))
    assert set(unresolved) == {"page", "incidents"}
    assert unresolved["incidents"] == summary
    assert [i["id"] for i in summary] == ["inc-gpt4o-0603", "inc-opus-0603"]  # newest first
    assert all(i["status"] in INCIDENT_STATUS - {"resolved", "postmortem"} for i in summary)
    # a resolved incident lingering in `active` is still not unresolved
    done = replace(snap.active[0], status="resolved", resolved_at=NOW)
    lingering = replace(snap, active=(done, *snap.active[1:]))
    assert [i["id"] for i in load(sj.unresolved_incidents_json(lingering))["incidents"]] == [
        "inc-gpt4o-0603"
    ]


def test_incidents_json_lists_50_most_recent_of_any_status(snap: StatusSnapshot) -> None:
    body = load(sj.incidents_json(snap))
    assert set(body) == {"page", "incidents"}
    ids = [i["id"] for i in body["incidents"]]
    assert ids == [
        "inc-gpt4o-0603",
        "inc-opus-0603",
        "inc-opus-0531",
        "inc-mini-0524",
        "inc-gpt4o-0424",
    ]
    assert all(i["status"] in INCIDENT_STATUS for i in body["incidents"])
    many = tuple(
        replace(history()[0], id=f"old-{n}", started_at=NOW - timedelta(hours=n + 1))
        for n in range(70)
    )
    big = load(sj.incidents_json(replace(snap, active=(), history=many)))["incidents"]
    assert len(big) == sj.INCIDENTS_LIMIT == 50
    assert [i["id"] for i in big] == [f"old-{n}" for n in range(50)]


def test_maintenances_use_their_own_statuses(snap: StatusSnapshot) -> None:
    summary = load(sj.summary_json(snap))
    found = {m["id"]: m for m in summary["scheduled_maintenances"]}
    assert set(found) == {"mnt-openai-keys", "mnt-local-0603"}
    assert found["mnt-openai-keys"]["status"] == "scheduled"
    assert found["mnt-local-0603"]["status"] == "in_progress"
    # announced before it starts: created when announced, started when it starts
    keys = found["mnt-openai-keys"]
    assert keys["created_at"] == "2026-06-03T09:30:00.123Z"
    assert keys["started_at"] == keys["scheduled_for"] == "2026-06-05T06:00:00.000Z"
    assert keys["scheduled_until"] == "2026-06-05T06:30:00.000Z"
    for m in found.values():
        assert set(m) == INCIDENT_KEYS | {"scheduled_for", "scheduled_until"}
        assert m["impact"] == "maintenance"
        assert all(u["status"] in MAINTENANCE_STATUS for u in m["incident_updates"])
    every = load(sj.scheduled_maintenances_json(snap))
    assert set(every) == {"page", "scheduled_maintenances"}
    statuses = {m["id"]: m["status"] for m in every["scheduled_maintenances"]}
    assert statuses == {
        "mnt-openai-keys": "scheduled",
        "mnt-local-0603": "in_progress",
        "mnt-local-0522": "completed",
    }
    upcoming = load(sj.upcoming_maintenances_json(snap))["scheduled_maintenances"]
    active = load(sj.active_maintenances_json(snap))["scheduled_maintenances"]
    assert [m["id"] for m in upcoming] == ["mnt-openai-keys"]
    assert [m["id"] for m in active] == ["mnt-local-0603"]
    # never among incidents, whose consumers expect incident statuses
    incidents = load(sj.incidents_json(snap))["incidents"]
    assert not any(i["id"].startswith("mnt-") for i in incidents)


def test_status_json(snap: StatusSnapshot) -> None:
    body = load(sj.status_json(snap))
    assert set(body) == {"page", "status"}
    assert set(body["page"]) == PAGE_KEYS


def consumer_message(raw: bytes) -> str:
    """What a typical poller does: branch on `status.indicator`, show `description`."""
    status = json.loads(raw)["status"]
    match status["indicator"]:
        case "none":
            return "ok"
        case "maintenance":
            return "maintenance: " + status["description"]
        case "minor" | "major" | "critical" as level:
            return f"{level}: " + status["description"]
        case other:
            raise AssertionError(f"unknown indicator {other!r}")


@pytest.mark.parametrize(
    ("indicator", "description", "expected"),
    [
        ("none", "All Systems Operational", "ok"),
        ("minor", "Partially Degraded Service", "minor: Partially Degraded Service"),
        ("major", "Partial System Outage", "major: Partial System Outage"),
        ("critical", "Major System Outage", "critical: Major System Outage"),
        ("maintenance", "Service Under Maintenance", "maintenance: Service Under Maintenance"),
    ],
)
def test_a_consumer_branching_on_the_indicator(
    indicator: str, description: str, expected: str
) -> None:
    snap = build_snapshot(indicator=indicator, description=description)
    for render in (sj.summary_json, sj.status_json):
        assert consumer_message(render(snap)) == expected
        assert load(render(snap))["status"]["indicator"] in INDICATORS


def test_every_endpoint_renders_an_empty_page() -> None:
    snap = empty_snapshot()
    for path, render in sj.ENDPOINTS.items():
        body = load(render(snap))
        assert body["page"]["updated_at"] == "2026-06-03T14:30:00.123Z", path
    summary = load(sj.summary_json(snap))
    assert summary["components"] == []
    assert summary["incidents"] == []
    assert summary["scheduled_maintenances"] == []
    assert summary["status"]["indicator"] == "none"


def test_timestamps_are_utc_with_milliseconds() -> None:
    assert sj.iso(datetime(2026, 6, 3, 7, 28, 39, 123456, tzinfo=UTC)) == "2026-06-03T07:28:39.123Z"
    assert sj.iso(datetime(2026, 6, 3, 7, 28, 39)) == "2026-06-03T07:28:39.000Z"  # naive = UTC
    tijuana = datetime(2022, 2, 15, 13, 37, 37, 407000, tzinfo=timezone(timedelta(hours=-8)))
    assert sj.iso(tijuana) == "2022-02-15T21:37:37.407Z"
    assert sj.iso(None) is None


def test_page_updated_at_is_the_last_change(snap: StatusSnapshot) -> None:
    # the newest thing in the fixture: gpt-4o degraded (and its incident) 15 minutes ago
    assert load(sj.status_json(snap))["page"]["updated_at"] == sj.iso(NOW - timedelta(minutes=15))


def test_unknown_component_in_an_incident_keeps_a_readable_name(snap: StatusSnapshot) -> None:
    gone = replace(snap.active[0], components=("retired/old-model", GPT4O))
    body = sj.incident(replace(snap, active=(gone,)), gone)
    assert body["components"][0] == {
        "id": sj.component_code("retired/old-model"),
        "name": "retired / old-model",
        "status": "operational",
    }
