"""5xx and resets: one quick retry on the same target when it can help, then the backup,
within the retry budget."""

from __future__ import annotations

from collections.abc import Callable

import anthropic
import openai

from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.chaos.conftest import HI


def test_one_500_then_healthy_is_retried_on_the_same_target(
    oai: openai.OpenAI, sim: SimServer
) -> None:
    sim.set_fault("gpt-4o", {"kind": "status", "status": 500, "count": 1})
    reply = oai.chat.completions.with_raw_response.create(model="gpt", messages=HI)
    assert reply.headers["x-failsoft-trail"] == "openai/gpt-4o:500,openai/gpt-4o:200"
    assert reply.parse().model == "gpt-4o"
    assert sim.attempts("gpt-4o") == 2
    assert sim.attempts("gpt-4o-mini") == 0


def test_persistent_503_fails_over(ant: anthropic.Anthropic, sim: SimServer) -> None:
    sim.set_fault("claude-opus-4-7", {"kind": "status", "status": 503})
    with ant.messages.stream(model="claude", max_tokens=64, messages=HI) as stream:
        trail = stream.response.headers["x-failsoft-trail"]
        message = stream.get_final_message()
    assert message.model == "claude-sonnet-4-5"
    assert trail == (
        "anthropic/claude-opus-4-7:503,anthropic/claude-opus-4-7:503,"
        "anthropic/claude-sonnet-4-5:200"
    )


def test_529_is_not_retried_on_the_same_target(oai: openai.OpenAI, sim: SimServer) -> None:
    sim.set_fault("gpt-4o", {"kind": "status", "status": 529})
    reply = oai.chat.completions.with_raw_response.create(model="gpt", messages=HI)
    assert reply.headers["x-failsoft-trail"] == "openai/gpt-4o:529,openai/gpt-4o-mini:200"


def test_reset_before_headers(oai: openai.OpenAI, sim: SimServer) -> None:
    sim.set_fault("gpt-4o", {"kind": "reset"})
    reply = oai.chat.completions.with_raw_response.create(model="gpt", messages=HI, stream=True)
    assert reply.headers["x-failsoft-trail"] == (
        "openai/gpt-4o:reset,openai/gpt-4o:reset,openai/gpt-4o-mini:200"
    )
    chunks = list(reply.parse())
    assert chunks[0].model == "gpt-4o-mini"


def _three_requests(gw: GatewayThread) -> list[str]:
    trails = []
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client:
        for _ in range(3):
            try:
                client.chat.completions.create(model="gpt", messages=HI)
            except openai.InternalServerError as exc:
                trails.append(exc.response.headers["x-failsoft-trail"])
    return trails


# Per target: no share of successes, and 0.1/s over 10 s = 1 extra attempt. Breakers are
# kept out of the way (100 failures) to see the budget alone.
TIGHT = {"ratio": 0.0, "min_per_second": 0.1, "window": 10}


def test_the_retry_budget_bounds_retries(
    chaos: Callable[..., GatewayThread], sim: SimServer
) -> None:
    gw = chaos({"retry": {"budget": TIGHT}, "breaker": {"failures": 100}})
    sim.set_fault("gpt-4o", {"kind": "status", "status": 500})
    sim.set_fault("gpt-4o-mini", {"kind": "status", "status": 500})
    trails = _three_requests(gw)
    # Request 1: one retry on each target uses up that target's budget.
    assert trails[0] == (
        "openai/gpt-4o:500,openai/gpt-4o:500,openai/gpt-4o-mini:500,openai/gpt-4o-mini:500"
    )
    # Later requests make each target's first attempt only; every retry is refused.
    assert trails[1] == (
        "openai/gpt-4o:500,openai/gpt-4o:budget,openai/gpt-4o-mini:500,openai/gpt-4o-mini:budget"
    )
    assert trails[2] == trails[1]
    assert sim.attempts("gpt-4o") + sim.attempts("gpt-4o-mini") == 8


def test_the_budget_can_charge_fallbacks_too(
    chaos: Callable[..., GatewayThread], sim: SimServer
) -> None:
    gw = chaos({"retry": {"budget": {**TIGHT, "fallbacks": True}}, "breaker": {"failures": 100}})
    sim.set_fault("gpt-4o", {"kind": "status", "status": 500})
    sim.set_fault("gpt-4o-mini", {"kind": "status", "status": 500})
    trails = _three_requests(gw)
    # The fallback to gpt-4o-mini spends its budget; its retry would exceed it.
    assert trails[0] == (
        "openai/gpt-4o:500,openai/gpt-4o:500,openai/gpt-4o-mini:500,openai/gpt-4o-mini:budget"
    )
    assert trails[1] == "openai/gpt-4o:500,openai/gpt-4o:budget,openai/gpt-4o-mini:budget"
    assert sim.attempts("gpt-4o") + sim.attempts("gpt-4o-mini") == 5
