"""Reading server-sent events of either dialect without parsing their JSON: a content
event is recognised by a byte string only it contains, which is all the timing needs and
keeps the client's cost per event small."""

from __future__ import annotations

import re
from dataclasses import dataclass

from fsbench.loadgen.sample import Sample


@dataclass(frozen=True, slots=True)
class Sse:
    """How to read a stream of server-sent events of one dialect."""

    content: bytes
    """A byte string that only content events contain."""
    terminal: bytes
    """A byte string that only the last event of a complete stream contains."""
    error: bytes = b'"error"'
    stamped: bool = False
    """Content events carry `T<CLOCK_MONOTONIC ns>` written at send time."""


OPENAI_SSE = Sse(content=b'"delta":{"content":"', terminal=b"[DONE]")
ANTHROPIC_SSE = Sse(content=b'"text_delta"', terminal=b"message_stop")
_STAMP = re.compile(rb'"T(\d{6,20})"')


def scan_events(sse: Sse, sample: Sample, pending: bytes, body: bytes, t: int) -> bytes:
    """Record the complete events in `pending + body`, all received at `t`; returns the
    incomplete tail, which the next piece of the body continues."""
    buf = pending + body if pending else body
    start = 0
    while True:
        end = buf.find(b"\n\n", start)
        if end < 0:
            break
        event = buf[start:end]
        start = end + 2
        if sse.content in event:
            sample.content_events += 1
            if not sample.t_first_content:
                sample.t_first_content = t
            else:
                if sample.gaps is None:
                    sample.gaps = []
                sample.gaps.append(t - sample.t_last_content)
            sample.t_last_content = t
            if sse.stamped:
                match = _STAMP.search(event)
                if match is not None:
                    if sample.relay is None:
                        sample.relay = []
                    sample.relay.append(t - int(match.group(1)))
        elif sse.terminal in event:
            sample.terminal = True
        elif sse.error in event:
            sample.stream_error = True
    return buf[start:]
