"""Incidents and breaker changes reach a webhook receiver, signed (Standard Webhooks)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import openai
import pytest
from standardwebhooks.webhooks import Webhook

from failsoft.assemble import Runtime
from failsoft.clock import FakeClock
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.conftest import make_config
from tests.upstream import ScriptedUpstream

SECRET = "whsec_" + base64.b64encode(b"a-test-secret-of-32-bytes-length").decode()


@pytest.fixture
def receiver() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream().running() as server:
        yield server


def wait_for(receiver: ScriptedUpstream, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(receiver.requests) < count and time.monotonic() < deadline:
        time.sleep(0.02)


def test_breaker_and_incident_events_are_delivered_signed(
    sim: SimServer, receiver: ScriptedUpstream
) -> None:
    extra = f"""
health: {{open_after: 0, evaluate_every: 3600}}
breaker: {{failures: 2}}
webhooks:
  - {{url: "{receiver.url}/hook", secret: "{SECRET}"}}
  - {{url: "{receiver.url}/slack", format: slack, events: [incident.opened]}}
"""
    config = make_config(sim.url, extra)
    clock = FakeClock(wall_start=1_790_000_000)
    runtime = Runtime(config, health_clock=clock)
    with GatewayThread(config, runtime=runtime).running() as gw:
        sim.set_fault("gpt-4o", {"kind": "status", "status": 529})
        with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client:
            for _ in range(6):
                client.chat.completions.create(
                    model="gpt", messages=[{"role": "user", "content": "hi"}]
                )
        gw.call(runtime.health.evaluate())
        wait_for(receiver, 3)
    hooks = [r for r in receiver.requests if r.path == "/hook"]
    verifier = Webhook(SECRET)
    payloads = []
    for r in hooks:
        payloads.append(verifier.verify(r.body, {k.lower(): v for k, v in r.headers.items()}))
    types = [p["type"] for p in payloads]
    assert types[:2] == ["breaker.opened", "incident.opened"]
    assert payloads[0]["data"]["target"] == "openai/gpt-4o"
    incident = payloads[1]["data"]
    assert incident["name"] == "Elevated errors on gpt-4o (529 overloaded)"
    assert incident["shortlink"] == gw.url + "/status"
    (slack,) = [r for r in receiver.requests if r.path == "/slack"]
    assert "webhook-signature" not in {k.lower() for k in slack.headers}
    assert "gpt-4o" in json.loads(slack.body)["text"]
