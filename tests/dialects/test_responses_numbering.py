"""A Responses caller's stream is numbered from 0 up by one, failsoft's fallback error
event included (`dialects/responses.py`)."""

from __future__ import annotations

import orjson

from failsoft.dialects import responses


def _event(frame: bytes) -> dict[str, object]:
    name, data = frame.decode().strip().split("\n")
    event = orjson.loads(data.removeprefix("data: "))
    assert name == "event: " + event["type"]
    return event  # type: ignore[no-any-return]


def test_the_fallback_error_event_is_numbered() -> None:
    first = _event(responses.stream_error("broke"))
    assert first["sequence_number"] == 0
    assert first["code"] == "stream_interrupted" and first["message"] == "broke"
    later = _event(responses.stream_error("slow", timeout=True, sequence=12))
    assert later["sequence_number"] == 12 and later["code"] == "stream_timeout"


def test_the_next_number_comes_from_the_last_event_sent() -> None:
    sent = (
        b'event: response.created\ndata: {"type":"response.created","sequence_number":0}\n\n'
        b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
        b'"sequence_number":7,"delta":"a \\"sequence_number\\":99 b"}\n\n'
    )
    assert responses.next_sequence(sent) == 8
    assert responses.next_sequence(b": a comment\n\n", 5) == 5
    assert responses.next_sequence(b'data: {"sequence_number": 3}\n\n') == 4
