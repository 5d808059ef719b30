"""Acceptance: a flood of slow requests toward one upstream takes nothing from any other.

2,500 concurrent callers (real HTTP connections) ask for the `flood` model, whose two
targets are slow (3 s to answer) and have small pools (16 connections each). Callers that
find no free connection within `admission.pool_wait` are turned away with the usual 503
naming `busy`. Meanwhile a model on another upstream (a second simulator on its own port)
is asked again and again, and must answer within 1 s every time (a generous functional
bound, not a benchmark). Afterwards no breaker moved, no attempt failed, no incident
opened and every component is operational, including a target nobody asked.

Before per-provider pools, one process-wide pool of 1,024 connections and aiohttp's
`connect` timeout (which also covered waiting for that pool) made other upstreams "time
out connecting" without a packet sent to them, and blamed them for the flood.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from failsoft.assemble import Runtime
from failsoft.config import parse_config
from failsoft.events import AttemptFinished, BreakerChanged
from failsoft.health.types import Incident
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.conftest import PROVIDER_KEY
from tests.transport.conftest import only_native

CALLERS = 2500
SLOW = 3.0

CONFIG = """
providers:
  primary: {{dialect: openai, base_url: "{a}/v1", api_key: "{key}", max_connections: 16}}
  backup: {{dialect: openai, base_url: "{a}/v1", api_key: "{key}", max_connections: 16}}
  other: {{dialect: anthropic, base_url: "{b}", api_key: "{key}"}}
  idle: {{dialect: openai, base_url: "{b}/v1", api_key: "{key}"}}
models:
  flood: [primary/gpt-4o, backup/gpt-4o-mini]
  other: [other/claude-opus-4-7]
  quiet: [idle/gpt-4.1]
admission: {{pool_wait: 0.2}}
# 2,500 callers stand for many clients, though all come from 127.0.0.1: the per-address
# connection cap (server.max_connections_per_client, 256) would turn most away at the door.
server: {{max_connections_per_client: 0}}
deadlines: {{first_byte: 10, first_token: 10, idle: 5, total: 20}}
retry: {{max_attempts: 1}}
# The simulators share this process (and its GIL) with the flooded gateway: give the
# slow targets' response headers time to be read before they count as silent.
breaker: {{failures: 3, silence: {{cold: 10}}}}
health: {{open_after: 0, recover_after: 0, resolve_after: 3, evaluate_every: 0.1,
          min_requests: 1}}
"""


@pytest.fixture
def many_files() -> Iterator[None]:
    """Room for 2,500 callers' sockets and as many on the gateway's side."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 4 * CALLERS:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is too low for {CALLERS} callers")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture
def settled_heap() -> Iterator[None]:
    """What `failsoft serve` does after start-up (serve._settle_heap): a full collection
    must not walk the test process's heap of modules and fixtures in the middle of the
    flood (a measured 0.4 s pause of every thread here)."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@pytest.fixture
def slow_sim(sim: SimServer) -> Iterator[SimServer]:
    """The flooded upstream: both its models take SLOW seconds to their first token."""
    for model in ("gpt-4o", "gpt-4o-mini"):
        sim.set_model(model, ttft=SLOW)
    try:
        yield sim
    finally:
        for model in ("gpt-4o", "gpt-4o-mini"):
            sim.set_model(model, ttft=0.0)


@pytest.fixture
def other_sim() -> Iterator[SimServer]:
    with SimServer(api_key=PROVIDER_KEY).run_in_thread() as server:
        yield server


FLOOD = """
import asyncio, json, os, resource, sys

import aiohttp

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
os.nice(10)  # the callers would be elsewhere: they must not take the gateway's CPU


async def main(url: str, callers: int) -> None:
    body = {"model": "flood", "messages": [{"role": "user", "content": "hi"}]}
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one() -> list[object]:
            async with session.post(url + "/v1/chat/completions", json=body) as resp:
                await resp.read()
                return [resp.status, resp.headers.get("x-failsoft-trail", "")]

        results = await asyncio.gather(*(one() for _ in range(callers)))
    json.dump(results, sys.stdout)


asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""
"""The callers, each on its own connection, all at once: in a process of their own, as
callers are (2,500 of them in this one would slow the gateway's thread down)."""


def test_a_flood_on_one_upstream_takes_nothing_from_another(
    many_files: None, settled_heap: None, slow_sim: SimServer, other_sim: SimServer, tmp_path: Path
) -> None:
    # The pools are failsoft's whichever client sends (the gateway's comes from its config,
    # not from this folder's `client` fixture): run once.
    only_native("a load test of the pools, once")
    sim = slow_sim
    config = parse_config(CONFIG.format(a=sim.url, b=other_sim.url, key=PROVIDER_KEY))
    runtime = Runtime(config)
    incidents: list[tuple[str, Incident]] = []
    runtime.health.listeners.append(lambda kind, incident: incidents.append((kind, incident)))
    events: list[Any] = []
    runtime.hub.subscribe(AttemptFinished, events.append)
    runtime.hub.subscribe(BreakerChanged, events.append)
    with GatewayThread(config, runtime=runtime).running() as gw:
        polls: list[float] = []
        out = tmp_path / "flood.json"
        with (
            anthropic.Anthropic(base_url=gw.url, api_key="c", max_retries=0) as client,
            out.open("w") as sink,
        ):
            flood = subprocess.Popen(
                [sys.executable, "-c", FLOOD, gw.url, str(CALLERS)],
                stdout=sink,
                env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
            )
            # Ask the other model until the flood is over: the pools fill at once, and
            # the slow answers hold them for SLOW seconds.
            while flood.poll() is None or len(polls) < 3:
                started = time.monotonic()
                message = client.messages.create(
                    model="other",
                    max_tokens=16,
                    messages=[{"role": "user", "content": "hi"}],
                    timeout=5,
                )
                polls.append(time.monotonic() - started)
                assert message.model == "claude-opus-4-7"
                time.sleep(0.02)
            assert flood.wait(60) == 0
        results = [(status, trail) for status, trail in json.loads(out.read_text())]
        gw.call(runtime.health.evaluate())
        components = {c.id: c.state for c in runtime.health.health()}
        pools = {name: (p.in_use, p.busy) for name, p in runtime.transport.pools.items()}

    assert len(results) == CALLERS
    answered = [trail for status, trail in results if status == 200]
    refused = [trail for status, trail in results if status != 200]
    assert {status for status, _ in results} <= {200, 503}
    # Every caller turned away was turned away because both pools were full, nothing else.
    assert set(refused) <= {"primary/gpt-4o:busy,backup/gpt-4o-mini:busy"}
    assert len(answered) == sim.attempts("gpt-4o") + sim.attempts("gpt-4o-mini")
    assert 32 <= len(answered) < CALLERS
    # The other upstream answered within 1 s throughout.
    slow = [(i, round(p, 3)) for i, p in enumerate(polls) if p >= 1.0]
    assert not slow, f"{len(slow)} of {len(polls)} answers took 1 s or more: {slow}"
    assert other_sim.attempts("claude-opus-4-7") == len(polls)
    assert other_sim.attempts("gpt-4.1") == 0
    # Nothing was blamed: no failed attempt, no breaker moved, no incident, all operational.
    assert all(e.ok for e in events if isinstance(e, AttemptFinished))
    assert not [e for e in events if isinstance(e, BreakerChanged)]
    assert incidents == []
    assert set(components.values()) == {"operational"}, components
    assert {"primary/gpt-4o", "backup/gpt-4o-mini", "other/claude-opus-4-7"} <= set(components)
    assert pools["primary"][0] == 0 and pools["backup"][0] == 0  # every slot came back
    assert pools["primary"][1] > 0
