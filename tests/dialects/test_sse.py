"""SSE framing: whole events only, whatever the chunk boundaries; lazy pulling."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from failsoft.dialects.sse import SSEDecoder, encode, event_datas
from failsoft.errors import AnswerTooLarge

STREAM = (
    b'event: message_start\ndata: {"a":1}\n\n'
    b": comment\n\n"
    b"data: line1\ndata: line2\n\n"
    b"event: x\r\ndata:no-space\r\n\r\n"
    b"data: [DONE]\n\n"
)
EXPECTED = [
    ("message_start", b'{"a":1}'),
    (None, b"line1\nline2"),
    ("x", b"no-space"),
    (None, b"[DONE]"),
]


def test_events_and_raw_bytes() -> None:
    events = SSEDecoder().feed(STREAM)
    assert [(e.event, e.data) for e in events] == EXPECTED
    # Raw bytes cover the stream exactly; a comment travels with the event after it.
    assert b"".join(e.raw for e in events) == STREAM
    assert events[1].raw.startswith(b": comment\n\n")


def test_partial_event_is_held_back() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b'data: {"a":1}\n\ndata: {"b"')
    assert [e.raw for e in events] == [b'data: {"a":1}\n\n']
    assert decoder.pending == b'data: {"b"'
    events = decoder.feed(b":2}\n\n")
    assert events[0].data == b'{"b":2}'
    assert decoder.pending == b""


def test_pulling_stops_early_and_resumes() -> None:
    decoder = SSEDecoder()
    decoder.push(STREAM)
    first = next(decoder.events())
    assert first.event == "message_start"
    assert decoder.pending == STREAM[len(first.raw) :]
    rest = list(decoder.events())
    assert [(e.event, e.data) for e in rest] == EXPECTED[1:]
    assert decoder.pending == b""


@given(st.lists(st.integers(min_value=1, max_value=len(STREAM) - 1), max_size=12))
def test_any_chunking_gives_the_same_events(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    pieces = [STREAM[a:b] for a, b in zip([0, *points], [*points, len(STREAM)], strict=True)]
    decoder = SSEDecoder()
    events = []
    for piece in pieces:
        events.extend(decoder.feed(piece))
    assert b"".join(e.raw for e in events) == STREAM
    assert [(e.event, e.data) for e in events] == EXPECTED


def test_event_datas_whole_body() -> None:
    assert event_datas(STREAM) == [d for _, d in EXPECTED]
    simple = b'data: {"x":1}\n\nevent: e\ndata: {"y":2}\n\n: c\n\ndata: {"z"'
    assert event_datas(simple) == [b'{"x":1}', b'{"y":2}']  # the cut last event is left out
    assert event_datas(b"data: x") == []


def test_encode() -> None:
    assert encode(b"{}") == b"data: {}\n\n"
    assert encode(b"{}", "error") == b"event: error\ndata: {}\n\n"


def test_an_endless_line_is_too_large_before_it_grows_past_the_limit() -> None:
    decoder = SSEDecoder(max_event_bytes=1000)
    decoder.push(b'data: {"a": 1}\n\n')
    assert [e.data for e in decoder.events()] == [b'{"a": 1}']
    decoder.push(b"data: " + b"x" * 900)
    with pytest.raises(AnswerTooLarge) as err:
        decoder.push(b"x" * 200)
    assert err.value.outcome == "too_large"
    assert decoder.pending == b""  # let go at once


def test_events_within_the_limit_pass_whatever_the_chunk_size() -> None:
    decoder = SSEDecoder(max_event_bytes=1000)
    events = b"".join(b"data: %d\n\n" % i for i in range(300))  # 2,4 kB in one chunk
    assert len(decoder.feed(events)) == 300
