"""Reading providers' status pages: real-shaped fixtures, odd values, wrong shapes.

The fixtures follow the shapes recorded in the shared protocol notes (Discord's and
status.claude.com's Statuspage summaries, status.openai.com's incident.io feeds, Google
Cloud's incidents.json), trimmed and with ids kept realistic.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from failsoft.health.statuspage import (
    StatusPageError,
    flatten_rich_text,
    parse_any,
    parse_google_cloud,
    parse_incidentio_widget,
    parse_statuspage,
    parse_time,
    to_level,
    to_state,
    to_status,
)
from failsoft.health.types import ProviderStatus

FIXTURES = Path(__file__).parent / "fixtures"
NOW = datetime(2026, 5, 23, 10, 0, tzinfo=UTC)


def load(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def read(name: str, page_url: str = "https://status.example.net") -> ProviderStatus:
    return parse_any(load(name), "prov", page_url, NOW)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --------------------------------------------------------------------------- Statuspage


def test_discord_summary_with_a_degraded_component_and_offset_timestamps() -> None:
    status = read("discord_summary")
    assert status.provider == "prov"
    assert status.page_url == "https://status.example.net"
    assert status.fetched_at == NOW and status.error is None
    assert (status.indicator, status.description) == ("minor", "Partially Degraded Service")
    assert [(c.id, c.name, c.state, c.group) for c in status.components] == [
        ("rhznvxg4v7yh", "API", "degraded_performance", None),
        ("r3wq1zsx72bz", "Media Proxy", "operational", None),
    ]
    (incident,) = status.incidents
    assert (incident.id, incident.name, incident.status, incident.impact) == (
        "n4njzfn1mqy0",
        "Messaging issues",
        "identified",
        "minor",
    )
    # -08:00 on the page is eight hours later in UTC.
    assert incident.started_at == datetime(2022, 2, 15, 21, 14, 17, 737000, tzinfo=UTC)
    assert incident.updated_at == datetime(2022, 2, 15, 21, 21, 31, 892000, tzinfo=UTC)
    assert incident.started_at.utcoffset() == timedelta(0)
    assert incident.url == "https://discordstatus.com/incidents/n4njzfn1mqy0"
    assert incident.components == ("API",)
    assert [u.status for u in incident.updates] == ["identified", "investigating"]
    assert incident.updates[0].at > incident.updates[1].at
    assert incident.updates[1].body.startswith("We're investigating high latency")
    assert not incident.maintenance and incident.resolved_at is None


def test_indicator_major_is_kept_though_every_component_is_operational() -> None:
    status = read("claude_major_incident")
    assert status.indicator == "major"
    assert {c.state for c in status.components} == {"operational"}
    (incident,) = status.incidents
    assert (incident.impact, incident.status) == ("major", "monitoring")
    # `components` is empty: the names come from the updates' affected_components.
    assert incident.components == ("Claude API (api.anthropic.com)",)
    assert incident.started_at == utc(2026, 6, 3, 7, 10, 12)
    assert [u.body for u in incident.updates] == [
        "A fix has been implemented and we are monitoring the results.",
        "We are currently investigating this issue.",
    ]


def test_incidentio_compatible_summary_with_full_outage() -> None:
    status = read("incidentio_compat")
    states = {c.name: c.state for c in status.components}
    assert states == {"Chat Completions": "major_outage", "Embeddings": "operational"}
    assert status.indicator == "critical"
    assert status.incidents[0].components == ("Chat Completions",)
    assert status.incidents[0].impact == "critical"


def test_group_components_name_their_children_and_are_not_listed() -> None:
    status = read("groups")
    assert [(c.id, c.group) for c in status.components] == [
        ("c-messages", "API"),
        ("c-completions", "API"),
        ("c-console", "Web"),  # only the child's group_id ties it to its group
        ("c-docs", None),
    ]
    assert status.incidents[0].components == ("Messages",)  # looked up by id


def test_a_group_without_an_id_claims_no_ungrouped_component() -> None:
    page = {"components": [{"name": "Nameless group", "group": True, "components": [None, 3]},
                           {"id": "solo", "name": "Solo", "status": "operational", "group_id": None}]}  # fmt: skip
    status = parse_statuspage(page, "p", "u", NOW)
    assert [(c.name, c.group) for c in status.components] == [("Solo", None)]


def test_maintenance_in_progress_is_an_incident_and_upcoming_is_not() -> None:
    status = read("maintenance")
    assert status.indicator == "maintenance"
    assert status.description == "Service Under Maintenance"
    assert [i.id for i in status.incidents] == ["m-now", "m-window"]
    now, window = status.incidents
    assert now.maintenance and now.impact == "maintenance" and now.status == "identified"
    assert now.scheduled_for == utc(2026, 5, 23, 9, 0)
    assert now.scheduled_until == utc(2026, 5, 23, 11, 0)
    assert now.components == ("Git Operations",)
    assert [u.at for u in now.updates] == sorted((u.at for u in now.updates), reverse=True)
    # No status at all: in progress because NOW falls inside its window.
    assert window.maintenance and window.status == "identified"
    assert {c.name: c.state for c in status.components}["Git Operations"] == "under_maintenance"


def test_odd_values_are_normalised_without_raising() -> None:
    status = read("odd_enums")
    assert {c.name: c.state for c in status.components} == {
        "Alpha": "degraded_performance",  # "degraded"
        "Beta": "partial_outage",  # "Partial Outage"
        "Gamma": "degraded_performance",  # "blue": unknown
        "Delta": "operational",  # no status at all
        "Epsilon": "major_outage",  # "full_outage"
        "Zeta": "under_maintenance",  # "in-maintenance-window"
        "Eta": "degraded_performance",  # 42: unknown
    }
    # "catastrophic" is no indicator: derived from the worst component.
    assert status.indicator == "critical"
    assert status.description == "Major System Outage"
    assert [i.name for i in status.incidents] == ["Something odd", "No id, no times"]
    odd, bare = status.incidents
    assert (odd.status, odd.impact, odd.components) == ("investigating", "minor", ())
    assert odd.started_at == utc(2026, 5, 1, 10, 0)  # naive means UTC
    assert odd.updated_at == datetime(2026, 5, 1, 5, 0, 0, 123456, tzinfo=UTC)
    assert [u.status for u in odd.updates] == ["investigating", "update", "update"]
    assert [u.body for u in odd.updates] == ["", "Second.", "First."]
    assert (bare.id, bare.url, bare.started_at, bare.updated_at) == (
        "No id, no times",
        None,
        NOW,
        NOW,
    )


def test_an_unknown_status_value_is_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="failsoft.health")
    assert to_state("glowing") == "degraded_performance"
    assert "glowing" in caplog.text
    assert all(r.levelname == "DEBUG" for r in caplog.records)


# --------------------------------------------------------------------------- incident.io


def test_incidentio_widget_with_groups_rich_text_and_maintenance() -> None:
    status = read("incidentio_widget")
    assert [(c.name, c.state, c.group) for c in status.components] == [
        ("Chat Completions", "partial_outage", "APIs"),
        ("Responses", "operational", "APIs"),
        ("Login", "under_maintenance", "ChatGPT"),
        ("Codex", "operational", None),
    ]
    assert status.indicator == "major"  # derived: the page states none
    assert status.description == "Partial System Outage"
    incident, maintenance = status.incidents
    assert (incident.status, incident.impact, incident.components) == (
        "identified",
        "major",
        ("Chat Completions",),
    )
    assert incident.url == "https://status.openai.com/incidents/01JVQ9A7R5M2C8Y3T0D4K6H1ZX"
    assert [u.status for u in incident.updates] == ["identified", "investigating"]
    assert incident.updates[0].body == (
        "We have identified the cause:\n- a bad config push\n- rollback\nin progress"
    )
    assert incident.updates[1].body == "We are seeing elevated errors on Chat Completions."
    assert maintenance.maintenance and maintenance.impact == "maintenance"
    assert maintenance.status == "identified"
    assert maintenance.started_at == maintenance.scheduled_for == utc(2026, 5, 21, 7, 0)
    assert maintenance.scheduled_until == utc(2026, 5, 21, 9, 0)
    assert maintenance.updates[0].body == "Maintenance has started."
    # The upcoming maintenance is not listed.
    assert "Database upgrade" not in {i.name for i in status.incidents}


def test_incidentio_flat_summary_infers_components_from_incidents() -> None:
    status = read("incidentio_widget_flat")
    assert [(c.name, c.state, c.group) for c in status.components] == [
        ("Compute", "degraded_performance", "AWS - US East (Ohio)")
    ]
    assert status.indicator == "minor"
    (incident,) = status.incidents
    assert incident.status == "monitoring"
    assert incident.url == "https://neonstatus.com/incidents/01JW0000000000000000000001"
    assert incident.updates[0].body == "A fix is deployed; we are monitoring."
    assert incident.started_at == incident.updated_at == utc(2026, 5, 22, 10, 15)


def test_incidentio_quiet_page_and_null_affected_components() -> None:
    page = {"summary": {"name": "OpenAI", "components": [{"id": "a", "name": "API"}],
                        "affected_components": None, "ongoing_incidents": None}}  # fmt: skip
    status = parse_incidentio_widget(page, "openai", "https://status.openai.com", NOW)
    assert status.indicator == "none" and status.incidents == ()
    assert status.components[0].state == "operational"


def test_maintenance_alone_gives_the_maintenance_indicator() -> None:
    page = {"ongoing_incidents": [],
            "in_progress_maintenances": [{"id": "m", "name": "Upgrade", "status": "maintenance_in_progress",
                                          "affected_components": [{"id": "x", "name": "X"}]}]}  # fmt: skip
    status = parse_incidentio_widget(page, "p", "https://p.example", NOW)
    assert status.indicator == "maintenance"
    assert status.components[0].state == "under_maintenance"


# --------------------------------------------------------------------------- Google Cloud


def test_google_cloud_open_incidents_only() -> None:
    status = read("google_incidents", "https://status.cloud.google.com")
    assert [i.id for i in status.incidents] == ["5fGQt4VbkDnr3Yp8PXPr", "hN7xQ2Lr8sWt1Yk3PzAb"]
    outage, recovered = status.incidents
    assert outage.name == "Vertex Gemini API requests are failing in us-central1"
    assert (outage.impact, outage.status) == ("critical", "identified")
    assert outage.url == "https://status.cloud.google.com/incidents/5fGQt4VbkDnr3Yp8PXPr"
    assert outage.components == ("Vertex Gemini API",)
    assert [u.body for u in outage.updates][1] == "We are investigating."
    assert outage.updates[0].at > outage.updates[1].at
    # Unknown status_impact falls back to severity; AVAILABLE means recovered.
    assert (recovered.impact, recovered.status) == ("minor", "monitoring")
    assert recovered.updates[0].status == "resolved"
    assert {c.name: c.state for c in status.components} == {
        "Vertex Gemini API": "major_outage",
        "Hybrid Connectivity": "degraded_performance",
    }
    assert status.indicator == "critical"


def test_google_cloud_product_filter() -> None:
    obj = load("google_incidents")
    status = parse_google_cloud(obj, "g", "https://status.cloud.google.com", NOW, products=["vertex gemini api"])  # fmt: skip
    assert [i.id for i in status.incidents] == ["5fGQt4VbkDnr3Yp8PXPr"]
    quiet = parse_google_cloud(obj, "g", "https://status.cloud.google.com", NOW, products=["BigQuery"])  # fmt: skip
    assert (quiet.indicator, quiet.incidents, quiet.components) == ("none", (), ())


# --------------------------------------------------------------------------- wrong shapes


@pytest.mark.parametrize(
    "obj", [None, 42, "summary", {}, {"error": "not found"}, {"summary": "x"}, 1.5]
)
def test_a_document_of_the_wrong_shape_raises_one_clear_error(obj: Any) -> None:
    with pytest.raises(StatusPageError, match="prov: not a Statuspage summary"):
        parse_any(obj, "prov", "https://p.example", NOW)


def test_each_reader_rejects_the_wrong_shape() -> None:
    with pytest.raises(StatusPageError, match="not a Statuspage summary"):
        parse_statuspage([], "p", "u", NOW)
    with pytest.raises(StatusPageError, match=r"not an incident\.io widget"):
        parse_incidentio_widget({"page": {}}, "p", "u", NOW)
    with pytest.raises(StatusPageError, match="not a Google Cloud incidents array"):
        parse_google_cloud({"incidents": []}, "p", "u", NOW)
    assert isinstance(StatusPageError("x"), ValueError)


def test_a_list_is_read_as_google_and_junk_items_are_skipped() -> None:
    status = parse_any([1, "x", None, {"end": "2026-01-01T00:00:00Z"}], "g", "u", NOW)
    assert (status.indicator, status.incidents) == ("none", ())


# --------------------------------------------------------------------------- normalisers


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2022-02-15T13:37:37.407-08:00", datetime(2022, 2, 15, 21, 37, 37, 407000, tzinfo=UTC)),
        ("2026-06-05T07:00:00Z", utc(2026, 6, 5, 7, 0)),
        ("2026-06-05T07:00:00+00:00", utc(2026, 6, 5, 7, 0)),
        ("2026-06-05T07:00:00.123456789Z", datetime(2026, 6, 5, 7, 0, 0, 123456, tzinfo=UTC)),
        ("2026-06-05T12:30:00+0530", utc(2026, 6, 5, 7, 0)),
        ("2026-06-05T07:00:00", utc(2026, 6, 5, 7, 0)),
        ("2026-06-05 07:00:00", utc(2026, 6, 5, 7, 0)),
        (1780642800, utc(2026, 6, 5, 7, 0)),
        (1780642800000, utc(2026, 6, 5, 7, 0)),
        ("", None),
        (None, None),
        ("yesterday", None),
        ("9999-12-31T23:59:59-08:00", None),  # past the end of datetime once in UTC
        ("0001-01-01T00:00:00+01:00", None),
        (1e300, None),
        (float("inf"), None),
        (True, None),
        ({"at": 1}, None),
    ],
)
def test_parse_time(value: Any, expected: datetime | None) -> None:
    parsed = parse_time(value)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is UTC or parsed.utcoffset() == timedelta(0)


def test_parse_time_keeps_the_instant_across_offsets() -> None:
    local = datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=-8)))
    assert parse_time(local.isoformat()) == local


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("operational", "operational"),
        ("degraded_performance", "degraded_performance"),
        ("degraded", "degraded_performance"),
        ("Degraded Performance", "degraded_performance"),
        ("partial_outage", "partial_outage"),
        ("major_outage", "major_outage"),
        ("full_outage", "major_outage"),
        ("under_maintenance", "under_maintenance"),
        ("maintenance", "under_maintenance"),
        ("partially-down", "partial_outage"),
        ("regional_outage", "major_outage"),
        ("purple", "degraded_performance"),
        (None, "operational"),
        (3, "degraded_performance"),
    ],
)
def test_to_state(value: Any, expected: str) -> None:
    assert to_state(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("none", "none"),
        ("minor", "minor"),
        ("major", "major"),
        ("critical", "critical"),
        ("maintenance", "maintenance"),
        ("MAJOR", "major"),
        ("full_outage", "critical"),
        ("partial_outage", "major"),
        ("degraded_performance", "minor"),
        ("SERVICE_OUTAGE", "critical"),
        ("SERVICE_DISRUPTION", "major"),
        ("SERVICE_INFORMATION", "minor"),
        ("operational", "none"),
        ("catastrophic", None),
        (None, None),
    ],
)
def test_to_level(value: Any, expected: str | None) -> None:
    assert to_level(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("investigating", "investigating"),
        ("identified", "identified"),
        ("monitoring", "monitoring"),
        ("resolved", "resolved"),
        ("postmortem", "postmortem"),
        ("in_progress", "identified"),
        ("verifying", "monitoring"),
        ("completed", "resolved"),
        ("maintenance_in_progress", "identified"),
        ("fixing", "investigating"),
        (None, "investigating"),
    ],
)
def test_to_status(value: Any, expected: str) -> None:
    assert to_status(value) == expected


# --------------------------------------------------------------------------- rich text


def test_flatten_rich_text() -> None:
    doc = {"type": "doc", "content": [
        {"type": "heading", "content": [{"type": "text", "text": "Update"}]},
        {"type": "paragraph", "content": [
            {"type": "text", "text": "Ask "}, {"type": "mention", "attrs": {"label": "@oncall"}},
            {"type": "text", "text": " for help."}]},
        {"type": "orderedList", "content": [
            {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "one"}]}]}]},
        {"type": "paragraph"},
        {"type": "unknownNode", "content": "junk"},
        7,
    ]}  # fmt: skip
    assert flatten_rich_text(doc) == "Update\nAsk @oncall for help.\n- one\njunk"
    assert flatten_rich_text("  plain text  ") == "plain text"
    assert flatten_rich_text(json.dumps(doc)) == flatten_rich_text(doc)
    assert flatten_rich_text('{"type": broken') == '{"type": broken'
    assert flatten_rich_text(None) == ""


def test_flatten_survives_a_very_deep_tree() -> None:
    node: dict[str, Any] = {"type": "text", "text": "deep"}
    for _ in range(5000):
        node = {"type": "paragraph", "content": [node]}
    assert flatten_rich_text(node) == ""  # cut off, but no RecursionError


# --------------------------------------------------------------------------- robustness

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip
BASES = [load(name) for name in ("discord_summary", "incidentio_widget", "google_incidents")]


def _mangle(obj: Any, path: list[int], value: Any) -> Any:
    """`obj` with one nested value (chosen by `path`) replaced by `value`."""
    if not path or not isinstance(obj, dict | list) or not obj:
        return value
    if isinstance(obj, dict):
        key = sorted(obj)[path[0] % len(obj)]
        return {**obj, key: _mangle(obj[key], path[1:], value)}
    i = path[0] % len(obj)
    return [*obj[:i], _mangle(obj[i], path[1:], value), *obj[i + 1 :]]


@settings(max_examples=150, deadline=None)
@given(
    base=st.sampled_from(BASES),
    path=st.lists(st.integers(min_value=0, max_value=50), max_size=6),
    value=JSON,
)
def test_garbled_fields_never_raise_anything_but_status_page_error(
    base: Any, path: list[int], value: Any
) -> None:
    try:
        status = parse_any(_mangle(base, path, value), "p", "https://p.example", NOW)
    except StatusPageError:
        return
    assert isinstance(status, ProviderStatus)
    for incident in status.incidents:
        assert incident.started_at.utcoffset() == timedelta(0)
        assert list(incident.updates) == sorted(incident.updates, key=lambda u: u.at, reverse=True)
