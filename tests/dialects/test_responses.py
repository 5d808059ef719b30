"""OpenAI Responses wire format upstream: stream tracking, assembly, errors, bodies."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from failsoft.dialects import WIRES
from failsoft.dialects import responses as wire
from failsoft.dialects.base import CONTENT, ERROR, MALFORMED, PREAMBLE, TERMINAL, ErrorInfo
from failsoft.dialects.sse import SSEDecoder, SSEEvent
from failsoft.errors import TruncatedStream, UpstreamStreamError

RESPONSE = {"id": "resp_1", "object": "response", "model": "gpt-5", "status": "in_progress"}
MESSAGE = {"id": "msg_1", "type": "message", "role": "assistant", "status": "in_progress"}
CALL = {"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "f", "arguments": ""}


class Stream:
    """Numbered events, as the API sends them."""

    def __init__(self) -> None:
        self.number = 0
        self.objs: list[dict[str, Any]] = []

    def add(self, kind: str, **fields: Any) -> dict[str, Any]:
        obj = {"type": kind, "sequence_number": self.number, **fields}
        self.number += 1
        self.objs.append(obj)
        return obj

    def body(self) -> bytes:
        return b"".join(raw(o) for o in self.objs)


def raw(obj: dict[str, Any]) -> bytes:
    return b"event: " + obj["type"].encode() + b"\ndata: " + orjson.dumps(obj) + b"\n\n"


def ev(obj: dict[str, Any]) -> SSEEvent:
    return SSEEvent(obj["type"], orjson.dumps(obj), raw(obj))


def answer(text: str = "Hello", call: bool = False) -> Stream:
    s = Stream()
    s.add("response.created", response=RESPONSE)
    s.add("response.in_progress", response=RESPONSE)
    s.add("response.output_item.added", output_index=0, item=MESSAGE)
    part = {"type": "output_text", "text": "", "annotations": []}
    s.add("response.content_part.added", item_id="msg_1", output_index=0, part=part)
    for word in (text[:3], text[3:]):
        s.add("response.output_text.delta", item_id="msg_1", output_index=0, delta=word)
    done = {**MESSAGE, "status": "completed", "content": [{**part, "text": text}]}
    s.add("response.output_text.done", item_id="msg_1", output_index=0, text=text)
    s.add("response.output_item.done", output_index=0, item=done)
    output = [done]
    if call:
        s.add("response.output_item.added", output_index=1, item=CALL)
        at = {"item_id": "fc_1", "output_index": 1}
        s.add("response.function_call_arguments.delta", **at, delta='{"a":')
        s.add("response.function_call_arguments.delta", **at, delta="1}")
        finished = {**CALL, "arguments": '{"a":1}', "status": "completed"}
        s.add("response.output_item.done", output_index=1, item=finished)
        output.append(finished)
    final = {**RESPONSE, "status": "completed", "output": output, "usage": {"input_tokens": 3}}
    s.add("response.completed", response=final)
    return s


def test_the_wire_is_registered() -> None:
    assert WIRES["responses"] is wire


def test_tracker_kinds() -> None:
    t = wire.tracker()
    kinds = [t.feed(ev(o)) for o in answer(call=True).objs]
    assert kinds[:4] == [PREAMBLE] * 4  # created, in_progress, item and part added
    assert kinds[4] == CONTENT  # the first text delta: the commit point
    assert kinds[-1] == TERMINAL and t.complete
    assert t.sequence == len(kinds)
    assert t.response == RESPONSE
    assert t.feed(SSEEvent("response.output_text.delta", b"{nope", b"")) == MALFORMED
    assert t.feed(SSEEvent(None, b"[1]", b"")) == MALFORMED


def test_a_call_commits_at_its_arguments() -> None:
    t = wire.tracker()
    s = Stream()
    assert t.feed(ev(s.add("response.created", response=RESPONSE))) == PREAMBLE
    assert t.feed(ev(s.add("response.output_item.added", output_index=0, item=CALL))) == PREAMBLE
    delta = s.add("response.function_call_arguments.delta", item_id="fc_1", delta="{}")
    assert t.feed(ev(delta)) == CONTENT


@pytest.mark.parametrize("end", ["response.completed", "response.incomplete"])
def test_both_ends_are_terminal(end: str) -> None:
    t = wire.tracker()
    assert t.feed(ev({"type": end, "sequence_number": 0, "response": RESPONSE})) == TERMINAL


def test_errors_in_stream() -> None:
    t = wire.tracker()
    error = {"type": "error", "code": "server_error", "message": "boom", "sequence_number": 4}
    assert t.feed(ev(error)) == ERROR
    assert wire.event_error(error) == ("server_error", "boom")
    failed = {
        "type": "response.failed",
        "response": {**RESPONSE, "status": "failed",
                     "error": {"code": "rate_limit_exceeded", "message": "slow down"}},
    }  # fmt: skip
    assert t.feed(ev(failed)) == ERROR
    assert wire.event_error(failed) == ("rate_limit_exceeded", "slow down")
    assert wire.event_error({"type": "response.completed"}) == (None, None)
    assert wire.parse_error(orjson.dumps(failed)) == ErrorInfo(
        "rate_limit_exceeded", "rate_limit_exceeded", "slow down"
    )


def test_http_errors_are_openais() -> None:
    body = b'{"error":{"message":"nope","type":"invalid_request_error","code":"bad","param":null}}'
    assert wire.parse_error(body) == ErrorInfo("invalid_request_error", "bad", "nope")
    assert wire.parse_error(b"oops").message == "oops"
    context = wire.parse_error(b'{"error":{"code":"context_length_exceeded","message":"long"}}')
    assert wire.is_context_length(context)
    assert wire.is_quota(ErrorInfo(code="insufficient_quota"))
    assert wire.is_credentials(ErrorInfo(code="invalid_api_key"))


def test_assemble_takes_the_final_response() -> None:
    s = answer(call=True)
    out = wire.assemble(s.body())
    assert out == s.objs[-1]["response"]


def test_assemble_falls_back_to_the_items_done() -> None:
    s = answer()
    s.objs[-1]["response"] = {**RESPONSE, "status": "completed", "output": []}
    out = wire.assemble(s.body())
    assert [item["id"] for item in out["output"]] == ["msg_1"]
    assert out["output"][0]["content"][0]["text"] == "Hello"


def test_assemble_refuses_broken_streams() -> None:
    s = answer()
    with pytest.raises(TruncatedStream):
        wire.assemble(b"".join(raw(o) for o in s.objs[:-1]))
    s = answer()
    s.objs[-1] = {"type": "error", "code": "server_error", "message": "boom"}
    with pytest.raises(UpstreamStreamError) as info:
        wire.assemble(s.body())
    assert info.value.message and "boom" in info.value.message


def test_harmless_only_without_content_fields() -> None:
    t = wire.tracker()
    assert wire.harmless(SSEEvent(None, b"keepalive", b""), t)
    assert wire.harmless(SSEEvent("response.output_text.delta", b'{"type":"response.o', b""), t)
    cut = b'{"type":"response.output_text.delta","delta":"wo'
    assert not wire.harmless(SSEEvent("response.output_text.delta", cut, b""), t)
    assert not wire.harmless(SSEEvent(None, b'{"type":"x","item":{"id"', b""), t)
    assert not wire.harmless(SSEEvent("error", b'{"type":"error","message":"bo', b""), t)
    assert wire.missing_end(t, True) is None


def test_bodies() -> None:
    payload = {"model": "m", "input": "hi", "x": 1}
    original = b'{"model": "m",  "input":"hi","x":1}'
    assert wire.stream_body(payload, original, "gpt-5") == original.replace(b'"m"', b'"gpt-5"')
    assembled = orjson.loads(wire.assembled_body(payload, "gpt-5"))
    assert assembled == {"model": "gpt-5", "input": "hi", "x": 1, "stream": True}
    assert "stream_options" not in assembled
    assert not wire.ends_stream(b"...")


def test_relay_failure_numbers_on() -> None:
    t = wire.tracker()
    for obj in answer().objs[:5]:
        t.feed(ev(obj))
    decoder = SSEDecoder()
    decoder.push(wire.relay_failure(t, "cut", timeout=True))
    error, failed = decoder.events()
    data = orjson.loads(error.data)
    assert (error.event, data["code"], data["sequence_number"]) == ("error", "stream_timeout", 5)
    data = orjson.loads(failed.data)
    assert (failed.event, data["sequence_number"]) == ("response.failed", 6)
    assert data["response"]["id"] == "resp_1" and data["response"]["status"] == "failed"
