"""Three gateways sharing Redis and one store behave as one: an outage of the primary
costs the fleet about what it costs one process, and one incident; Redis killed or frozen
mid-run fails no request and holds none up."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from failsoft.config import parse_config
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.conftest import PROVIDER_KEY
from tests.fleet.support import SHARED_REDIS, paced, private_redis, unique_prefix, wait_until
from tests.helpers import chat, request
from tests.services import require

CONFIG = """
providers:
  anthropic: {{dialect: anthropic, base_url: "{sim}", api_key: "{key}"}}
models:
  claude: [anthropic/claude-opus-4-7, anthropic/claude-sonnet-4-5]
retry: {{max_attempts: 1}}
health: {{evaluate_every: 0.5, open_after: 1, recover_after: 20, resolve_after: 60}}
store: {{url: "sqlite:///{store}"}}
state: {{url: "{redis}", prefix: "{prefix}", timeout: {timeout}}}
"""
PRIMARY = "claude-opus-4-7"


def fleet(
    stack: ExitStack, sim: SimServer, tmp_path: Path, redis: str, timeout: float = 0.25
) -> list[GatewayThread]:
    text = CONFIG.format(
        sim=sim.url,
        key=PROVIDER_KEY,
        store=tmp_path / "shared.db",
        redis=redis,
        prefix=unique_prefix(),
        timeout=timeout,
    )
    gateways = [stack.enter_context(GatewayThread(parse_config(text)).running()) for _ in range(3)]
    wait_until(lambda: all(gw.runtime.fleet and gw.runtime.fleet.link.up for gw in gateways))
    return gateways


def primary_failures(sim: SimServer) -> int:
    outcomes = sim.stats()["models"].get(PRIMARY, {}).get("outcomes", {})
    return int(outcomes.get("529", 0))


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def test_an_outage_costs_the_fleet_what_it_costs_one_process(
    stack: ExitStack, sim: SimServer, tmp_path: Path
) -> None:
    require("Redis", "127.0.0.1", 6379)
    gateways = fleet(stack, sim, tmp_path, SHARED_REDIS)
    urls = [gw.url for gw in gateways]
    sim.set_fault(PRIMARY, {"kind": "status", "status": 529})
    # The outage lasts 30 s by the clock, however the callers keep up with their schedule.
    ends = [(30.0, sim.clear_faults)]
    results = asyncio.run(paced(urls, 48, 30, chat("claude", "hi"), ends))
    sim.clear_faults()
    assert [s for s, _ in results].count(200) == len(results) == 48 * 30  # the backup answered
    attempts = primary_failures(sim)
    print(f"primary attempts during the outage: {attempts}")
    assert attempts <= 12  # one process alone: 9 (5 in a row, then 4 probes)
    assert all(gw.runtime.fleet and gw.runtime.fleet.link.faults == 0 for gw in gateways)
    # One incident: the health lease through the shared store (health/shared.py).
    wait_until(lambda: bool(incidents(gateways[0])), 15)
    (incident,) = incidents(gateways[0])
    for gw in gateways:
        wait_until(lambda gw=gw: incidents(gw) == [incident], 15)


def incidents(gw: GatewayThread) -> list[str]:
    page = request(gw.url + "/status/api/v2/incidents.json", method="GET").json()
    return [i["id"] for i in page["incidents"]]


def test_redis_killed_and_frozen_mid_run_fails_and_delays_nothing(
    stack: ExitStack, sim: SimServer, tmp_path: Path
) -> None:
    redis = stack.enter_context(private_redis())
    # A long Redis timeout: a request that waited on Redis would take seconds.
    gateways = fleet(stack, sim, tmp_path, redis.url, timeout=3.0)
    urls = [gw.url for gw in gateways]
    sim.set_fault(PRIMARY, {"kind": "status", "status": 529})
    events = [(2.0, redis.freeze), (5.0, redis.thaw), (6.0, redis.kill), (8.0, redis.start)]
    results = asyncio.run(paced(urls, 48, 10, chat("claude", "hi"), events))
    sim.clear_faults()
    assert [s for s, _ in results].count(200) == len(results)
    assert max(took for _, took in results) < 1.5  # far below the 3-s Redis timeout
    wait_until(lambda: all(gw.runtime.fleet and gw.runtime.fleet.link.up for gw in gateways))
    ready = request(gateways[0].url + "/readyz", method="GET")
    assert ready.status == 200
    metrics = request(gateways[0].url + "/metrics", method="GET").body.decode()
    assert "failsoft_fleet_up 1.0" in metrics and "failsoft_fleet_faults_total" in metrics
