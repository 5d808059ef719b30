"""OpenAI Responses callers (`/v1/responses`): errors in their shape, pure.

Error bodies are OpenAI's (`{"error": {"message", "type", "param", "code"}}`), and so are
the status codes the SDK retries. No provider speaks this dialect yet, so everything
upstream-facing (error parsing, stream tracking, assembly) is the Chat Completions
module's, never called for this dialect. A stream's in-band error is the `error` event;
mid-stream, the translated stream's encoder writes it with the next `sequence_number`
(and `response.failed` after it), so `stream_error` here is only the fallback for a
failure before any encoder exists.
"""

from __future__ import annotations

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


def stream_error(message: str, timeout: bool = False) -> bytes:
    """The `error` event, which ends a Responses stream."""
    code = "stream_timeout" if timeout else "stream_interrupted"
    event = {"type": "error", "code": code, "message": message, "param": None}
    return encode(orjson.dumps(event), "error")


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
    "parse_error",
    "request_id_header",
    "stream_body",
    "stream_error",
    "tracker",
]
