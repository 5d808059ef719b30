"""`/metrics`: Prometheus text with attempts, states, breakers and incidents; no secrets."""

from __future__ import annotations

import openai
from prometheus_client.parser import text_string_to_metric_families

from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.conftest import CALLER_KEY, PROVIDER_KEY
from tests.helpers import request


def samples(gw: GatewayThread) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    resp = request(gw.url + "/metrics", method="GET")
    assert resp.status == 200
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = resp.body.decode()
    assert PROVIDER_KEY not in text and CALLER_KEY not in text
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_follow_the_traffic(gateway: GatewayThread, sim: SimServer) -> None:
    sim.set_fault("gpt-4o", {"kind": "status", "status": 503, "count": 2})
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=CALLER_KEY, max_retries=0) as client:
        for _ in range(3):
            client.chat.completions.create(
                model="gpt", messages=[{"role": "user", "content": "hi"}]
            )
    found = samples(gateway)
    gpt = (("class", "server"), ("model", "gpt-4o"), ("provider", "openai"))
    assert found[("failsoft_attempts_total", gpt)] == 2
    ok = (("class", "ok"), ("model", "gpt-4o"), ("provider", "openai"))
    assert found[("failsoft_attempts_total", ok)] == 1
    assert found[("failsoft_requests_total", (("model", "gpt"), ("status", "200")))] == 3
    assert found[("failsoft_breaker_state", (("model", "gpt-4o"), ("provider", "openai")))] == 0
    assert ("failsoft_component_state", (("model", "gpt-4o-mini"), ("provider", "openai"))) in found
    assert found[("failsoft_incidents_active", (("source", "auto"),))] == 0
    rate = found[
        ("failsoft_error_rate", (("model", "gpt-4o"), ("provider", "openai"), ("window", "1m")))
    ]
    assert rate == 2 / 3
