"""Gemini wire format: stream tracking, assembly, errors and retry hints."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from failsoft.dialects import gemini as wire
from failsoft.dialects.base import CONTENT, ERROR, MALFORMED, PREAMBLE, TERMINAL, ErrorInfo
from failsoft.dialects.sse import SSEEvent
from failsoft.errors import TruncatedStream, UpstreamStreamError


def ev(obj: Any) -> SSEEvent:
    data = orjson.dumps(obj)
    return SSEEvent(None, data, b"data: " + data + b"\r\n\r\n")


def chunk(*parts: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "modelVersion": "gemini-x", "responseId": "r1", **extra}


def test_tracker_kinds() -> None:
    t = wire.tracker()
    assert t.feed(ev(chunk({"text": "Hel"}))) == CONTENT
    assert t.feed(ev({"usageMetadata": {"promptTokenCount": 3}})) == PREAMBLE
    assert not t.complete
    assert t.feed(ev(chunk({"text": "lo"}, finish="STOP"))) == TERMINAL
    assert t.complete
    assert t.feed(SSEEvent(None, b"{nope", b"")) == MALFORMED
    assert t.feed(ev([1])) == MALFORMED
    assert t.feed(ev({"error": {"code": 503, "status": "UNAVAILABLE"}})) == ERROR


def test_a_blocked_prompt_ends_the_stream() -> None:
    t = wire.tracker()
    assert t.feed(ev({"promptFeedback": {"blockReason": "SAFETY"}})) == TERMINAL


def body(*objs: Any) -> bytes:
    return b"".join(b"data: " + orjson.dumps(o) + b"\r\n\r\n" for o in objs)


def test_assemble_joins_text_and_keeps_calls() -> None:
    call = {"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "c2ln"}
    answer = wire.assemble(
        body(
            chunk({"text": "Hel"}),
            chunk({"text": "lo"}),
            chunk(call),
            chunk({"text": ""}, finish="STOP", usageMetadata={"promptTokenCount": 4}),
        )
    )
    (candidate,) = answer["candidates"]
    assert candidate["content"]["parts"] == [{"text": "Hello"}, call, {"text": ""}]
    assert candidate["finishReason"] == "STOP"
    assert answer["usageMetadata"] == {"promptTokenCount": 4}
    assert answer["responseId"] == "r1"


def test_assemble_raises_on_truncation_and_errors() -> None:
    with pytest.raises(TruncatedStream):
        wire.assemble(body(chunk({"text": "Hel"})))
    with pytest.raises(UpstreamStreamError) as info:
        wire.assemble(
            body(chunk({"text": "Hel"}), {"error": {"status": "UNAVAILABLE", "message": "m"}})
        )
    assert info.value.error_type == "UNAVAILABLE"


def test_parse_error_reads_status_quota_and_retry_hint() -> None:
    raw = {
        "error": {
            "code": 429,
            "message": "You exceeded your current quota, please check your plan and billing details.",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}
                    ],
                },
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "21s"},
            ],
        }
    }
    info = wire.parse_error(orjson.dumps(raw))
    assert info.type == "RESOURCE_EXHAUSTED"
    assert info.retry_after == 21.0
    assert wire.is_quota(info)
    minute = ErrorInfo("RESOURCE_EXHAUSTED", "GenerateRequestsPerMinutePerProjectPerModel")
    assert not wire.is_quota(minute)


def test_parse_error_unwraps_vertex_arrays_and_survives_junk() -> None:
    info = wire.parse_error(
        b'[{"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}}]'
    )
    assert (info.type, info.message) == ("UNAVAILABLE", "busy")
    assert wire.parse_error(b"<html>oops</html>").message == "<html>oops</html>"
    assert wire.parse_error(b'{"x": 1}') == ErrorInfo()


def test_context_length_is_recognised() -> None:
    message = (
        "The input token count (250000) exceeds the maximum number of tokens allowed (1048576)."
    )
    assert wire.is_context_length(ErrorInfo("INVALID_ARGUMENT", None, message))
    assert not wire.is_context_length(ErrorInfo("INVALID_ARGUMENT", None, "bad field"))


def test_error_shapes() -> None:
    assert orjson.loads(wire.error_body("m", "UNAVAILABLE")) == {
        "error": {"code": 503, "message": "m", "status": "UNAVAILABLE"}
    }
    frame = wire.stream_error("late", timeout=True)
    assert frame.startswith(b"data: ") and b"DEADLINE_EXCEEDED" in frame
