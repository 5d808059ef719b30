"""`/metrics`: Prometheus text with attempts, states, breakers and incidents; no secrets."""

from __future__ import annotations

from collections.abc import Iterator

import openai
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families

from failsoft.serve import GatewayThread
from failsoft.server.exposition import render
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


def test_the_fast_exposition_writes_what_prometheus_client_writes(
    gateway: GatewayThread, sim: SimServer
) -> None:
    """`/metrics` is written by failsoft.server.exposition (prometheus_client's writer took
    longer than the rest of a scrape with hundreds of components): same text."""
    sim.set_fault("gpt-4o", {"kind": "status", "status": 503, "count": 1})
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=CALLER_KEY, max_retries=0) as client:
        for model in ("gpt", "gpt", "claude"):
            client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "hi"}]
            )
    registry = gateway.app._metrics.registry

    async def both() -> tuple[bytes, bytes]:
        metrics = list(registry.collect())
        return render(metrics), generate_latest(registry)

    ours, theirs = gateway.call(both())
    assert ours == theirs
    assert render([_odd_labels()]) == generate_latest(_Just(_odd_labels()))


def _odd_labels() -> GaugeMetricFamily:
    family = GaugeMetricFamily("failsoft_odd", 'Help with a \\ and\na "quote".', labels=["a", "b"])
    family.add_metric(['back\\slash "quoted"\nline', "é"], 12345678.0)
    family.add_metric(["int", "x"], 3)
    family.add_metric(["small", "x"], 0.25)
    return family


class _Just(CollectorRegistry):
    def __init__(self, metric: Metric) -> None:
        super().__init__(auto_describe=False)
        self.metric = metric

    def collect(self) -> Iterator[Metric]:
        yield self.metric
