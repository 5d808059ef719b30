"""Transcripts and framers for mid-stream resume, and overlap removal."""

from __future__ import annotations

import orjson

from failsoft.dialects.continuation import (
    AnthropicFramer,
    AnthropicTranscript,
    OpenAIFramer,
    OpenAITranscript,
    strip_overlap,
)
from failsoft.dialects.sse import SSEDecoder


def test_strip_overlap() -> None:
    assert strip_overlap("the quick brown fox", " brown fox jumps") == " jumps"
    assert strip_overlap("the quick brown fox", " jumps over") == " jumps over"
    # A lone shared letter is not a repeat.
    assert strip_overlap("alpha", "a beta") == "a beta"
    assert strip_overlap("done.", "done.") == ""


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
    events = SSEDecoder().feed(framer.finish(ending))
    assert orjson.loads(events[0].data)["choices"][0]["finish_reason"] == "length"
    assert orjson.loads(events[1].data)["usage"] == {"total_tokens": 3}
    assert events[2].data == b"[DONE]"


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
    rest = AnthropicTranscript()
    rest.observe(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 2},
        }
    )
    ending = SSEDecoder().feed(framer.finish(rest))
    assert [e.event for e in ending] == ["content_block_stop", "message_delta", "message_stop"]
    assert orjson.loads(ending[1].data)["usage"] == {"output_tokens": 6}
    assert t.text == "Hello"


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
