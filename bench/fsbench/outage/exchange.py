"""One caller's request as the outage benchmark sees it: its timeline (as the main load
generator keeps it), the gateway's trail headers, and enough of the answer to judge it the
way a caller's SDK would.

* non-streaming: a success is HTTP 200 with a body that is a chat completion;
* streaming: a success is HTTP 200, a chunk with a `finish_reason`, then `data: [DONE]`,
  then the end of the chunked body, and no in-band error event: a stream that stops early
  or ends with failsoft's error event is a failure even though its status was 200.

When the run has a fixed answer (`--fault cut`), the text each caller got is kept too
(`choices[0].delta.content` of every chunk, or the completion's `message.content`), so that
the analysis can compare it with the answer word for word. Only then is every event's JSON
parsed: the other runs keep the byte-string scan, whose cost per event is a few `in` tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import orjson

from fsbench.loadgen.client import Conn
from fsbench.loadgen.sample import Sample, now_ns
from fsbench.loadgen.sse import Sse

_CONTENT = b'"delta":{"content":"'
_FINISH = b'"finish_reason":"'
"""A non-null finish_reason (null is written `"finish_reason":null`)."""
_DONE = b"data: [DONE]"
_ERROR = b'data: {"error"'
_HEADER_PREFIX = b"x-failsoft-"
_DATA = b"data: {"
_NOTE = b": failsoft"
"""An SSE comment the gateway writes into a stream it resumes (`: failsoft: the stream
broke (...); fetching the rest`): SDKs ignore it, raw readers can count it."""


class Exchange(Sample):
    """A `Sample` plus what the outage report needs to know about one request."""

    __slots__ = (
        "abandoned",
        "body",
        "done",
        "error",
        "finish",
        "headers",
        "index",
        "notes",
        "stream",
        "t_head",
        "text",
    )

    def __init__(self, t_sched: int, index: int, stream: bool, collect: bool = False) -> None:
        super().__init__(t_sched)
        self.index = index
        self.stream = stream
        self.text: list[str] | None = [] if collect else None
        """The answer's text in the pieces it came in (only when the run collects it)."""
        self.notes: list[str] = []
        """The gateway's SSE comments in this stream (a resumed stream has one)."""
        self.headers: dict[str, str] = {}
        self.t_head = 0
        self.finish = False
        """A chunk with a finish_reason arrived."""
        self.done = False
        """`data: [DONE]` arrived after a finish_reason."""
        self.body = bytearray()
        self.abandoned = False
        self.error: str | None = None
        """Why the caller would count this request as failed (None: a success)."""

    # ------------------------------------------------------------------ what it says

    @property
    def model(self) -> str:
        return self.headers.get("x-failsoft-model", "")

    @property
    def trail(self) -> list[tuple[str, str]]:
        """(target, outcome) per trail entry: `sim/gpt-4o:529` -> ("sim/gpt-4o", "529")."""
        raw = self.headers.get("x-failsoft-trail", "")
        out = []
        for item in raw.split(","):
            target, _, outcome = item.strip().rpartition(":")
            if target:
                out.append((target, outcome))
        return out

    @property
    def upstream_attempts(self) -> int:
        """Real upstream attempts (`x-failsoft-attempts`; skips are not attempts)."""
        value = self.headers.get("x-failsoft-attempts", "")
        return int(value) if value.isdigit() else 0

    def abandon(self) -> None:
        """No answer in time: a failure, whatever arrives later."""
        if self.t_done == 0 and self.error is None:
            self.error = "no answer (drain timeout)"
            self.abandoned = True

    def judge(self, transport_error: str | None) -> None:
        """Set `error` as a caller would see the outcome."""
        if self.abandoned:
            return
        if transport_error is not None:
            self.error = transport_error
        elif self.status != 200:
            self.error = f"HTTP {self.status}"
        elif self.stream:
            if self.stream_error:
                self.error = "stream ended with an error event"
            elif not self.finish:
                self.error = "stream without finish_reason"
            elif not self.done:
                self.error = "stream without [DONE]"
        else:
            self.error, content = _completion(bytes(self.body))
            if self.text is not None and content is not None:
                self.text.append(content)
        if not self.stream:
            self.body = bytearray()  # judged; no need to keep 600 bytes per request

    @property
    def answer(self) -> str | None:
        """The text the caller got (None when the run does not collect it)."""
        return None if self.text is None else "".join(self.text)


def _completion(body: bytes) -> tuple[str | None, str | None]:
    """(why a caller would reject this 200 body, or None; the answer's text)."""
    if not body:
        return "HTTP 200 without a body", None
    try:
        data = orjson.loads(body)
        message = data["choices"][0]["message"]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        return "HTTP 200 with a body that is not a chat completion", None
    if not isinstance(message, dict) or not message.get("content"):
        return "HTTP 200 with an empty answer", None
    content = message["content"]
    return None, content if isinstance(content, str) else None


class TrailConn(Conn):
    """A client connection that keeps the gateway's `x-failsoft-*` headers and reads
    OpenAI streams event by event (content, finish_reason, [DONE], error events)."""

    def __init__(
        self,
        done: Callable[[Conn, Sample, str | None], None],
        lost: Callable[[Conn], None],
        sse: Sse | None,
        capture_attempts: bool,
    ) -> None:
        super().__init__(done, lost, sse, capture_attempts)
        self._pending = b""

    def send(self, request: bytes, sample: Sample) -> None:
        self._pending = b""
        super().send(request, sample)

    def on_header(self, name: bytes, value: bytes) -> None:
        sample = self.current
        if sample is not None:
            lower = name.lower()
            if lower.startswith(_HEADER_PREFIX):
                cast(Exchange, sample).headers[lower.decode("latin-1")] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self.current is not None:
            cast(Exchange, self.current).t_head = now_ns()

    def on_body(self, body: bytes) -> None:
        sample = cast("Exchange | None", self.current)
        if sample is None:
            return
        t = now_ns()
        if not sample.t_first:
            sample.t_first = t
        if sample.stream and sample.status == 200:
            self._pending = _scan(sample, self._pending + body, t)
        else:
            sample.body += body


def _scan(sample: Exchange, buf: bytes, t: int) -> bytes:
    """Record the complete events in `buf`; returns the incomplete tail."""
    start = 0
    while True:
        end = buf.find(b"\n\n", start)
        if end < 0:
            return buf[start:]
        event = buf[start:end]
        start = end + 2
        if sample.text is not None and _DATA in event:
            _collect(sample.text, event)
        if event.startswith(_NOTE):
            sample.notes.append(event.decode("utf-8", "replace")[:200])
        if _CONTENT in event:
            sample.content_events += 1
            if not sample.t_first_content:
                sample.t_first_content = t
        if _FINISH in event:
            sample.finish = True
        if event.startswith(_DONE):
            sample.done = sample.finish
            sample.terminal = True
        elif event.startswith(_ERROR) or event.startswith(b"event: error"):
            sample.stream_error = True


def _collect(text: list[str], event: bytes) -> None:
    """Append the `choices[0].delta.content` of the chunk(s) in one event, if any."""
    for line in event.split(b"\n"):
        if not line.startswith(_DATA):
            continue
        try:
            piece = orjson.loads(line[6:])["choices"][0]["delta"].get("content")
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
            continue
        if isinstance(piece, str) and piece:
            text.append(piece)
