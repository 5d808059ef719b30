"""Hedging (opt-in): a slow first token starts the next target in parallel; the first to
answer wins and the other is cancelled."""

from __future__ import annotations

import time
from collections.abc import Callable

import anthropic
import openai
import pytest

from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.chaos.conftest import HI

HEDGED = {"hedge": {"enabled": True, "delay": 0.2}, "deadlines": {"first_token": 5}}


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_slow_primary_is_hedged(
    chaos: Callable[..., GatewayThread], sim: SimServer, stream: bool
) -> None:
    gw = chaos(HEDGED)
    sim.set_fault("gpt-4o", {"kind": "slow_first_token", "delay": 2.0})
    started = time.monotonic()
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt", messages=HI, stream=stream
        )
        model = next(iter(raw.parse())).model if stream else raw.parse().model
    elapsed = time.monotonic() - started
    assert model == "gpt-4o-mini"
    assert 0.2 <= elapsed < 1.0  # the hedge started at 0.2 s and won; no waiting for 2 s
    trail = raw.headers["x-failsoft-trail"].split(",")
    assert set(trail) == {"openai/gpt-4o-mini:200", "openai/gpt-4o:cancelled"}
    assert sim.attempts("gpt-4o") == 1
    assert sim.attempts("gpt-4o-mini") == 1


def test_a_fast_primary_is_not_hedged(chaos: Callable[..., GatewayThread], sim: SimServer) -> None:
    gw = chaos(HEDGED)
    with anthropic.Anthropic(base_url=gw.url, api_key="c", max_retries=0) as client:
        for _ in range(5):
            message = client.messages.create(model="claude", max_tokens=32, messages=HI)
            assert message.model == "claude-opus-4-7"
    assert sim.attempts("claude-sonnet-4-5") == 0


def test_hedges_spend_the_retry_budget(chaos: Callable[..., GatewayThread], sim: SimServer) -> None:
    gw = chaos({**HEDGED, "retry": {"budget": {"ratio": 0.0, "min_per_second": 0.1}}})
    sim.set_fault("gpt-4o", {"kind": "slow_first_token", "delay": 0.6})
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client:
        first = client.chat.completions.create(model="gpt", messages=HI)
        second = client.chat.completions.create(model="gpt", messages=HI)
    assert first.model == "gpt-4o-mini"  # hedged
    assert second.model == "gpt-4o"  # no budget left for a hedge: waited for the primary
    assert sim.attempts("gpt-4o-mini") == 1
