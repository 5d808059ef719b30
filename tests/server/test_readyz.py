"""`/readyz`: ready once started, not ready while draining, every check named."""

from __future__ import annotations

from collections.abc import Callable

from failsoft.readiness import Check
from failsoft.serve import GatewayThread
from tests.helpers import request


def test_ready_once_started_with_its_checks_named(gateway: GatewayThread) -> None:
    resp = request(gateway.url + "/readyz", method="GET")
    assert resp.status == 200
    body = resp.json()
    assert body["status"] == "ready"
    assert body["checks"]["started"]["ok"] is True
    assert body["checks"]["store"]["ok"] is True


def test_draining_or_a_failed_required_check_is_503(
    make_gateway: Callable[[str], GatewayThread],
) -> None:
    gateway = make_gateway("")  # its own: the checks added here must not outlive the test
    readiness = gateway.runtime.readiness
    readiness.draining = True
    resp = request(gateway.url + "/readyz", method="GET")
    assert resp.status == 503
    assert resp.json()["checks"]["draining"] == {
        "ok": False,
        "required": True,
        "detail": "shutting down",
    }
    readiness.draining = False
    readiness.add(lambda: Check("shared", False, "redis away", required=False))
    assert request(gateway.url + "/readyz", method="GET").status == 200
    readiness.add(lambda: Check("config", False, "not loaded"))
    resp = request(gateway.url + "/readyz", method="GET")
    assert resp.status == 503
    assert resp.json()["checks"]["config"]["detail"] == "not loaded"
