"""A minute of steady traffic with random errors: breakers must not open.

The suite's one long test (60 s). Measured before the breakers counted failures in the
order attempts began: at 100 req/s with 5 % random errors and 200-ms answers, "5
consecutive failures" opened a healthy target's breaker within seconds (failures that come
back at once overtake the answers started between them).
"""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest

from failsoft.config import Config, parse_config
from failsoft.events import BreakerChanged
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.chaos.conftest import HI
from tests.chaos.test_rescue import at_rate
from tests.conftest import PROVIDER_KEY

RATE = 100.0
SECONDS = 60.0
FAILING = ("gpt-4o", "gpt-4o-mini")
SPARE = "gpt-4.1-mini"
"""Answers the few requests whose two attempts both drew a 529 (1 in 400)."""


def soak_config(sim_url: str) -> Config:
    """Providers and one model of three targets; every policy at its default (the breaker
    opens after 5 failures in a row or 50 % of >= 20 attempts in 10 s)."""
    return parse_config(
        f"""
providers:
  openai: {{dialect: openai, base_url: "{sim_url}/v1", api_key: "{PROVIDER_KEY}"}}
models:
  soak: [openai/gpt-4o, openai/gpt-4o-mini, openai/{SPARE}]
""",
        "<soak>",
    )


@pytest.fixture
def soak(sim: SimServer) -> Any:
    gw = GatewayThread(soak_config(sim.url)).start()
    for model in (*FAILING, SPARE):
        sim.set_model(model, ttft=0.2, answer_words=8)  # ~200-ms answers: ~20 in flight
    yield gw
    gw.stop()
    for model in (*FAILING, SPARE):
        sim.set_model(model, ttft=0.0)


def test_random_errors_at_volume_open_no_breaker(soak: GatewayThread, sim: SimServer) -> None:
    changes: list[BreakerChanged] = []
    soak.runtime.hub.subscribe(BreakerChanged, changes.append)
    for model in FAILING:
        sim.set_fault(model, {"kind": "status", "status": 529, "rate": 0.05})

    async def main() -> list[tuple[float, float, Any]]:
        async with openai.AsyncOpenAI(
            base_url=soak.url + "/v1", api_key="c", max_retries=0, timeout=30
        ) as client:
            turn = 0

            async def call() -> str:
                nonlocal turn
                turn += 1
                if turn % 2:
                    reply = await client.chat.completions.create(model="soak", messages=HI)
                    return reply.model
                chunks = await client.chat.completions.create(
                    model="soak", messages=HI, stream=True
                )
                return [chunk.model async for chunk in chunks][-1]

            return await at_rate(RATE, SECONDS, call)

    results = asyncio.run(main())
    errors = [r for r in results if isinstance(r[2], Exception)]
    seen = sim.stats()["models"]
    refused = {m: seen[m]["outcomes"].get("529", 0) for m in FAILING}
    answered = {m: sum(r[2] == m for r in results) for m in (*FAILING, SPARE)}
    print(f"soak: {len(results)} requests, {len(errors)} errors, 529s {refused}, by {answered}")
    assert len(results) == int(RATE * SECONDS)
    assert not errors, errors[:3]
    assert [c for c in changes if c.state == "open"] == []
    # The faults were there: ~5 % of the primary's ~6,000 attempts.
    assert refused["gpt-4o"] >= 150
    assert answered["gpt-4o"] >= 0.9 * len(results)
