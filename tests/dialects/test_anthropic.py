"""Anthropic wire format: stream tracking, assembly, errors."""

from __future__ import annotations

import orjson
import pytest

from failsoft.dialects import anthropic as wire
from failsoft.dialects.base import CONTENT, ERROR, MALFORMED, PREAMBLE, TERMINAL, ErrorInfo
from failsoft.dialects.sse import SSEEvent
from failsoft.errors import MalformedEvent, TruncatedStream, UpstreamStreamError


def ev(obj: dict[str, object]) -> SSEEvent:
    data = orjson.dumps(obj)
    name = str(obj.get("type"))
    return SSEEvent(name, data, b"event: " + name.encode() + b"\ndata: " + data + b"\n\n")


START = {
    "type": "message_start",
    "message": {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": "claude-x",
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 1},
    },
}


def test_tracker_kinds() -> None:
    t = wire.tracker()
    assert t.feed(ev(START)) == PREAMBLE
    assert (
        t.feed(
            ev(
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                }
            )
        )
        == PREAMBLE
    )
    assert t.feed(ev({"type": "ping"})) == PREAMBLE
    assert (
        t.feed(
            ev(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": "Hi"},
                }
            )
        )
        == CONTENT
    )
    assert (
        t.feed(ev({"type": "error", "error": {"type": "overloaded_error", "message": "x"}}))
        == ERROR
    )
    assert t.feed(ev({"type": "message_stop"})) == TERMINAL
    assert t.complete
    assert t.feed(SSEEvent("content_block_delta", b"{nope", b"")) == MALFORMED


def sse(objs: list[dict[str, object]]) -> bytes:
    return b"".join(ev(o).raw for o in objs)


STOP = [
    {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 7, "cache_read_input_tokens": 3},
    },
    {"type": "message_stop"},
]


def test_assemble_text_and_citations() -> None:
    out = wire.assemble(
        sse(
            [
                START,
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
                {"type": "ping"},
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": "Hel"},
                },
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "citations_delta", "citation": {"cited_text": "c"}},
                },
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": "lo"},
                },
                {"type": "content_block_stop", "index": 0},
                *STOP,
            ]
        )
    )
    assert out["content"] == [{"type": "text", "text": "Hello", "citations": [{"cited_text": "c"}]}]
    assert out["stop_reason"] == "end_turn"
    assert out["usage"] == {"input_tokens": 5, "output_tokens": 7, "cache_read_input_tokens": 3}
    assert out["id"] == "msg_1"


def tool_events(partial_json: str) -> list[dict[str, object]]:
    return [
        START,
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "t", "name": "now", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": partial_json},
        },
        {"type": "content_block_stop", "index": 0},
        *STOP,
    ]


def test_assemble_tool_use_with_no_input() -> None:
    out = wire.assemble(sse(tool_events("")))
    assert out["content"] == [{"type": "tool_use", "id": "t", "name": "now", "input": {}}]


def test_assemble_refuses_broken_streams() -> None:
    with pytest.raises(MalformedEvent):
        wire.assemble(sse(tool_events('{"a": ')))
    with pytest.raises(TruncatedStream):
        wire.assemble(sse(tool_events("{}")[:-2]))  # no stop reason, no message_stop
    # The stop reason came and the body ended cleanly without message_stop: complete.
    assert wire.assemble(sse(tool_events("{}")[:-1]))["stop_reason"] == "end_turn"
    lost = b'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"text":"x\n\n'
    with pytest.raises(MalformedEvent):
        wire.assemble(sse([START]) + lost + sse(STOP))
    # A broken event whose bytes hold no content field is dropped, and reported.
    dropped: list[bytes] = []
    wire.assemble(sse([START]) + b'event: ping\ndata: {"type": "ping"\n\n' + sse(STOP), dropped)
    assert dropped == [b'{"type": "ping"']
    with pytest.raises(UpstreamStreamError) as info:
        wire.assemble(
            sse([START, {"type": "error", "error": {"type": "overloaded_error", "message": "o"}}])
        )
    assert info.value.error_type == "overloaded_error"
    assert wire.ends_stream(sse(STOP)[-100:])
    assert not wire.ends_stream(sse([START])[-100:])


def test_errors() -> None:
    body = b'{"type":"error","error":{"type":"rate_limit_error","message":"slow down","details":{"error_code":"enforced_spend_limit_reached"}},"request_id":"req_1"}'
    assert wire.parse_error(body) == ErrorInfo(
        "rate_limit_error", "enforced_spend_limit_reached", "slow down"
    )
    too_long = ErrorInfo(
        "invalid_request_error", None, "prompt is too long: 250000 tokens > 200000 maximum"
    )
    assert wire.is_context_length(too_long)
    assert not wire.is_context_length(
        ErrorInfo("invalid_request_error", None, "max_tokens: field required")
    )
    assert not wire.is_context_length(ErrorInfo("overloaded_error", None, "context window"))
    rendered = orjson.loads(wire.error_body("m", "overloaded_error", request_id="fs_1"))
    assert rendered == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "m"},
        "request_id": "fs_1",
    }
    frame = wire.stream_error("broke", timeout=True)
    assert frame.startswith(b"event: error\ndata: ")
    assert orjson.loads(frame.split(b"data: ")[1])["error"]["type"] == "timeout_error"
