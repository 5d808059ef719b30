"""OpenAI wire format: body rewrite, stream tracking, assembly, errors."""

from __future__ import annotations

import orjson
import pytest

from failsoft.dialects import openai as wire
from failsoft.dialects.base import (
    CONTENT,
    ERROR,
    MALFORMED,
    PREAMBLE,
    TERMINAL,
    TRUNCATED,
    ErrorInfo,
    parse_retry_after,
    rewrite_model,
)
from failsoft.dialects.sse import SSEEvent
from failsoft.errors import MalformedEvent, TruncatedStream, UpstreamStreamError


def ev(data: bytes | dict[str, object]) -> SSEEvent:
    raw = data if isinstance(data, bytes) else orjson.dumps(data)
    return SSEEvent(None, raw, b"data: " + raw + b"\n\n")


def test_rewrite_model_splices_bytes() -> None:
    body = b'{"messages":[],  "model" : "virt", "x": 1.50}'
    out = rewrite_model(orjson.loads(body), body, "real/model:8b")
    assert out == b'{"messages":[],  "model" : "real/model:8b", "x": 1.50}'


@pytest.mark.parametrize(
    ("spelled", "value"),
    [
        (b'"model":"virt"', "virt"),  # as orjson writes it: no pattern match needed
        (b'"model": "virt"', "virt"),
        (b'"model": "a\\"b\\\\c"', 'a"b\\c'),  # escapes as orjson writes them
        (b'"model":"\xc3\xa9"', "é"),
        (b'"model":"\\u00e9"', "é"),  # escaped otherwise: the pattern path, same splice
        (b'"model":\t"virt"', "virt"),
        (b'"model" :"virt"', "virt"),
        (b'"model":  "virt"', "virt"),
    ],
)
def test_rewrite_model_splices_every_spelling(spelled: bytes, value: str) -> None:
    body = b'{"messages":[],' + spelled + b',"x":1.50}'
    payload = orjson.loads(body)
    assert payload["model"] == value
    start = body.index(b'"', body.index(b'"model"') + 7)
    end = body.index(b',"x"')
    out = rewrite_model(payload, body, "real")
    assert out == body[:start] + b'"real"' + body[end:]
    # A payload whose model is not the one the bytes hold: re-encoded, never spliced.
    other = rewrite_model({**payload, "model": value + "z"}, body, "real")
    assert orjson.loads(other) == {**payload, "model": "real"}
    assert other.startswith(b'{"messages":[],"model":"real"')


def test_rewrite_model_falls_back_to_reencoding() -> None:
    body = b'{"model":"virt","tools":[{"schema":{"model":"virt"}}]}'
    payload = orjson.loads(body)
    out = orjson.loads(rewrite_model(payload, body, "real"))
    assert out == {"model": "real", "tools": [{"schema": {"model": "virt"}}]}


def test_assembled_body_asks_for_usage() -> None:
    payload = {"model": "v", "messages": [], "stream_options": {"x": 1}}
    out = orjson.loads(wire.assembled_body(payload, "real"))
    assert out["stream"] is True
    assert out["model"] == "real"
    assert out["stream_options"] == {"x": 1, "include_usage": True}


def chunk(delta: dict[str, object], finish: str | None = None, index: int = 0) -> dict[str, object]:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": index, "delta": delta, "finish_reason": finish}],
    }


def test_tracker_kinds() -> None:
    t = wire.tracker()
    assert t.feed(ev(chunk({"role": "assistant", "content": ""}))) == PREAMBLE
    assert t.feed(ev(chunk({"content": "Hi"}))) == CONTENT
    assert t.feed(ev(chunk({}, "stop"))) == CONTENT
    assert t.feed(ev({"id": "c", "choices": [], "usage": {"total_tokens": 3}})) == CONTENT
    assert t.feed(ev(b"[DONE]")) == TERMINAL
    assert t.complete


def test_done_before_finish_is_truncation() -> None:
    t = wire.tracker()
    t.feed(ev(chunk({"content": "Hi"})))
    assert t.feed(ev(b"[DONE]")) == TRUNCATED
    assert not t.complete


def test_every_choice_must_finish() -> None:
    t = wire.tracker()
    t.feed(ev(chunk({"content": "a"}, index=0)))
    t.feed(ev(chunk({"content": "b"}, index=1)))
    t.feed(ev(chunk({}, "stop", index=0)))
    assert t.feed(ev(b"[DONE]")) == TRUNCATED


def test_tracker_errors() -> None:
    t = wire.tracker()
    assert t.feed(ev(b'{"choices": [{"delta": ')) == MALFORMED
    assert t.feed(ev(b"[1]")) == MALFORMED
    assert t.feed(ev({"error": {"message": "x", "type": "server_error"}})) == ERROR


def sse(objs: list[dict[str, object]], done: bool = True) -> bytes:
    body = b"".join(b"data: " + orjson.dumps(o) + b"\n\n" for o in objs)
    return body + (b"data: [DONE]\n\n" if done else b"")


def test_assemble_text_tools_usage() -> None:
    events = [
        chunk(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ],
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "f2", "arguments": "{}"},
                    }
                ]
            }
        ),
        chunk(
            {
                "tool_calls": [
                    {"index": 0, "function": {"name": "get_weather", "arguments": '"Paris"}'}}
                ]
            }
        ),
        chunk({}, "tool_calls"),
        {
            "id": "c",
            "choices": [],
            "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6},
            "obfuscation": "zz",
        },
    ]
    out = wire.assemble(sse(events))
    assert out["object"] == "chat.completion"
    assert out["id"] == "c"
    assert out["usage"]["total_tokens"] == 6
    assert "obfuscation" not in out
    (choice,) = out["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    assert choice["message"]["tool_calls"] == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        },
        {"id": "call_2", "type": "function", "function": {"name": "f2", "arguments": "{}"}},
    ]


def test_assemble_multiple_choices_unknown_fields_and_logprobs() -> None:
    lp = {"content": [{"token": "A", "logprob": -0.1}], "refusal": None}
    events = [
        chunk({"role": "assistant", "content": "A", "reasoning_content": "r1"}, index=0),
        chunk({"content": "B"}, index=1),
        chunk({"content": "a", "reasoning_content": "r2"}, "stop", index=0),
        chunk({}, "length", index=1),
    ]
    events[0]["choices"][0]["logprobs"] = lp  # type: ignore[index]
    events[2]["choices"][0]["logprobs"] = {"content": [{"token": "a", "logprob": -0.2}]}  # type: ignore[index]
    out = wire.assemble(sse(events).replace(b"\n", b"\r\n"))  # CRLF framing too
    assert [c["message"]["content"] for c in out["choices"]] == ["Aa", "B"]
    assert out["choices"][0]["message"]["reasoning_content"] == "r1r2"
    assert out["choices"][0]["message"]["role"] == "assistant"
    assert [c["finish_reason"] for c in out["choices"]] == ["stop", "length"]
    assert out["choices"][0]["logprobs"]["content"] == [
        {"token": "A", "logprob": -0.1},
        {"token": "a", "logprob": -0.2},
    ]
    assert out["choices"][1]["message"] == {"role": "assistant", "content": "B", "refusal": None}


def test_assemble_refuses_incomplete_or_broken_streams() -> None:
    ok = [chunk({"role": "assistant", "content": "Hi"}), chunk({}, "stop")]
    assert wire.assemble(sse(ok))["choices"][0]["message"]["content"] == "Hi"
    with pytest.raises(TruncatedStream):
        wire.assemble(sse(ok, done=False))
    with pytest.raises(TruncatedStream):
        wire.assemble(sse(ok[:1]))  # [DONE] without a finish_reason
    with pytest.raises(TruncatedStream):
        wire.assemble(sse(ok, done=False) + b"data: [DO")  # a partial event is not an event
    with pytest.raises(TruncatedStream):
        wire.assemble(sse(ok)[:-3])  # [DONE] cut before its blank line
    with pytest.raises(MalformedEvent):
        wire.assemble(b'data: {"choices": [{"delta": {"content": "lo\n\n' + sse(ok))
    with pytest.raises(MalformedEvent):
        wire.assemble(b'data: {"content": 1}, {}\n\n' + sse(ok))  # two values in one event
    # Broken events with no content field are dropped (and reported); the answer stands.
    dropped: list[bytes] = []
    assert wire.assemble(b'data: {"choices": [\n\n' + sse(ok), dropped)["choices"]
    assert dropped == [b'{"choices": [']
    # Every finish and the usage, then a clean end without [DONE]: complete all the same.
    usage = b'data: {"choices": [], "usage": {"prompt_tokens": 1}}\n\n'
    assert wire.assemble(sse(ok, done=False) + usage)["usage"] == {"prompt_tokens": 1}
    with pytest.raises(UpstreamStreamError) as info:
        wire.assemble(sse([ok[0], {"error": {"type": "server_error", "message": "boom"}}]))
    assert info.value.error_type == "server_error"
    assert wire.ends_stream(b"...\n\ndata: [DONE]\n\n")
    assert not wire.ends_stream(b"data: {}\n\n")


def test_error_parsing_and_context_length() -> None:
    body = b'{"error":{"message":"This model\'s maximum context length is 128000 tokens","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}'
    info = wire.parse_error(body)
    assert info == ErrorInfo("invalid_request_error", "context_length_exceeded", info.message)
    assert wire.is_context_length(info)
    assert not wire.is_context_length(
        ErrorInfo("invalid_request_error", "content_policy_violation", "no")
    )
    assert wire.parse_error(b"<html>bad gateway</html>").message == "<html>bad gateway</html>"
    assert wire.parse_error(b'{"error": "plain"}').message == "plain"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "2.5"}, 2.5),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 10.0),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    now = 1445412470.0  # 10 s before the date above
    assert parse_retry_after(headers, now=now) == expected


def test_errors_render_in_openai_shape() -> None:
    body = orjson.loads(wire.error_body("bad", "invalid_request_error", code="c", param="p"))
    assert body == {
        "error": {"message": "bad", "type": "invalid_request_error", "param": "p", "code": "c"}
    }
    frame = wire.stream_error("broke")
    assert frame.startswith(b"data: {") and frame.endswith(b"\n\n")
    assert orjson.loads(frame[6:])["error"]["code"] == "stream_interrupted"
