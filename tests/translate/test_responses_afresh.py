"""A Responses stream relayed from a reasoning model, cut after its reasoning and before any
text or call, is answered afresh by the next target in the same stream
(`router/afresh.py`): the caller keeps its reasoning item and gets the backup's answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest

from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.translate.test_responses_sdk import check_grammar, raw_events

MODEL = "gpt-5-pro"
HI = "Say something about breakers"
REASONING: dict[str, Any] = {
    "reasoning": {"effort": "medium", "summary": "auto"},
    "include": ["reasoning.encrypted_content"],
}


@pytest.mark.parametrize("mode", ["eof", "reset"])
def test_a_cut_after_reasoning_only_is_answered_afresh(
    tgw: GatewayThread, sim: SimServer, direct: Callable[..., str], mode: str
) -> None:
    sim.set_fault(MODEL, {"kind": "cut", "after": 0, "mode": mode, "stream": True})
    events = raw_events(tgw, {"model": "responses-then-claude", "input": HI, **REASONING})
    check_grammar([data for _, data in events])
    kinds = [kind for kind, _ in events]
    assert "error" not in kinds and kinds[-1] == "response.completed"
    final = events[-1][1]["response"]
    assert final["id"] == events[0][1]["response"]["id"]  # the primary's response goes on
    # The primary had opened its message item before the cut: it ends, empty. Then Claude's
    # answer: its thinking (asked for by `reasoning`), and its message.
    reasoning, empty, thinking, message = final["output"]
    assert reasoning["type"] == "reasoning" and reasoning["summary"]
    assert reasoning["encrypted_content"]  # the caller got it whole: it can go back
    assert empty["type"] == "message" and empty["content"][0]["text"] == ""
    assert thinking["type"] == "reasoning" and thinking["encrypted_content"].startswith("fsa1.")
    assert message["type"] == "message"
    added = [d["output_index"] for k, d in events if k == "response.output_item.added"]
    assert added == [0, 1, 2, 3]
    text = message["content"][0]["text"]
    assert text == direct("claude-opus-4-7", [{"role": "user", "content": HI}])
    assert sim.requests(MODEL)[-1].outcome == "cut"
    # The backup got the question, not a continuation of anything.
    asked = sim.requests("claude-opus-4-7")[0]  # the gateway's (then `direct`'s own)
    assert asked.body["messages"] == [{"role": "user", "content": [{"type": "text", "text": HI}]}]


def test_the_sdk_assembles_the_rescued_answer(
    toai: openai.OpenAI, sim: SimServer, direct: Callable[..., str]
) -> None:
    sim.set_fault(MODEL, {"kind": "cut", "after": 0, "stream": True})
    with toai.responses.stream(model="responses-then-claude", input=HI, **REASONING) as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    assert [item.type for item in final.output] == ["reasoning", "message", "reasoning", "message"]
    assert final.output_text == direct("claude-opus-4-7", [{"role": "user", "content": HI}])


def test_with_nowhere_to_go_the_stream_ends_numbered_on(tgw: GatewayThread, sim: SimServer) -> None:
    """Claude is down, and the primary, asked again last, breaks the same way: its second
    stream's error end reaches the caller, numbered on."""
    sim.set_fault(MODEL, {"kind": "cut", "after": 0, "stream": True})
    sim.set_fault("claude-opus-4-7", {"kind": "status", "status": 529})
    events = raw_events(tgw, {"model": "responses-then-claude", "input": HI, **REASONING})
    kinds = [kind for kind, _ in events]
    assert kinds[-2:] == ["error", "response.failed"]
    assert [d["sequence_number"] for _, d in events] == list(range(len(events)))
    failed = events[-1][1]["response"]
    assert [item["type"] for item in failed["output"]][:2] == ["reasoning", "message"]
    assert failed["id"] == events[0][1]["response"]["id"]
    assert sim.attempts(MODEL) == 2 and sim.attempts("claude-opus-4-7") == 1
