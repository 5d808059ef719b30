"""Incremental server-sent-events framing.

The relay forwards upstream bytes untouched, but only whole events: a stream that breaks
mid-event must not hand the client half a JSON object followed by failsoft's error event.
So the decoder splits the byte stream at event boundaries, keeps the partial tail, and
returns each complete event's raw bytes next to its parsed fields.
"""

from __future__ import annotations

__all__ = ["SSEDecoder", "SSEEvent", "encode"]


class SSEEvent:
    """One dispatched event: its `event:` name (or None), joined `data:` and raw bytes."""

    __slots__ = ("data", "event", "raw")

    def __init__(self, event: str | None, data: bytes, raw: bytes) -> None:
        self.event = event
        self.data = data
        self.raw = raw

    def __repr__(self) -> str:
        return f"SSEEvent(event={self.event!r}, data={self.data[:60]!r})"


class SSEDecoder:
    """Feed bytes as they arrive; get back the complete prefix and its events.

    Comment-only blocks (`: keep-alive`) produce no event but stay in the raw bytes.
    """

    __slots__ = ("_buf", "max_event_bytes")

    def __init__(self, max_event_bytes: int = 16 * 1024 * 1024) -> None:
        self._buf = b""
        self.max_event_bytes = max_event_bytes

    @property
    def pending(self) -> bytes:
        """Bytes of an event that has started but not ended."""
        return self._buf

    def feed(self, chunk: bytes) -> tuple[bytes, list[SSEEvent]]:
        buf = self._buf + chunk if self._buf else chunk
        events: list[SSEEvent] = []
        start = 0
        while True:
            end, sep = _boundary(buf, start)
            if end < 0:
                break
            stop = end + sep
            event = _parse_block(buf[start:end], buf[start:stop])
            if event is not None:
                events.append(event)
            start = stop
        self._buf = buf[start:]
        if len(self._buf) > self.max_event_bytes:
            raise ValueError(f"an SSE event exceeded {self.max_event_bytes} bytes")
        return buf[:start], events


def _boundary(buf: bytes, start: int) -> tuple[int, int]:
    """Index of the next blank line at or after `start`, and its separator length."""
    lf = buf.find(b"\n\n", start)
    if b"\r" not in buf:
        return lf, 2
    crlf = buf.find(b"\r\n\r\n", start)
    cr = buf.find(b"\r\r", start)
    best, size = lf, 2
    for pos, length in ((crlf, 4), (cr, 2)):
        if pos >= 0 and (best < 0 or pos < best):
            best, size = pos, length
    return best, size


def _parse_block(block: bytes, raw: bytes) -> SSEEvent | None:
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
    return SSEEvent(name, data[0] if len(data) == 1 else b"\n".join(data), raw)


def encode(data: bytes, event: str | None = None) -> bytes:
    """One SSE frame (data must not contain newlines; JSON from orjson never does)."""
    if event is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"
