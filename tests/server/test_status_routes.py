"""`/status` and its Statuspage v2 JSON as served by a gateway."""

from __future__ import annotations

from collections.abc import Callable

from failsoft.serve import GatewayThread
from tests.helpers import request

STATUSPAGE_KEYS = {"page", "components", "incidents", "scheduled_maintenances", "status"}


TOKEN = "tok-status-" + "0" * 32


def get(gw: GatewayThread, path: str, headers: dict[str, str] | None = None) -> object:
    return request(gw.url + path, method="GET", headers=headers)


def test_page_and_json_are_served(gateway: GatewayThread) -> None:
    page = request(gateway.url + "/status", method="GET")
    assert page.status == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src 'sha256-" in page.headers["content-security-policy"]
    assert b"All Systems Operational" in page.body
    assert b"claude-opus-4-7" in page.body
    summary = request(gateway.url + "/status/api/v2/summary.json", method="GET")
    assert summary.headers["access-control-allow-origin"] == "*"
    body = summary.json()
    assert set(body) >= STATUSPAGE_KEYS
    assert body["status"]["indicator"] == "none"
    assert body["page"]["url"] == gateway.url + "/status"
    for name in ("status.json", "components.json", "incidents.json", "incidents/unresolved.json",
                 "scheduled-maintenances.json"):  # fmt: skip
        resp = request(gateway.url + "/status/api/v2/" + name, method="GET")
        assert resp.status == 200, name
        assert "page" in resp.json()
    assert request(gateway.url + "/status/api/v2/nope.json", method="GET").status == 404
    assert request(gateway.url + "/status", method="POST").status == 405


def test_a_private_page_needs_the_admin_token(make_gateway: Callable[..., GatewayThread]) -> None:
    gw = make_gateway(f'status: {{public: false}}\nadmin: {{token: "{TOKEN}"}}')
    assert request(gw.url + "/status", method="GET").status == 401
    ok = request(gw.url + "/status", method="GET", headers={"authorization": f"Bearer {TOKEN}"})
    assert ok.status == 200


def test_the_page_can_be_turned_off(make_gateway: Callable[..., GatewayThread]) -> None:
    gw = make_gateway("status: {enabled: false}")
    assert request(gw.url + "/status", method="GET").status == 404
    assert request(gw.url + "/status/api/v2/summary.json", method="GET").status == 404
