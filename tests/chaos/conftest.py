"""The chaos suite: the simulator misbehaves, the real SDKs call through a gateway, and each
test asserts how the gateway behaved (attempt counts and timings at the simulator), not
only whether the caller got an answer.

Timings come from the simulator's request log (its arrival times) and from the caller's
clock; limits are short (config), so nothing waits long.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest
import yaml

from failsoft.config import Config, parse_config
from failsoft.config.models import deep_merge
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.conftest import PROVIDER_KEY


def chaos_config(sim_url: str, overrides: dict[str, Any] | None = None) -> Config:
    """The chaos suite's gateway config, with `overrides` merged in section by section."""
    config: dict[str, Any] = {
        "providers": {
            "anthropic": {"dialect": "anthropic", "base_url": sim_url, "api_key": PROVIDER_KEY},
            "openai": {"dialect": "openai", "base_url": sim_url + "/v1", "api_key": PROVIDER_KEY},
        },
        "models": {
            "gpt": ["openai/gpt-4o", "openai/gpt-4o-mini"],
            "gpt-solo": ["openai/gpt-4o"],
            "claude": ["anthropic/claude-opus-4-7", "anthropic/claude-sonnet-4-5"],
            "claude-long": ["anthropic/claude-opus-4-7", "anthropic/claude-opus-4-7-1m"],
        },
        "deadlines": {"connect": 1, "first_byte": 1, "first_token": 0.6, "idle": 0.5, "total": 8},
        "retry": {"max_attempts": 2, "max_wait": 1.0, "backoff": {"base": 0.05, "cap": 0.2}},
        "breaker": {"failures": 3, "open_for": 0.5, "max_open_for": 2.0, "window": 5},
    }
    return parse_config(yaml.safe_dump(deep_merge(config, overrides or {})), "<chaos>")


@pytest.fixture
def chaos(sim: SimServer) -> Iterator[Callable[..., GatewayThread]]:
    """Start a gateway with the chaos config, `overrides` merged in."""
    started: list[GatewayThread] = []

    def make(overrides: dict[str, Any] | None = None) -> GatewayThread:
        gw = GatewayThread(chaos_config(sim.url, overrides)).start()
        started.append(gw)
        return gw

    yield make
    for gw in started:
        gw.stop()


@pytest.fixture
def gw(chaos: Callable[..., GatewayThread]) -> GatewayThread:
    return chaos()


@pytest.fixture
def oai(gw: GatewayThread) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="caller", max_retries=0) as client:
        yield client


@pytest.fixture
def ant(gw: GatewayThread) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=gw.url, api_key="caller", max_retries=0) as client:
        yield client


def times(sim: SimServer, model: str) -> list[float]:
    """Arrival times of the simulator's requests for `model`, oldest first."""
    return [r.time for r in sim.requests(model)]


HI = [{"role": "user", "content": "Tell me about resilient gateways."}]
