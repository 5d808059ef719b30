"""Cutting a stream body of one-line JSON-object events into text msgspec reads at once.

`Decoder.decode_lines` reads whitespace-separated JSON values, and a value may span
lines, so a body whose events are not each one JSON object could be read as the right
number of values all the same (`{"a":` + `1} {}`), where the generic path
(`base.loads_events`) reads such a body its own way. So the fast paths only take bodies
where that cannot happen: every event boundary is `}` + separator + `{`, and becomes
`}\\t{`. A raw tab cannot be inside a JSON string, and inside one JSON value a `}` is
never followed by `{`, so no value crosses a boundary; each event starts with `{`, so it
holds at least one value; and a count check then proves each holds exactly one.

Byte passes over a whole body cost more than one would think (a 2,000-token Gemini body
is 570 KB, and CPython counts bytes one at a time), so this takes one `split` and one
`join`, and checks for stray line breaks with `in` (memchr).
"""

from __future__ import annotations

__all__ = ["Events", "block_data", "sse_events"]

TAB = b"}\t{"


class Events:
    """A body's events: `lines` (all of them, `}\\t{` between two), `count`, and each
    one's bytes on demand (`data`)."""

    __slots__ = ("count", "lines", "pieces")

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces
        self.count = len(pieces)
        self.lines = TAB.join(pieces)

    def data(self, number: int) -> bytes:
        """Event `number`'s data (the split took its braces at the boundaries)."""
        piece = self.pieces[number]
        if number:
            piece = b"{" + piece
        if number < self.count - 1:
            piece += b"}"
        return piece

    def head(self) -> memoryview:
        """`lines` without the last event (no copy)."""
        lines = self.lines
        if self.count == 1:
            return memoryview(lines)[:0]
        return memoryview(lines)[: len(lines) - len(self.pieces[-1]) - 2]


def sse_events(body: bytes) -> Events | None:
    """The datas of a body of `data: {…}` events, LF or CRLF framed (as
    `sse.event_datas` reads them), or None for any other body."""
    end = b"\r\n\r\n" if body[-5:] == b"}\r\n\r\n" else b"\n\n"
    if body[:7] != b"data: {" or body[-len(end) - 1 :] != b"}" + end:
        return None
    events = Events(body[6 : -len(end)].split(b"}" + end + b"data: {"))
    # (`find`, not `in`: see translate/native.py)
    if events.lines.find(b"\n") >= 0 or events.lines.find(b"\r") >= 0:
        return None  # a separator without its braces, a blank line, a multi-line event
    return events


def block_data(block: bytes) -> bytes | None:
    """What follows `data: ` in one event block (`data: …`, or `event: …` then `data: …`),
    or None for a block of any other shape (the fast paths then leave the body)."""
    if block[:6] == b"data: ":
        return block[6:]
    at = block.find(b"\ndata: ")
    if at <= 0 or block[:6] != b"event:":
        return None
    return block[at + 7 :]
