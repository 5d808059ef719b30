"""Incremental server-sent-events framing.

The relay forwards upstream bytes untouched, but only whole events: a stream that breaks
mid-event must not hand the client half a JSON object followed by failsoft's error event.
So the decoder splits the byte stream at event boundaries, keeps the partial tail, and
returns each complete event's raw bytes next to its parsed fields.
"""

from __future__ import annotations

__all__ = ["SSEDecoder", "SSEEvent", "encode", "event_datas"]


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
        crlf = b"\r" in buf
        while True:
            end, sep = _boundary(buf, start) if crlf else (buf.find(b"\n\n", start), 2)
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
    """Index of the next blank line at or after `start` (any line ending), and its length."""
    lf = buf.find(b"\n\n", start)
    crlf = buf.find(b"\r\n\r\n", start)
    cr = buf.find(b"\r\r", start)
    best, size = lf, 2
    for pos, length in ((crlf, 4), (cr, 2)):
        if pos >= 0 and (best < 0 or pos < best):
            best, size = pos, length
    return best, size


def _parse_block(block: bytes, raw: bytes) -> SSEEvent | None:
    if block[:6] == b"data: " and b"\n" not in block:
        return SSEEvent(None, block[6:], raw)
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


def event_datas(body: bytes) -> list[bytes]:
    """The `data` of every complete event in a whole stream body, in order.

    For assembling an answer from a finished stream, where nothing is relayed and only the
    payloads matter: one split instead of an incremental decode per event. A trailing
    event without its blank line is incomplete and left out.
    """
    if b"\r" in body:
        body = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    blocks = body.split(b"\n\n")
    blocks.pop()  # after the last separator: empty, or an incomplete event
    out: list[bytes] = []
    for block in blocks:
        if block[:6] == b"data: " and b"\n" not in block:
            out.append(block[6:])  # the OpenAI form
            continue
        at = block.find(b"\ndata: ")
        if at > 0 and block[:6] == b"event:" and block.find(b"\n", at + 1) < 0:
            out.append(block[at + 7 :])  # the Anthropic form
            continue
        event = _parse_block(block, block)
        if event is not None:
            out.append(event.data)
    return out


def encode(data: bytes, event: str | None = None) -> bytes:
    """One SSE frame (data must not contain newlines; JSON from orjson never does)."""
    if event is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"
