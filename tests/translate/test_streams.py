"""Stream translation edge cases the golden transcripts do not show."""

from __future__ import annotations

from typing import Any

import orjson

from failsoft.dialects import WIRES
from failsoft.dialects.base import TERMINAL
from failsoft.dialects.sse import SSEDecoder, encode
from failsoft.translate.bridge import Translation


def run(target: str, caller: str, frames: list[bytes], usage: bool = False) -> list[Any]:
    converter = Translation(caller, target, {}, ()).converter(usage)
    tracker = WIRES[target].tracker()
    seen: list[Any] = []
    out = b""
    for event in SSEDecoder().feed(b"".join(frames)):
        kind = tracker.feed(event)
        out += converter.feed(kind, tracker.last, [seen.append])
        if kind == TERMINAL:
            break
    decoded = [
        orjson.loads(e.data) if e.data != b"[DONE]" else None for e in SSEDecoder().feed(out)
    ]
    assert decoded == seen  # observers get exactly what the caller gets
    return seen


def oai(obj: dict[str, Any]) -> bytes:
    return encode(orjson.dumps({"id": "c1", "model": "gpt", **obj}))


def ant(obj: dict[str, Any]) -> bytes:
    return encode(orjson.dumps(obj), obj["type"])


def test_interleaved_openai_tool_deltas_land_on_their_own_blocks() -> None:
    frames = [
        oai({"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "a", "function": {"name": "f", "arguments": ""}},
            {"index": 1, "id": "b", "function": {"name": "g", "arguments": "{\"y\":"}}]}}]}),
        oai({"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": "{\"x\":1}"}},
            {"index": 1, "function": {"arguments": "2}"}}]}}]}),
        oai({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
        b"data: [DONE]\n\n",
    ]  # fmt: skip
    events = run("openai", "anthropic", frames)
    json_by_block: dict[int, str] = {}
    for e in events:
        if e["type"] == "content_block_delta":
            json_by_block[e["index"]] = (
                json_by_block.get(e["index"], "") + e["delta"]["partial_json"]
            )
    assert {k: orjson.loads(v) for k, v in json_by_block.items()} == {0: {"x": 1}, 1: {"y": 2}}
    assert events[-2]["delta"]["stop_reason"] == "tool_use"


def test_an_anthropic_stream_without_deltas_still_starts_and_ends_blocks() -> None:
    start = {
        "type": "message_start",
        "message": {"id": "m", "model": "c", "usage": {"input_tokens": 3}},
    }
    frames = [
        ant(start),
        ant(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": "Hi"},
            }
        ),
        ant({"type": "content_block_stop", "index": 0}),
        ant({"type": "brand_new_event", "x": 1}),
        ant(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "pause_turn"},
                "usage": {"output_tokens": 2},
            }
        ),
        ant({"type": "message_stop"}),
    ]
    chunks = run("anthropic", "openai", frames, usage=True)
    texts = [c["choices"][0]["delta"].get("content") for c in chunks if c and c["choices"]]
    assert "Hi" in texts
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c and c["choices"]]
    assert finishes[-1] == "stop"
    assert chunks[-2]["usage"]["prompt_tokens"] == 3 and chunks[-1] is None


def test_openai_refusal_becomes_text_and_a_refusal_stop() -> None:
    frames = [
        oai({"choices": [{"index": 0, "delta": {"role": "assistant", "refusal": "No."}}]}),
        oai({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
        b"data: [DONE]\n\n",
    ]
    events = run("openai", "anthropic", frames)
    assert events[2]["delta"] == {"type": "text_delta", "text": "No."}
    assert events[-2]["delta"]["stop_reason"] == "refusal"


def test_gemini_thoughts_are_skipped_and_a_blocked_prompt_is_a_refusal() -> None:
    frames = [
        b"data: " + orjson.dumps({"candidates": [{"content": {"parts": [
            {"text": "secret", "thought": True}, {"text": "Visible"}]}}], "responseId": "r"}) + b"\r\n\r\n",
        b"data: " + orjson.dumps({"candidates": [{"content": {"parts": [{"text": ""}]},
                                  "finishReason": "SAFETY"}]}) + b"\r\n\r\n",
    ]  # fmt: skip
    events = run("gemini", "anthropic", frames)
    deltas = [e["delta"]["text"] for e in events if e["type"] == "content_block_delta"]
    assert deltas == ["Visible"]
    assert events[-2]["delta"]["stop_reason"] == "refusal"
    blocked = [b"data: " + orjson.dumps({"promptFeedback": {"blockReason": "SAFETY"}}) + b"\n\n"]
    chunks = run("gemini", "openai", blocked)
    assert chunks[-2]["choices"][0]["finish_reason"] == "content_filter"


def test_upstream_error_events_come_out_in_the_callers_shape() -> None:
    translation = Translation("openai", "anthropic", {}, ())
    frame = translation.converter(False).error(
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    )
    assert orjson.loads(frame[6:]) == {
        "error": {"message": "Overloaded", "type": "server_error", "param": None, "code": None}
    }
    frame = (
        Translation("anthropic", "gemini", {}, ())
        .converter(False)
        .error({"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}})
    )
    name, _, data = frame.partition(b"\ndata: ")
    assert name == b"event: error"
    assert orjson.loads(data)["error"] == {"type": "rate_limit_error", "message": "slow down"}
