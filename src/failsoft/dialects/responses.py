"""OpenAI Responses API (`/v1/responses`), pure: callers' errors, and upstreams' streams.

Error bodies are OpenAI's (`{"error": {"message", "type", "param", "code"}}`), and so are
the status codes the SDK retries. A stream is named events (`event:` equals `data.type`),
each with a `sequence_number`: `response.created` and `response.in_progress`, then per
output item its `added`, its deltas and `done`s, and last `response.completed` (or
`response.incomplete`, cut by `max_output_tokens`). A failure mid-stream is an `error`
event (`code`, `message` at the top level) and/or `response.failed`, whose
`response.error` says why. There is no end marker besides those: a stream that stops
without one is cut, whatever it delivered.

For callers, failsoft's own end of a broken stream is an `error` event with the next
`sequence_number` and `response.failed` after it: written by the translated stream's
encoder, or by `relay_failure` for a stream relayed as is from a Responses target, which
knows the upstream's numbers from its `Tracker`. `stream_error` is only the fallback where
neither exists (numbered all the same: see `next_sequence`).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from failsoft.dialects import responses_fast
from failsoft.dialects.base import (
    CONTENT,
    ERROR,
    MALFORMED,
    PREAMBLE,
    TERMINAL,
    ErrorInfo,
    loads_events,
    rewrite_model,
)
from failsoft.dialects.openai import error_body, is_context_length, is_credentials, is_quota
from failsoft.dialects.openai import parse_error as _parse_http_error
from failsoft.dialects.sse import SSEEvent, encode, event_datas
from failsoft.errors import TruncatedStream, UpstreamStreamError

name = "responses"
exhausted_status = 503
exhausted_type = "service_unavailable_error"
request_id_header = "x-request-id"

_PREAMBLE_TYPES = frozenset(
    {
        "response.created",
        "response.in_progress",
        "response.queued",
        "response.output_item.added",
        "response.content_part.added",
        "response.reasoning_summary_part.added",
    }
)
"""Events that announce what is coming without any of it: held back, failover invisible.
(An item's `added` carries a call's name at most, as an Anthropic `content_block_start`.)"""
_ENDS = frozenset({"response.completed", "response.incomplete"})
_FAILS = frozenset({"error", "response.failed"})
_CARRIES = re.compile(
    rb'"(?:delta|text|arguments|input|item|part|output|refusal|error|response|code|message)"'
)
"""A field that can carry content, an item, or the end of the answer."""


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


def parse_error(body: bytes) -> ErrorInfo:
    """An HTTP error body (OpenAI's shape), or an in-stream `error` / `response.failed`
    event's data."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _parse_http_error(body)
    kind, message = event_error(obj)
    if kind is None and message is None:
        return _parse_http_error(body)
    return ErrorInfo(type=kind, code=kind, message=message)


def event_error(obj: Any) -> tuple[str | None, str | None]:
    """`(code, message)` of an `error` or `response.failed` event (both None for others)."""
    if not isinstance(obj, dict):
        return None, None
    kind = obj.get("type")
    if kind == "error":
        err: Any = obj.get("error") if isinstance(obj.get("error"), dict) else obj
    elif kind == "response.failed":
        response = obj.get("response")
        err = response.get("error") if isinstance(response, dict) else None
    else:
        return None, None
    if not isinstance(err, dict):
        return None, None
    code, message = err.get("code") or err.get("type"), err.get("message")
    return (
        code if isinstance(code, str) else None,
        message if isinstance(message, str) else None,
    )


def stream_body(payload: dict[str, Any], body: bytes, model: str) -> bytes:
    """The caller's own bytes, model renamed (streaming or not, as the caller asked)."""
    return rewrite_model(payload, body, model)


def assembled_body(payload: dict[str, Any], model: str) -> bytes:
    """A non-streaming request turned into a streaming one (usage always comes with
    `response.completed`, so nothing else is needed)."""
    return orjson.dumps({**payload, "model": model, "stream": True})


class Tracker:
    """Content starts with the first delta or finished part; complete at
    `response.completed` / `response.incomplete`. `sequence` is the number the next event
    would carry."""

    __slots__ = ("complete", "last", "response", "sequence")

    def __init__(self) -> None:
        self.complete = False
        self.sequence = 0
        self.response: dict[str, Any] | None = None
        """The `response` of the stream's opening events (its id, model, settings)."""
        self.last: Any = None

    def feed(self, event: SSEEvent) -> int:
        try:
            obj = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            return MALFORMED
        self.last = obj
        if type(obj) is not dict:
            return MALFORMED
        number = obj.get("sequence_number")
        if type(number) is int:
            self.sequence = number + 1
        kind = obj.get("type") or event.event
        if kind in _ENDS:
            self.complete = True
            return TERMINAL
        if kind in _FAILS:
            return ERROR
        if kind in _PREAMBLE_TYPES or not isinstance(kind, str):
            if kind in ("response.created", "response.in_progress"):
                response = obj.get("response")
                self.response = response if isinstance(response, dict) else self.response
            return PREAMBLE
        return CONTENT


def tracker() -> Tracker:
    return Tracker()


def relay_failure(tracker: Tracker, message: str, timeout: bool = False) -> bytes:
    """failsoft's end for a relayed Responses stream that broke: the `error` event and
    `response.failed`, numbered on from the upstream's last event, as a translated stream
    ends (see `translate.bridge`)."""
    code = "stream_timeout" if timeout else "stream_interrupted"
    error: dict[str, Any] = {"type": "error", "code": code, "message": message, "param": None}
    error["sequence_number"] = tracker.sequence
    frames = [encode(orjson.dumps(error), "error")]
    if tracker.response is not None:
        response = {
            **tracker.response,
            "status": "failed",
            "error": {"code": "server_error", "message": message},
        }
        failed = {"type": "response.failed", "sequence_number": tracker.sequence + 1}
        failed["response"] = response
        frames.append(encode(orjson.dumps(failed), "response.failed"))
    return b"".join(frames)


def harmless(event: SSEEvent, tracker: Tracker) -> bool:
    """An event that does not parse is dropped when its bytes hold no field that could
    carry content (`{"type":"response.output_text.delta"` cut before its `delta`); an end
    event cut so is dropped too, and the stream then ends without its end: a break."""
    return tracker.complete or harmless_data(event.data)


def harmless_data(data: bytes) -> bool:
    return _CARRIES.search(data) is None


def missing_end(tracker: Tracker, expect_usage: bool) -> SSEEvent | None:
    return None  # only the final event says the answer is whole (and carries the usage)


def assemble(body: bytes, dropped: list[bytes] | None = None) -> dict[str, Any]:
    """The `response` object a whole stream adds up to, or the error that stops it.

    The final event carries the whole response; should its `output` be missing, the items
    are taken from their `output_item.done` events.

    An ordinary body's deltas, which add nothing here, are only checked by a typed decode
    (`responses_fast`); any other body is read the generic way, with the same result."""
    objs = responses_fast.decode(body)
    if objs is None:
        objs = loads_events(event_datas(body), harmless_data, dropped)
    return _assembled(objs)


def assemble_generic(body: bytes, dropped: list[bytes] | None = None) -> dict[str, Any]:
    """`assemble` for any body: every event parsed by orjson."""
    return _assembled(loads_events(event_datas(body), harmless_data, dropped))


def _assembled(objs: list[dict[str, Any]]) -> dict[str, Any]:
    items: dict[int, Any] = {}
    for obj in objs:
        kind = obj.get("type")
        if kind in _ENDS:
            response = obj.get("response")
            if not isinstance(response, dict):
                raise TruncatedStream(f"a {kind} event without its response")
            if not response.get("output") and items:
                response = {**response, "output": [items[i] for i in sorted(items)]}
            return response
        if kind in _FAILS:
            code, message = event_error(obj)
            raise UpstreamStreamError(code, message, b"")
        if kind == "response.output_item.done":
            index = obj.get("output_index")
            items[index if isinstance(index, int) else len(items)] = obj.get("item")
    raise TruncatedStream("the stream ended without response.completed")


def ends_stream(tail: bytes) -> bool:
    """The final event holds the whole response, too long to see in a tail: read to the
    end of the body (the API closes it after that event)."""
    return False


__all__ = [
    "assemble",
    "assemble_generic",
    "assembled_body",
    "ends_stream",
    "error_body",
    "event_error",
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
    "relay_failure",
    "request_id_header",
    "stream_body",
    "stream_error",
    "tracker",
]
