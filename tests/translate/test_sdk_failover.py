"""Failing over across dialects, mid-plan and mid-conversation, through the real SDKs.

The acceptance case: an Anthropic-SDK request whose Anthropic targets return 529 is answered
by an OpenAI-dialect (or Gemini) target, streaming included, as a valid Anthropic event
sequence. Conversations move between dialects with their tool calls, and Gemini 3's thought
signatures survive the trip through either SDK.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest

from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.conftest import CALLER_KEY
from tests.translate.sdk import (
    ANTHROPIC_TOOLS,
    MODES,
    OPENAI_TOOLS,
    QUESTION,
    anthropic_history,
    ask_anthropic,
    ask_openai,
    assemble_anthropic,
    openai_history,
)

OVERLOADED = {"kind": "status", "status": 529}
HI = [{"role": "user", "content": "Say something about breakers"}]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("virtual", "backup"),
    [("claude-then-gpt", "gpt-4o"), ("claude-then-gemini", "gemini-2.5-flash")],
)
def test_anthropic_caller_overloaded_is_answered_by_another_dialect(
    tant: anthropic.Anthropic,
    sim: SimServer,
    direct: Callable[..., str],
    mode: str,
    virtual: str,
    backup: str,
) -> None:
    sim.set_fault("claude-opus-4-7", OVERLOADED)
    sim.set_fault("claude-sonnet-4-5", OVERLOADED)
    result = ask_anthropic(tant, mode, virtual, HI)  # "stream" checks the event grammar
    assert result.text == direct(backup, HI)
    assert result.model == backup
    assert result.finish == "end_turn"
    assert result.output_tokens == len(result.text.split(" "))
    assert sim.attempts("claude-opus-4-7") == 1
    assert sim.attempts(backup) == 2  # the gateway's attempt and the oracle's


def test_failover_headers_and_raw_events(tant: anthropic.Anthropic, sim: SimServer) -> None:
    """The raw SSE an Anthropic client sees after a cross-dialect failover: named events
    in the documented order, with the answering provider in the headers."""
    sim.set_fault("claude-opus-4-7", OVERLOADED)
    sim.set_fault("claude-sonnet-4-5", OVERLOADED)
    raw = tant.messages.with_raw_response.create(
        model="claude-then-gpt", max_tokens=100, messages=HI, stream=True
    )
    assert raw.headers["x-failsoft-provider"] == "openai"
    assert raw.headers["x-failsoft-model"] == "gpt-4o"
    assert raw.headers["x-failsoft-attempts"] == "3"
    assert "anthropic/claude-opus-4-7:529" in raw.headers["x-failsoft-trail"]
    body = raw.http_response.read().decode()
    frames = [f for f in body.split("\n\n") if f]
    names = [f.split("\n")[0].removeprefix("event: ") for f in frames]
    assert names[:2] == ["message_start", "content_block_start"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(names[2:-3]) <= {"content_block_delta", "ping"}
    assert all(f.split("\n")[1].startswith("data: {") for f in frames)


@pytest.mark.parametrize("mode", MODES)
def test_openai_caller_falls_over_to_anthropic(
    toai: openai.OpenAI, sim: SimServer, direct: Callable[..., str], mode: str
) -> None:
    sim.set_fault("gpt-4o", {"kind": "status", "status": 500})
    result = ask_openai(toai, mode, "gpt-then-claude", HI)
    assert result.text == direct("claude-opus-4-7", HI)
    assert result.model == "claude-opus-4-7"
    assert result.finish == "stop"


def test_stream_fails_over_before_its_first_byte_across_dialects(
    tant: anthropic.Anthropic, sim: SimServer, direct: Callable[..., str]
) -> None:
    """A stream that breaks before any content is not committed: the next target (another
    dialect) starts it afresh, and the caller sees one clean stream."""
    sim.set_fault("claude-opus-4-7", {"kind": "cut", "after": 0, "stream": True})
    sim.set_fault("claude-sonnet-4-5", {"kind": "hang"})
    result = ask_anthropic(tant, "stream", "claude-then-gpt", HI)
    assert result.text == direct("gpt-4o", HI)


@pytest.mark.parametrize("mode", ["plain", "stream"])
def test_anthropic_conversation_moves_to_openai_with_its_tool_calls(
    tant: anthropic.Anthropic, sim: SimServer, mode: str
) -> None:
    """Claude calls the tool; before the result comes back Claude is overloaded, so GPT gets
    a history with Anthropic tool ids, translated, and answers from the tool's result."""
    messages: list[Any] = [{"role": "user", "content": QUESTION}]
    first = ask_anthropic(tant, mode, "claude-then-gpt", messages, tools=ANTHROPIC_TOOLS)
    assert first.model == "claude-opus-4-7"
    (call,) = first.calls
    assert call.id.startswith("toolu_")
    sim.set_fault("claude-opus-4-7", OVERLOADED)
    sim.set_fault("claude-sonnet-4-5", OVERLOADED)
    messages += [
        anthropic_history(first),
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "rain"}],
        },
    ]
    second = ask_anthropic(tant, mode, "claude-then-gpt", messages, tools=ANTHROPIC_TOOLS)
    assert second.text == "Simulated answer from gpt-4o: the tool said rain."
    sent = sim.requests("gpt-4o")[-1].body
    assert sent["messages"][1]["tool_calls"][0]["id"] == call.id
    assert sent["messages"][2] == {"role": "tool", "tool_call_id": call.id, "content": "rain"}


@pytest.mark.parametrize("mode", MODES)
def test_gemini3_thought_signatures_survive_the_openai_sdk(
    toai: openai.OpenAI, sim: SimServer, mode: str
) -> None:
    """Gemini 3 refuses a function-call history without the signature it issued; the
    signature rides in the call id, through the SDK and back."""
    messages: list[Any] = [{"role": "user", "content": QUESTION}]
    first = ask_openai(toai, mode, "via-gemini3", messages, tools=OPENAI_TOOLS)
    (call,) = first.calls
    issued = _signature(sim.requests("gemini-3-pro-preview")[-1])
    assert issued is None  # a request, not an answer: nothing signed yet
    messages += [openai_history(first), {"role": "tool", "tool_call_id": call.id, "content": "fog"}]
    second = ask_openai(toai, mode, "via-gemini3", messages, tools=OPENAI_TOOLS)
    assert second.text == "Simulated answer from gemini-3-pro-preview: the tool said fog."
    sent = _signature(sim.requests("gemini-3-pro-preview")[-1])
    assert sent is not None and sent != "skip_thought_signature_validator"


@pytest.mark.parametrize("mode", MODES)
def test_gemini3_thought_signatures_survive_the_anthropic_sdk(
    tant: anthropic.Anthropic, sim: SimServer, mode: str
) -> None:
    messages: list[Any] = [{"role": "user", "content": QUESTION}]
    first = ask_anthropic(tant, mode, "via-gemini3", messages, tools=ANTHROPIC_TOOLS)
    (call,) = first.calls
    messages += [
        anthropic_history(first),
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "fog"}],
        },
    ]
    second = ask_anthropic(tant, mode, "via-gemini3", messages, tools=ANTHROPIC_TOOLS)
    assert second.text == "Simulated answer from gemini-3-pro-preview: the tool said fog."
    sent = _signature(sim.requests("gemini-3-pro-preview")[-1])
    assert sent is not None and sent != "skip_thought_signature_validator"


def test_history_from_another_model_reaches_gemini3_with_the_documented_skip(
    toai: openai.OpenAI, sim: SimServer
) -> None:
    """Calls Gemini never made carry no signature; Google documents a placeholder for them."""
    messages: list[Any] = [
        {"role": "user", "content": QUESTION},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_from_gpt",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location": "Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_from_gpt", "content": "snow"},
    ]
    answer = ask_openai(toai, "plain", "via-gemini3", messages, tools=OPENAI_TOOLS)
    assert answer.text == "Simulated answer from gemini-3-pro-preview: the tool said snow."
    assert (
        _signature(sim.requests("gemini-3-pro-preview")[-1]) == "skip_thought_signature_validator"
    )


def test_gemini_conversation_moves_to_openai_with_ids_it_accepts(
    toai: openai.OpenAI, sim: SimServer
) -> None:
    """Gemini call ids carry signatures and are long; OpenAI refuses ids over 40 characters,
    so they are shortened on the way, consistently for the call and its result."""
    messages: list[Any] = [{"role": "user", "content": QUESTION}]
    first = ask_openai(toai, "plain", "gemini-then-gpt", messages, tools=OPENAI_TOOLS)
    assert first.model == "gemini-3-pro-preview"
    (call,) = first.calls
    assert len(call.id) > 40
    sim.set_fault("gemini-3-pro-preview", {"kind": "status", "status": 503})
    messages += [
        openai_history(first),
        {"role": "tool", "tool_call_id": call.id, "content": "hail"},
    ]
    second = ask_openai(toai, "plain", "gemini-then-gpt", messages, tools=OPENAI_TOOLS)
    assert second.text == "Simulated answer from gpt-4o: the tool said hail."
    sent = sim.requests("gpt-4o")[-1].body
    sent_id = sent["messages"][1]["tool_calls"][0]["id"]
    assert len(sent_id) <= 40
    assert sent["messages"][2]["tool_call_id"] == sent_id


def test_resume_continues_a_broken_stream_on_another_dialect(
    make_translating: Callable[[str], GatewayThread], sim: SimServer
) -> None:
    text = (
        "Resilient gateways keep answering when a provider fails: they retry with jitter, "
        "respect Retry-After, open breakers, and never pass a truncated stream as complete."
    )
    gw = make_translating("")  # resume is on by default
    for model in ("claude-opus-4-7", "gemini-2.5-flash"):
        # Asked in a user turn to go on, the Gemini model repeats its last sentence first,
        # as the continue prompt asks: an overlap failsoft can verify.
        sim.set_model(model, answer=text, on_continue="sentence")
    sim.set_fault("claude-opus-4-7", {"kind": "cut", "after": 5, "stream": True})
    try:
        with anthropic.Anthropic(base_url=gw.url, api_key=CALLER_KEY, max_retries=0) as client:
            result = ask_anthropic(client, "stream", "claude-then-gemini", HI)
        assert result.text == text
        assert result.finish == "end_turn"
        (continued,) = sim.requests("gemini-2.5-flash")
        contents = continued.body["contents"]
        assert [c["role"] for c in contents] == ["user", "model", "user"]
    finally:
        for model in ("claude-opus-4-7", "gemini-2.5-flash"):
            sim.set_model(model, answer=None, on_continue="continue")


def _signature(record: Any) -> str | None:
    """The thoughtSignature on the first functionCall part the gateway sent, if any."""
    for content in record.body["contents"]:
        for part in content["parts"]:
            if "functionCall" in part:
                return part.get("thoughtSignature")
    return None


def test_a_hedge_in_another_dialect_can_win(
    make_translating: Callable[[str], GatewayThread], sim: SimServer, direct: Callable[..., str]
) -> None:
    """The primary is slow to its first token; the hedge (a Gemini target, translated) wins,
    and the Anthropic caller gets one clean stream from it."""
    gw = make_translating("hedge: {enabled: true, delay: 0.1, min_delay: 0.05}")
    sim.set_model("claude-opus-4-7", ttft=0.4)
    try:
        with anthropic.Anthropic(base_url=gw.url, api_key=CALLER_KEY, max_retries=0) as client:
            raw = client.messages.with_raw_response.create(
                model="claude-then-gemini", max_tokens=100, messages=HI, stream=True
            )
            events = list(raw.parse())
        result = assemble_anthropic(events)
        assert result.text == direct("gemini-2.5-flash", HI)
        assert raw.headers["x-failsoft-model"] == "gemini-2.5-flash"
        # The loser is cancelled when the hedge wins; on a loaded machine the primary's
        # first-token deadline (0.5 s here) may strike first. Either way Gemini answered.
        trail = raw.headers["x-failsoft-trail"].split(",")
        assert "gemini/gemini-2.5-flash:200" in trail
        assert {
            "anthropic/claude-opus-4-7:cancelled",
            "anthropic/claude-opus-4-7:first_token_timeout",
        } & set(trail)
    finally:
        sim.set_model("claude-opus-4-7", ttft=0)
