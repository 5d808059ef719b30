"""Streams that break after they started and that nothing can finish: never a truncated
success, always a prompt end with the in-band error. Resume is off here; with it on (the
default) these end the same way when no target can continue verifiably (test_resume.py)."""

from __future__ import annotations

import time
from collections.abc import Callable

import anthropic
import openai
import pytest

from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.chaos.conftest import HI
from tests.helpers import request

NO_RESUME = {"resume": {"enabled": False}}


@pytest.fixture
def gw(chaos: Callable[..., GatewayThread]) -> GatewayThread:
    return chaos(NO_RESUME)


def _drain_openai(client: openai.OpenAI, model: str = "gpt") -> str:
    text = ""
    for chunk in client.chat.completions.create(model=model, messages=HI, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
    return text


@pytest.mark.parametrize(
    ("fault", "within"),
    [
        ({"kind": "cut", "after": 4}, 0.5),
        ({"kind": "stall", "after": 4}, 1.2),  # idle is 0.5 s
        ({"kind": "malformed", "after": 4, "target": "content"}, 0.5),
        ({"kind": "no_terminal"}, 0.5),
    ],
    ids=["cut", "stall", "malformed", "no-terminal"],
)
def test_a_broken_stream_raises_promptly(
    oai: openai.OpenAI, gw: GatewayThread, sim: SimServer, fault: dict[str, object], within: float
) -> None:
    sim.set_fault("gpt-4o", fault)
    started = time.monotonic()
    with pytest.raises(openai.APIError, match="failsoft: the stream from openai/gpt-4o broke"):
        _drain_openai(oai)
    assert time.monotonic() - started < within
    assert sim.attempts("gpt-4o") == 1
    # The gateway is healthy afterwards and the next stream is whole.
    sim.clear_faults()
    assert request(gw.url + "/healthz", method="GET").status == 200
    assert _drain_openai(oai).endswith(".")


def test_anthropic_stream_cut_mid_answer(ant: anthropic.Anthropic, sim: SimServer) -> None:
    sim.set_fault("claude-opus-4-7", {"kind": "cut", "after": 5, "mode": "reset"})
    with (
        pytest.raises(anthropic.APIStatusError, match="broke after"),
        ant.messages.stream(model="claude", max_tokens=64, messages=HI) as stream,
    ):
        stream.get_final_message()
    # Broken after its commit: a failure of that target, on its breaker's count.
    assert sim.attempts("claude-sonnet-4-5") == 0
