"""Spend with mid-stream resume on: the broken stream's attempt is estimated, the
continuation's reported usage is counted, and the caller who did not ask for usage gets
the whole answer without a usage chunk though both upstreams were asked for one."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.chaos.conftest import chaos_config
from tests.server.test_spend import HI, TEAM, TOKEN, rows

TEXT = (
    "Resilient gateways keep answering when a provider fails. They retry with jitter and "
    "respect Retry-After. They open breakers."
)


@pytest.fixture
def gw(sim: SimServer) -> Iterator[GatewayThread]:
    overrides = {
        "auth": {"keys": [{"name": "team", "key": TEAM}]},
        "admin": {"token": TOKEN},
        "pricing": {"gpt-4o": {"input": 1, "output": 1}, "gpt-4o-mini": {"input": 1, "output": 1}},
    }
    for name in ("gpt-4o", "gpt-4o-mini"):
        sim.set_model(name, answer=TEXT, on_continue="sentence")
    gw = GatewayThread(chaos_config(sim.url, overrides)).start()
    yield gw
    gw.stop()
    for name in ("gpt-4o", "gpt-4o-mini"):
        sim.set_model(name, answer=None, on_continue="continue")


def test_a_resumed_stream_bills_both_attempts(gw: GatewayThread, sim: SimServer) -> None:
    sim.set_fault("gpt-4o", {"kind": "cut", "after": 5, "mode": "reset"})
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=TEAM, max_retries=0) as client:
        chunks = list(client.chat.completions.create(model="gpt", messages=HI, stream=True))  # type: ignore[arg-type]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == TEXT
    assert all(c.usage is None and c.choices for c in chunks)
    upstream = [r for r in sim.requests() if r.stream]
    assert len(upstream) == 2
    assert all(r.body["stream_options"]["include_usage"] is True for r in upstream)
    by_model = {r["model"]: r for r in rows(gw, key="team")}
    broken, rest = by_model["openai/gpt-4o"], by_model["openai/gpt-4o-mini"]
    assert broken["estimated_tokens"] == broken["input_tokens"] + broken["output_tokens"] > 0
    assert rest["estimated_tokens"] == 0
    assert rest["input_tokens"] > 0 and rest["output_tokens"] > 0


def test_a_hedge_that_lost_is_billed_as_an_estimate(sim: SimServer) -> None:
    overrides = {
        "auth": {"keys": [{"name": "team", "key": TEAM}]},
        "admin": {"token": TOKEN},
        "hedge": {"enabled": True, "delay": 0.3},
        "deadlines": {"first_token": 5, "idle": 5},
    }
    sim.set_model("gpt-4o", ttft=2.0)
    gw = GatewayThread(chaos_config(sim.url, overrides)).start()
    try:
        with openai.OpenAI(base_url=gw.url + "/v1", api_key=TEAM, max_retries=0) as client:
            chunks = list(client.chat.completions.create(model="gpt", messages=HI, stream=True))  # type: ignore[arg-type]
        assert chunks and chunks[-1].choices
        by_model = {r["model"]: r for r in rows(gw, key="team")}
        lost, won = by_model["openai/gpt-4o"], by_model["openai/gpt-4o-mini"]
        assert lost["requests"] == 1
        assert lost["estimated_tokens"] == lost["input_tokens"] > 0  # no output yet
        assert won["estimated_tokens"] == 0
    finally:
        gw.stop()
        sim.set_model("gpt-4o", ttft=0.0)
