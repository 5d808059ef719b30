"""The caller's faults: not retried, the provider's reason passed on; context length moves
to a target with a larger window."""

from __future__ import annotations

import anthropic
import openai
import pytest

from failsoft.sim import SimServer
from tests.chaos.conftest import HI


def test_context_length_moves_to_the_larger_target(
    ant: anthropic.Anthropic, sim: SimServer
) -> None:
    sim.set_fault("claude-opus-4-7", {"kind": "status", "status": 400, "body": "context_length"})
    raw = ant.messages.with_raw_response.create(model="claude-long", max_tokens=64, messages=HI)
    assert raw.headers["x-failsoft-trail"] == (
        "anthropic/claude-opus-4-7:400,anthropic/claude-opus-4-7-1m:200"
    )
    assert raw.parse().model == "claude-opus-4-7-1m"
    assert sim.attempts("claude-opus-4-7") == 1  # not retried on the same model


def test_content_policy_is_not_retried_and_its_reason_is_kept(
    oai: openai.OpenAI, sim: SimServer
) -> None:
    sim.set_fault("gpt-4o", {"kind": "status", "status": 400, "body": "content_policy"})
    with pytest.raises(openai.BadRequestError) as info:
        oai.chat.completions.create(model="gpt", messages=HI)
    assert info.value.code == "content_policy_violation"
    assert "rejected as a result of our safety system" in info.value.message
    assert sim.attempts("gpt-4o") == 1
    assert sim.attempts("gpt-4o-mini") == 0


def test_a_client_fault_does_not_count_against_the_target(
    oai: openai.OpenAI, sim: SimServer
) -> None:
    sim.set_fault("gpt-4o", {"kind": "status", "status": 400})
    for _ in range(6):  # more than the breaker's 3 failures
        with pytest.raises(openai.BadRequestError):
            oai.chat.completions.create(model="gpt", messages=HI)
    sim.clear_faults()
    reply = oai.chat.completions.with_raw_response.create(model="gpt", messages=HI)
    assert reply.headers["x-failsoft-trail"] == "openai/gpt-4o:200"
