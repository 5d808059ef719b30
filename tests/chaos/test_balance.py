"""Load balancing across equivalent targets, always skipping open breakers."""

from __future__ import annotations

from collections.abc import Callable

import openai

from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.chaos.conftest import HI

WEIGHTED = {
    "models": {
        "pool": {
            "targets": [
                {"provider": "openai", "model": "gpt-4o", "weight": 3},
                {"provider": "openai", "model": "gpt-4o-mini", "weight": 1},
            ],
            "balance": {"strategy": "weighted"},
        }
    }
}


def test_weighted(chaos: Callable[..., GatewayThread], sim: SimServer) -> None:
    gw = chaos(WEIGHTED)
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client:
        for _ in range(300):
            client.chat.completions.create(model="pool", messages=HI)
    share = sim.attempts("gpt-4o") / 300
    assert 0.65 < share < 0.85


def test_weighted_skips_an_open_breaker(
    chaos: Callable[..., GatewayThread], sim: SimServer
) -> None:
    gw = chaos(WEIGHTED)
    sim.set_fault("gpt-4o", {"kind": "status", "status": 529})
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client:
        models = [
            client.chat.completions.create(model="pool", messages=HI).model for _ in range(40)
        ]
    assert set(models) == {"gpt-4o-mini"}
    assert sim.attempts("gpt-4o") <= 4  # 3 failures open its breaker; maybe one probe


def test_least_latency(chaos: Callable[..., GatewayThread], sim: SimServer) -> None:
    gw = chaos(
        {
            "models": {
                "fast": {
                    "targets": ["openai/gpt-4o", "openai/gpt-4o-mini"],
                    "balance": {"strategy": "least_latency"},
                }
            }
        }
    )
    sim.set_model("gpt-4o", ttft=0.03)
    try:
        with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client:
            for _ in range(60):
                client.chat.completions.create(model="fast", messages=HI)
    finally:
        sim.set_model("gpt-4o", ttft=0.0)
    assert sim.attempts("gpt-4o-mini") > 45
