"""The admin API: token required, health listed, breakers forced, incidents by hand."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest

from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.conftest import CALLER_KEY
from tests.helpers import request

TOKEN = "adm-secret-token-0123456789abcdef0123"
ADMIN = f'admin: {{token: "{TOKEN}"}}'


def call(
    gw: GatewayThread, method: str, path: str, body: Any = None, token: str | None = TOKEN
) -> Any:
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return request(gw.url + path, body=body, headers=headers, method=method)


def test_without_a_token_configured_there_is_no_admin_api(gateway: GatewayThread) -> None:
    resp = call(gateway, "GET", "/admin/health")
    assert resp.status == 404
    assert "admin.token" in resp.json()["error"]["message"]


def test_wrong_or_missing_token_is_refused(make_gateway: Callable[..., GatewayThread]) -> None:
    gw = make_gateway(ADMIN)
    assert call(gw, "GET", "/admin/health", token=None).status == 401
    wrong = call(gw, "GET", "/admin/health", token="nope")
    assert wrong.status == 401
    assert TOKEN not in wrong.body.decode()
    assert call(gw, "GET", "/admin/health").status == 200


def test_force_a_breaker_open_and_closed(
    make_gateway: Callable[..., GatewayThread], sim: SimServer
) -> None:
    gw = make_gateway(ADMIN)
    resp = call(
        gw, "POST", "/admin/breakers", {"target": "openai/gpt-4o", "state": "open", "seconds": 60}
    )
    assert resp.json() == {"target": "openai/gpt-4o", "state": "open"}
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=CALLER_KEY, max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt", messages=[{"role": "user", "content": "hi"}]
        )
        assert raw.headers["x-failsoft-model"] == "gpt-4o-mini"
        assert sim.attempts("gpt-4o") == 0
        assert (
            call(
                gw, "POST", "/admin/breakers", {"target": "openai/gpt-4o", "state": "closed"}
            ).status
            == 200
        )
        raw = client.chat.completions.with_raw_response.create(
            model="gpt", messages=[{"role": "user", "content": "hi"}]
        )
        assert raw.headers["x-failsoft-model"] == "gpt-4o"
    health = call(gw, "GET", "/admin/health").json()
    ids = [c["id"] for c in health["components"]]
    assert "openai/gpt-4o" in ids and "anthropic/claude-opus-4-7" in ids


@pytest.mark.parametrize(
    ("body", "message"),
    [({"target": "gpt-4o", "state": "open"}, "provider/model"),
     ({"target": "nope/x", "state": "open"}, "unknown provider"),
     ({"target": "openai/gpt-4o", "state": "ajar"}, "state must be"),
     ({"target": "openai/gpt-4o", "state": "open", "seconds": -1}, "positive")],
)  # fmt: skip
def test_bad_breaker_requests(
    make_gateway: Callable[..., GatewayThread], body: Any, message: str
) -> None:
    gw = make_gateway(ADMIN)
    resp = call(gw, "POST", "/admin/breakers", body)
    assert resp.status in (400, 404)
    assert message in resp.json()["error"]["message"]


def test_manual_incident_lifecycle(make_gateway: Callable[..., GatewayThread]) -> None:
    gw = make_gateway(ADMIN)
    created = call(gw, "POST", "/admin/incidents", {
        "title": "Slow answers from GPT-4o", "components": ["openai/gpt-4o"],
        "body": "We see slow answers.", "impact": "minor",
    })  # fmt: skip
    assert created.status == 201
    incident = created.json()
    assert incident["source"] == "manual" and incident["status"] == "investigating"
    updated = call(
        gw,
        "POST",
        f"/admin/incidents/{incident['id']}",
        {"body": "Found it.", "status": "identified"},
    )
    assert updated.json()["status"] == "identified"
    listed = call(gw, "GET", "/admin/health").json()["incidents"]
    assert [i["id"] for i in listed] == [incident["id"]]
    summary = request(gw.url + "/status/api/v2/summary.json", method="GET").json()
    assert [i["name"] for i in summary["incidents"]] == ["Slow answers from GPT-4o"]
    resolved = call(
        gw, "POST", f"/admin/incidents/{incident['id']}", {"body": "Fixed.", "status": "resolved"}
    )
    assert resolved.json()["status"] == "resolved" and resolved.json()["resolved_at"]
    assert call(gw, "GET", "/admin/incidents").json()["incidents"][0]["status"] == "resolved"
    again = call(gw, "POST", f"/admin/incidents/{incident['id']}", {"body": "x"})
    assert again.status == 404


def test_maintenance_window(make_gateway: Callable[..., GatewayThread]) -> None:
    gw = make_gateway(ADMIN)
    bad = call(
        gw,
        "POST",
        "/admin/incidents",
        {"title": "Upgrade", "components": ["openai/gpt-4o"], "maintenance": True},
    )
    assert bad.status == 400 and "scheduled_until" in bad.json()["error"]["message"]
    made = call(gw, "POST", "/admin/incidents", {
        "title": "Upgrade", "components": ["openai/gpt-4o"], "maintenance": True,
        "scheduled_for": "2020-01-01T00:00:00Z", "scheduled_until": "2999-01-01T00:00:00+02:00",
    })  # fmt: skip
    assert made.status == 201 and made.json()["impact"] == "maintenance"
    gw.call(gw.runtime.health.evaluate())
    states = {c["id"]: c["state"] for c in call(gw, "GET", "/admin/health").json()["components"]}
    assert states["openai/gpt-4o"] == "under_maintenance"


@pytest.mark.parametrize(
    "body",
    [{"components": ["openai/gpt-4o"]}, {"title": "x"}, {"title": "x", "components": ["openai/gpt-4o"], "impact": "huge"},
     {"title": "x", "components": ["openai/gpt-4o"], "scheduled_for": "yesterday"}],
)  # fmt: skip
def test_bad_incident_requests(make_gateway: Callable[..., GatewayThread], body: Any) -> None:
    gw = make_gateway(ADMIN)
    assert call(gw, "POST", "/admin/incidents", body).status == 400
    assert call(gw, "POST", "/admin/incidents", "not json").status == 400


@pytest.mark.parametrize("path", ["/admin/keys", "/admin/breakers", "/admin/incidents"])
def test_an_oversized_admin_body_is_413(
    make_gateway: Callable[..., GatewayThread], path: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Found by the fuzz suite (tests/fuzz): a body over the admin API's 64 KiB was a 500
    and a traceback in the log."""
    gw = make_gateway(ADMIN)
    resp = call(gw, "POST", path, {"title": "x" * 100_000})
    assert resp.status == 413, resp.body
    assert "exceeds this gateway's limit of 65536 bytes" in resp.json()["error"]["message"]
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
