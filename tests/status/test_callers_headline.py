"""The callers' headline on the page and in the JSON: an absorbed outage reads as one, the
virtual models are a component group of their own, and the Statuspage shapes do not change."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from failsoft.status import render_html
from failsoft.status import statuspage_json as sj
from tests.status.fixtures import OPUS, absorbed_snapshot, build_snapshot
from tests.status.test_html import Page
from tests.status.test_statuspage_json import COMPONENT_KEYS, COMPONENT_STATUS, STAMP


def load(body: bytes) -> Any:
    return json.loads(body)


def test_the_banner_says_callers_were_served_and_what_failed() -> None:
    doc = Page(render_html(absorbed_snapshot()).decode())
    banner = doc.one("data-testid", "overall-status")
    assert banner.startswith(
        "All requests answered — anthropic/claude-opus-4-7 failing, served by fallbacks"
    )
    served = doc.one("data-testid", "callers-served")
    assert served.startswith(
        "Callers served: 99.8% of 682 requests in the last 5 minutes (11% by a fallback)"
    )
    assert "Providers: anthropic/claude-opus-4-7 major outage" in served
    (attrs,) = [a for a in doc.attrs("section") if a.get("id") == "overall-status"]
    assert attrs["data-indicator"] == "none"
    assert "banner op" in (attrs["class"] or "")


def test_the_page_shows_each_models_share_by_rung() -> None:
    doc = Page(render_html(absorbed_snapshot()).decode())
    table = doc.one("data-testid", "callers")
    assert table.startswith("Model Answered By State")
    claude = doc.one("data-testid", f"model-{sj.model_code('claude')}")
    assert claude == "claude 100% of 172 primary 58.1% fallback 1 41.8% Operational"
    gpt = doc.one("data-testid", f"model-{sj.model_code('gpt')}")
    assert gpt == "gpt 99.8% of 510 primary 99.2% fallback 1 0.5% cache 0.1% Operational"
    local = doc.one("data-testid", f"model-{sj.model_code('local')}")
    assert local == "local no requests – Under maintenance"
    spans = [a for a in doc.attrs("span") if a.get("class") == "rung"]
    assert [a.get("title") for a in spans[:2]] == [OPUS, "anthropic/claude-sonnet-4-5"]


def test_without_caller_figures_the_page_is_as_before() -> None:
    text = render_html(build_snapshot()).decode()
    assert 'data-testid="callers"' not in text and "callers-served" not in text
    first = load(sj.components_json(build_snapshot()))["components"][0]
    assert first["name"] == "anthropic"


def test_virtual_models_are_a_component_group_of_their_own() -> None:
    snap = absorbed_snapshot()
    components = load(sj.components_json(snap))["components"]
    group, *models = components[:4]
    assert group["name"] == "What callers got"
    assert group["group"] is True and group["group_id"] is None
    assert set(group) == COMPONENT_KEYS | {"components"}
    assert group["components"] == [sj.model_code(n) for n in ("claude", "gpt", "local")]
    assert group["status"] == "under_maintenance"  # the worst of its models, as for providers
    assert [m["name"] for m in models] == ["claude", "gpt", "local"]
    assert [m["status"] for m in models] == ["operational", "operational", "under_maintenance"]
    for m in models:
        assert set(m) == COMPONENT_KEYS
        assert m["group_id"] == group["id"]
        assert m["status"] in COMPONENT_STATUS
    assert models[0]["description"] == (
        "100% of 172 requests answered in the last 5 minutes (41.8% by a fallback)"
    )
    assert models[2]["description"] == "No requests in the last 5 minutes"
    # each provider×model keeps its upstream state
    opus = next(c for c in components if c["id"] == sj.component_code(OPUS))
    assert opus["status"] == "major_outage"
    assert [c["position"] for c in components] == list(range(1, len(components) + 1))
    ids = [c["id"] for c in components]
    assert len(set(ids)) == len(ids)
    for c in components:
        for key in ("created_at", "updated_at"):
            assert STAMP.match(c[key]), c


def test_summary_and_status_follow_callers() -> None:
    snap = absorbed_snapshot()
    summary = load(sj.summary_json(snap))
    assert set(summary) == {"page", "components", "incidents", "scheduled_maintenances", "status"}
    assert summary["status"] == {
        "indicator": "none",
        "description": (
            "All requests answered — anthropic/claude-opus-4-7 failing, served by fallbacks"
        ),
    }
    assert load(sj.status_json(snap))["status"] == summary["status"]
    assert summary["components"][0]["name"] == "What callers got"


def test_a_models_state_follows_its_share() -> None:
    snap = absorbed_snapshot()
    bad = replace(snap.callers[0], answered=120, indicator="critical", state="major_outage")
    snap = replace(snap, callers=(bad, *snap.callers[1:]))
    components = load(sj.components_json(snap))["components"]
    assert components[0]["status"] == "major_outage"
    assert components[1]["status"] == "major_outage"
    assert components[1]["description"].startswith("69.7% of 172 requests answered")
    doc = Page(render_html(snap).decode())
    row = doc.one("data-testid", f"model-{sj.model_code('claude')}")
    assert row.startswith("claude 69.7% of 172") and row.endswith("Major outage")
