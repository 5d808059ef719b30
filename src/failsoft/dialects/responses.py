"""OpenAI Responses callers (`/v1/responses`): errors in their shape, pure.

Error bodies are OpenAI's (`{"error": {"message", "type", "param", "code"}}`), and so are
the status codes the SDK retries. No provider speaks this dialect yet, so everything
upstream-facing (error parsing, stream tracking, assembly) is the Chat Completions
module's, never called for this dialect. A stream's in-band error is the `error` event;
mid-stream, the translated stream's encoder writes it with the next `sequence_number`
(and `response.failed` after it), so `stream_error` here is only the fallback for a
failure before any encoder exists (numbered all the same: see `next_sequence`).
"""

from __future__ import annotations

import re

import orjson

from failsoft.dialects.openai import (
    assemble,
    assembled_body,
    ends_stream,
    error_body,
    harmless,
    is_context_length,
    is_credentials,
    is_quota,
    missing_end,
    parse_error,
    stream_body,
    tracker,
)
from failsoft.dialects.sse import encode

name = "responses"
exhausted_status = 503
exhausted_type = "service_unavailable_error"
request_id_header = "x-request-id"


def stream_error(message: str, timeout: bool = False, sequence: int = 0) -> bytes:
    """The `error` event, which ends a Responses stream; `sequence` is its
    `sequence_number` (the caller's stream is numbered from 0 up by one, always)."""
    code = "stream_timeout" if timeout else "stream_interrupted"
    event = {
        "type": "error",
        "sequence_number": sequence,
        "code": code,
        "message": message,
        "param": None,
    }
    return encode(orjson.dumps(event), "error")


_SEQUENCE = re.compile(rb'"sequence_number":\s*(\d+)')


def next_sequence(sent: bytes, current: int = 0) -> int:
    """The `sequence_number` after the last event in `sent` (bytes of the caller's stream),
    or `current` when `sent` has none. The key cannot occur unescaped inside a string."""
    at = sent.rfind(b'"sequence_number"')
    if at < 0:
        return current
    found = _SEQUENCE.match(sent, at)
    return int(found.group(1)) + 1 if found else current


__all__ = [
    "assemble",
    "assembled_body",
    "ends_stream",
    "error_body",
    "exhausted_status",
    "exhausted_type",
    "harmless",
    "is_context_length",
    "is_credentials",
    "is_quota",
    "missing_end",
    "name",
    "next_sequence",
    "parse_error",
    "request_id_header",
    "stream_body",
    "stream_error",
    "tracker",
]
