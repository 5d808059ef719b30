"""Server-sent-events framing: incremental for relaying, whole-body for assembling.

The relay forwards upstream bytes untouched, but only whole events: a stream that breaks
mid-event must not hand the client half a JSON object followed by failsoft's error event.
So the decoder splits the byte stream at event boundaries, keeps the partial tail, and
gives each complete event's raw bytes next to its parsed fields. It is lazy: a caller
that stops at the first content event leaves the rest of the buffer unparsed.
"""

from __future__ import annotations

from collections.abc import Iterator

from failsoft.errors import AnswerTooLarge

__all__ = ["SSEDecoder", "SSEEvent", "encode", "event_datas"]


class SSEEvent:
    """One dispatched event: its `event:` name (or None), joined `data:` and raw bytes.

    `raw` runs from the end of the previous event, so comment blocks (`: keep-alive`)
    before an event travel with it when events are forwarded one by one.
    """

    __slots__ = ("data", "event", "raw")

    def __init__(self, event: str | None, data: bytes, raw: bytes) -> None:
        self.event = event
        self.data = data
        self.raw = raw

    def __repr__(self) -> str:
        return f"SSEEvent(event={self.event!r}, data={self.data[:60]!r})"


class SSEDecoder:
    """Push bytes as they arrive; pull complete events one at a time."""

    __slots__ = ("_buf", "_pos", "max_event_bytes")

    def __init__(self, max_event_bytes: int = 16 * 1024 * 1024) -> None:
        self._buf = b""
        self._pos = 0
        self.max_event_bytes = max_event_bytes

    def push(self, chunk: bytes) -> None:
        """Add bytes; `AnswerTooLarge` when what is pending grows past `max_event_bytes`
        (an endless line, or comments without end), so that it cannot grow memory."""
        if self._pos:
            self._buf = self._buf[self._pos :] + chunk
            self._pos = 0
        else:
            self._buf = self._buf + chunk if self._buf else chunk
        if len(self._buf) > self.max_event_bytes and _no_event(self._buf, self.max_event_bytes):
            self._buf = b""
            raise AnswerTooLarge(self.max_event_bytes, "an SSE event")

    @property
    def pending(self) -> bytes:
        """Bytes received but not yet returned as (part of) an event."""
        return self._buf[self._pos :]

    def events(self) -> Iterator[SSEEvent]:
        """Complete events in the buffer, in order; stopping early keeps the rest."""
        buf = self._buf
        # `find`, not `in`, here and below: `bytes in bytes` first tries the needle as an
        # int, raising and clearing a TypeError (~2,000 instructions) every time.
        crlf = buf.find(b"\r") >= 0
        start = self._pos
        scan = start
        while True:
            end, sep = _boundary(buf, scan) if crlf else (buf.find(b"\n\n", scan), 2)
            if end < 0:
                return
            stop = end + sep
            event = _parse_block(buf[scan:end], buf, start, stop)
            scan = stop
            if event is not None:
                self._pos = start = stop
                yield event

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Push and pull every complete event (the eager form)."""
        self.push(chunk)
        return list(self.events())


def _no_event(buf: bytes, limit: int) -> bool:
    """No event ends within the first `limit` bytes pending: nothing will come of them
    but more of the same (one event that large is not an answer)."""
    return buf.find(b"\n\n", 0, limit) < 0 and buf.find(b"\r\n\r\n", 0, limit) < 0


def _boundary(buf: bytes, start: int) -> tuple[int, int]:
    """Index of the next blank line at or after `start` (any line ending), and its length."""
    lf = buf.find(b"\n\n", start)
    crlf = buf.find(b"\r\n\r\n", start)
    cr = buf.find(b"\r\r", start)
    best, size = lf, 2
    for pos, length in ((crlf, 4), (cr, 2)):
        if pos >= 0 and (best < 0 or pos < best):
            best, size = pos, length
    return best, size


def _parse_block(block: bytes, buf: bytes, start: int, stop: int) -> SSEEvent | None:
    if block[:6] == b"data: " and block.find(b"\n") < 0 and block.find(b"\r") < 0:
        return SSEEvent(None, block[6:], buf[start:stop])
    name: str | None = None
    data: list[bytes] = []
    for line in block.splitlines():
        if not line or line[0] == 58:  # b":" comment
            continue
        field, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if field == b"data":
            data.append(value)
        elif field == b"event":
            name = value.decode("utf-8", "replace")
    if not data:
        return None
    return SSEEvent(name, data[0] if len(data) == 1 else b"\n".join(data), buf[start:stop])


def event_datas(body: bytes) -> list[bytes]:
    """The `data` of every complete event in a whole stream body, in order.

    For assembling an answer from a finished stream, where nothing is relayed and only the
    payloads matter: one split, with fast paths for the two usual event shapes, instead
    of an incremental decode per event. A trailing event without its blank line is
    incomplete and left out.
    """
    if body.find(b"\r") >= 0:
        body = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    blocks = body.split(b"\n\n")
    blocks.pop()  # after the last separator: empty, or an incomplete event
    out: list[bytes] = []
    for block in blocks:
        if block[:6] == b"data: " and block.find(b"\n") < 0:
            out.append(block[6:])  # the OpenAI shape
            continue
        at = block.find(b"\ndata: ")
        if at > 0 and block[:6] == b"event:" and block.find(b"\n", at + 1) < 0:
            out.append(block[at + 7 :])  # the Anthropic shape
            continue
        event = _parse_block(block, block, 0, len(block))
        if event is not None:
            out.append(event.data)
    return out


def encode(data: bytes, event: str | None = None) -> bytes:
    """One SSE frame (data must not contain newlines; JSON from orjson never does)."""
    if event is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"
