"""The callers' headline through a real gateway and simulator: with the primary failing and
the backup answering every caller, the page says callers were served (and by a fallback)
while the primary's component shows its outage; once callers go unanswered, it says so.

The health side runs on a fake clock, so the 5-minute window slides in no time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import openai
import pytest

from failsoft.assemble import Runtime
from failsoft.clock import FakeClock
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from failsoft.status.statuspage_json import component_code, model_code
from tests.conftest import make_config
from tests.helpers import request

OPUS = "anthropic/claude-opus-4-7"
EXTRA = """
health: {open_after: 20, evaluate_every: 3600}
breaker: {failures: 100000, min_requests: 100000}
"""


class World:
    def __init__(self, sim: SimServer) -> None:
        config = make_config(sim.url, EXTRA)
        self.clock = FakeClock(wall_start=datetime(2026, 11, 23, 12, 0, tzinfo=UTC).timestamp())
        self.runtime = Runtime(config, health_clock=self.clock)
        self.gateway = GatewayThread(config, runtime=self.runtime).start()
        self.client = openai.OpenAI(base_url=self.gateway.url + "/v1", api_key="c", max_retries=0)

    def ask(self, model: str, n: int) -> int:
        """`n` requests; how many were answered."""
        answered, statuses = 0, set()
        for _ in range(n):
            try:
                self.client.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": "hi"}]
                )
                answered += 1
            except openai.APIStatusError as exc:
                statuses.add(exc.status_code)
        assert statuses <= {503}, statuses
        return answered

    def read(self) -> tuple[dict[str, Any], str]:
        """The summary JSON and the page, freshly built (past the page's 2-s cache)."""
        self.clock.advance(3)
        self.gateway.call(self.runtime.health.evaluate())
        summary = request(self.gateway.url + "/status/api/v2/summary.json", method="GET").json()
        page = request(self.gateway.url + "/status", method="GET").body.decode()
        return summary, page

    def close(self) -> None:
        self.client.close()
        self.gateway.stop()


@pytest.fixture
def world(sim: SimServer) -> Iterator[World]:
    w = World(sim)
    yield w
    w.close()


def by_id(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in summary["components"]}


def test_an_absorbed_outage_then_a_real_one(world: World, sim: SimServer) -> None:
    assert world.ask("claude", 5) == 5
    summary, _ = world.read()
    assert summary["status"] == {"indicator": "none", "description": "All Systems Operational"}

    sim.set_fault("claude-opus-4-7", {"kind": "status", "status": 529})
    assert world.ask("claude", 30) == 30  # every caller answered, by Sonnet
    assert world.ask("gpt", 5) == 5
    summary, page = world.read()
    components = by_id(summary)
    # The primary's component keeps its upstream state...
    assert components[component_code(OPUS)]["status"] == "major_outage"
    # ...while the headline says what callers got.
    assert summary["status"] == {
        "indicator": "none",
        "description": (
            "All requests answered — anthropic/claude-opus-4-7 failing, served by fallbacks"
        ),
    }
    group = summary["components"][0]
    assert (group["name"], group["group"]) == ("What callers got", True)
    claude = components[model_code("claude")]
    assert claude["status"] == "operational"
    assert claude["description"] == (
        "100% of 35 requests answered in the last 5 minutes (85.7% by a fallback)"
    )
    assert components[model_code("gpt")]["description"].startswith("100% of 5 requests")
    assert 'data-indicator="none"' in page
    assert "All requests answered — anthropic/claude-opus-4-7 failing" in page
    assert "Callers served: 100% of 40 requests in the last 5 minutes (75% by a fallback)" in page
    assert "Providers: anthropic/claude-opus-4-7 major outage" in page

    # Minutes later the backup fails too: callers go unanswered, and the headline says so.
    world.clock.advance(300)
    sim.set_fault("claude-sonnet-4-5", {"kind": "status", "status": 529})
    assert world.ask("claude", 10) == 0
    summary, page = world.read()
    assert summary["status"] == {"indicator": "critical", "description": "Major System Outage"}
    claude = by_id(summary)[model_code("claude")]
    assert claude["status"] == "major_outage"
    assert claude["description"] == "0% of 10 requests answered in the last 5 minutes"
    assert 'data-indicator="critical"' in page
    assert "Callers served: 0% of 10 requests in the last 5 minutes" in page

    # Half of them answered again: a partial outage for callers (50% < 75%: still critical),
    # then, as the failures leave the window, operational.
    sim.clear_faults()
    assert world.ask("claude", 10) == 10
    summary, _ = world.read()
    assert summary["status"]["indicator"] == "critical"
    world.clock.advance(300)
    assert world.ask("claude", 10) == 10
    summary, _ = world.read()
    assert summary["status"]["indicator"] == "none"
    assert by_id(summary)[model_code("claude")]["status"] == "operational"


def test_answers_from_the_cache_and_streams_count_by_their_rung(sim: SimServer) -> None:
    config = make_config(sim.url, EXTRA + "cache: {backend: memory, ttl: 600, stale_if_error: 600}")
    runtime = Runtime(config, health_clock=FakeClock())
    ask = [{"role": "user", "content": "the same question"}]
    with (
        GatewayThread(config, runtime=runtime).running() as gw,
        openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client,
    ):
        client.chat.completions.create(model="claude", messages=ask)  # primary, stored
        client.chat.completions.create(model="claude", messages=ask)  # a fresh hit
        sim.set_fault("claude-opus-4-7", {"kind": "status", "status": 529})
        chunks = client.chat.completions.create(
            model="claude", messages=[{"role": "user", "content": "stream"}], stream=True
        )
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        sim.set_fault("claude-sonnet-4-5", {"kind": "status", "status": 529})
        stale = client.chat.completions.with_raw_response.create(
            model="claude", messages=ask, extra_headers={"cache-control": "no-cache"}
        )  # every target fails; the stored answer is served
        assert stale.headers["x-failsoft-cache"] == "STALE"
        assert runtime.callers.summary()["claude"] == {
            "requests": 4, "answered": 4, "rung1": 1, "cache": 1, "rung2": 1, "stale": 1
        }  # fmt: skip
        summary = request(gw.url + "/status/api/v2/summary.json", method="GET").json()
    claude = by_id(summary)[model_code("claude")]
    assert claude["description"] == (
        "100% of 4 requests answered in the last 5 minutes (50% by a fallback)"
    )
    assert summary["status"]["indicator"] == "none"
