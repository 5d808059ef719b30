"""Transcripts, continuation requests and framers for mid-stream resume."""

from __future__ import annotations

import orjson

from failsoft.dialects.continuation import (
    AnthropicFramer,
    AnthropicTranscript,
    OpenAIFramer,
    OpenAITranscript,
    Tally,
    continuation_payload,
    estimate_tokens,
    forced_json,
    max_tokens,
)
from failsoft.dialects.sse import SSEDecoder


def test_continuation_requests() -> None:
    asked = {"model": "m", "messages": [{"role": "user", "content": "Q"}], "max_tokens": 100}
    turn = continuation_payload("openai", asked, "Half an ", "Go on.", 60)
    assert turn["messages"][1:] == [
        {"role": "assistant", "content": "Half an "},
        {"role": "user", "content": "Go on."},
    ]
    assert turn["max_tokens"] == 60
    assert turn["stream"] is True
    assert asked["max_tokens"] == 100  # the caller's payload is not changed
    prefill = continuation_payload("anthropic", asked, "Half an", None, 60)
    assert prefill["messages"][-1] == {"role": "assistant", "content": "Half an"}
    newer = {"model": "m", "messages": [], "max_completion_tokens": 9}
    assert continuation_payload("openai", newer, "x", "y", 4)["max_completion_tokens"] == 4
    assert "max_tokens" not in continuation_payload("openai", {"messages": []}, "x", "y", 4)
    assert max_tokens("openai", newer) == 9
    assert max_tokens("anthropic", asked) == 100
    assert max_tokens("openai", {"messages": []}) is None


def test_forced_json_is_recognised() -> None:
    assert forced_json("openai", {"response_format": {"type": "json_schema"}})
    assert not forced_json("openai", {"response_format": {"type": "text"}})
    assert forced_json("anthropic", {"output_format": {"type": "json_schema"}})
    assert not forced_json("anthropic", {})


def test_token_estimates_err_on_the_large_side() -> None:
    assert estimate_tokens("word " * 10, 10) == 13
    assert estimate_tokens("a", 5) == 5


def test_a_transcript_past_its_bound_is_dropped() -> None:
    t = OpenAITranscript(max_chars=10)
    t.observe({"choices": [{"index": 0, "delta": {"content": "0123456789"}}]})
    assert t.resumable
    t.observe({"choices": [{"index": 0, "delta": {"content": "x"}}]})
    assert not t.resumable
    assert t.text == ""  # not kept twice


def test_openai_transcript_and_framer() -> None:
    t = OpenAITranscript()
    t.observe(
        {
            "id": "c1",
            "created": 5,
            "model": "m",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
        }
    )
    assert t.observe({"id": "c1", "choices": [{"index": 0, "delta": {"content": "Hi"}}]}) == "Hi"
    assert t.text == "Hi"
    assert t.resumable
    t.observe({"id": "c1", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0}]}}]})
    assert not t.resumable
    framer = OpenAIFramer(t, include_usage=True)
    chunk = orjson.loads(framer.text(" there")[6:])
    assert chunk["id"] == "c1"
    assert chunk["model"] == "m"
    assert chunk["choices"][0]["delta"] == {"content": " there"}
    assert t.text == "Hi there"
    ending = OpenAITranscript()
    ending.observe(
        {
            "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}],
            "usage": {"total_tokens": 3},
        }
    )
    events = SSEDecoder().feed(framer.finish(ending.stop, Tally(7, 2, 3)))
    assert orjson.loads(events[0].data)["choices"][0]["finish_reason"] == "length"
    usage = orjson.loads(events[1].data)["usage"]
    assert usage == {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}
    assert events[2].data == b"[DONE]"
    keep = SSEDecoder().feed(framer.keepalive() + b"data: {}\n\n")
    assert [e.data for e in keep] == [b"{}"]  # a comment: no event of its own


def test_several_choices_are_not_resumable() -> None:
    t = OpenAITranscript()
    t.observe({"choices": [{"index": 1, "delta": {"content": "x"}}]})
    assert not t.resumable


def test_anthropic_framer_continues_the_open_block_then_ends_properly() -> None:
    t = AnthropicTranscript()
    t.observe(
        {
            "type": "message_start",
            "message": {"id": "m1", "usage": {"input_tokens": 3, "output_tokens": 1}},
        }
    )
    t.observe(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    )
    assert (
        t.observe(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "Hel"},
            }
        )
        == "Hel"
    )
    t.observe({"type": "message_delta", "delta": {}, "usage": {"output_tokens": 4}})
    framer = AnthropicFramer(t)
    events = SSEDecoder().feed(framer.text("lo"))
    assert [e.event for e in events] == ["content_block_delta"]
    assert orjson.loads(events[0].data)["index"] == 0
    ending = SSEDecoder().feed(framer.finish("end_turn", Tally(3, 4, 2)))
    assert [e.event for e in ending] == ["content_block_stop", "message_delta", "message_stop"]
    assert orjson.loads(ending[1].data)["usage"] == {"output_tokens": 6}
    assert t.text == "Hello"
    assert [e.event for e in SSEDecoder().feed(framer.keepalive())] == ["ping"]


def test_anthropic_framer_opens_a_new_block_after_a_closed_one() -> None:
    t = AnthropicTranscript()
    t.observe(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    )
    t.observe({"type": "content_block_stop", "index": 0})
    events = SSEDecoder().feed(AnthropicFramer(t).text("more"))
    assert [e.event for e in events] == ["content_block_start", "content_block_delta"]
    assert orjson.loads(events[0].data)["index"] == 1


def test_thinking_and_tools_are_not_resumable() -> None:
    t = AnthropicTranscript()
    t.observe(
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": ""},
        }
    )
    assert not t.resumable
