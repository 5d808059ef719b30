"""SSE framing: whole events only, whatever the chunk boundaries."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from failsoft.dialects.sse import SSEDecoder, encode

STREAM = (
    b'event: message_start\ndata: {"a":1}\n\n'
    b": comment\n\n"
    b"data: line1\ndata: line2\n\n"
    b"event: x\r\ndata:no-space\r\n\r\n"
    b"data: [DONE]\n\n"
)


def test_events_and_raw_bytes() -> None:
    raw, events = SSEDecoder().feed(STREAM)
    assert raw == STREAM
    assert [(e.event, e.data) for e in events] == [
        ("message_start", b'{"a":1}'),
        (None, b"line1\nline2"),
        ("x", b"no-space"),
        (None, b"[DONE]"),
    ]
    assert (
        b"".join(e.raw for e in events) + b": comment\n\n"
        == STREAM.replace(b": comment\n\n", b"") + b": comment\n\n"
    )


def test_partial_event_is_held_back() -> None:
    decoder = SSEDecoder()
    raw, events = decoder.feed(b'data: {"a":1}\n\ndata: {"b"')
    assert raw == b'data: {"a":1}\n\n'
    assert len(events) == 1
    assert decoder.pending == b'data: {"b"'
    raw, events = decoder.feed(b":2}\n\n")
    assert raw == b'data: {"b":2}\n\n'
    assert events[0].data == b'{"b":2}'
    assert decoder.pending == b""


@given(st.lists(st.integers(min_value=1, max_value=len(STREAM) - 1), max_size=12))
def test_any_chunking_gives_the_same_events(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    pieces = [STREAM[a:b] for a, b in zip([0, *points], [*points, len(STREAM)], strict=True)]
    decoder = SSEDecoder()
    raw_out = b""
    events = []
    for piece in pieces:
        raw, evs = decoder.feed(piece)
        raw_out += raw
        events.extend(evs)
    assert raw_out == STREAM
    assert [(e.event, e.data) for e in events] == [
        (e.event, e.data) for e in SSEDecoder().feed(STREAM)[1]
    ]


def test_encode() -> None:
    assert encode(b"{}") == b"data: {}\n\n"
    assert encode(b"{}", "error") == b"event: error\ndata: {}\n\n"
