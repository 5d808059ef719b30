"""Anthropic Messages wire format (`/v1/messages`), pure.

Error shape: `{"type": "error", "error": {"type", "message"}, "request_id"}`. Streams are
named events (`event:` equals `data.type`): message_start, content_block_start/delta/stop,
message_delta, message_stop, ping, error. An in-band `event: error` makes the anthropic SDK
raise `APIStatusError`; a stream that just stops raises nothing, which is why failsoft
must notice a missing `message_stop` itself.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from failsoft.dialects import anthropic_fast
from failsoft.dialects.base import (
    CONTENT,
    ERROR,
    MALFORMED,
    PREAMBLE,
    TERMINAL,
    UNPARSED,
    ErrorInfo,
    LazyLast,
    loads_events,
    merge_delta,
    rewrite_model,
)
from failsoft.dialects.sse import SSEEvent, encode, event_datas
from failsoft.dialects.template import Run
from failsoft.errors import MalformedEvent, TruncatedStream, UpstreamStreamError

name = "anthropic"
exhausted_status = 529
exhausted_type = "overloaded_error"
request_id_header = "request-id"

_PREAMBLE_TYPES = frozenset({"message_start", "ping", "content_block_start"})
_KNOWN = frozenset(
    {
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "error",
    }
)
"""Events that matter to the answer even when they carry no text (a block's start or end,
the stop reason): never dropped, whatever their bytes hold."""
_CARRIES = re.compile(
    rb'"(?:text|partial_json|thinking|signature|delta|content_block|stop_reason|error)"'
    rb'|"type"\s*:\s*"(?:content_block|message_delta|message_stop|error)'
)
_PING = re.compile(rb'^\s*\{\s*"type"\s*:\s*"ping"')
_STOP_DATA = b'{"type":"message_stop"}'
_STOP = SSEEvent("message_stop", _STOP_DATA, b"event: message_stop\ndata: " + _STOP_DATA + b"\n\n")
_CONTEXT_WORDS = (
    "prompt is too long",
    "context window",
    "context limit",
    "context length",
    "maximum context",
)


def error_body(
    message: str,
    kind: str,
    *,
    code: str | None = None,
    param: str | None = None,
    request_id: str | None = None,
) -> bytes:
    body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
    if request_id:
        body["request_id"] = request_id
    return orjson.dumps(body)


def stream_error(message: str, timeout: bool = False) -> bytes:
    """failsoft's in-band end for a broken stream; the anthropic SDK raises `APIStatusError`."""
    return encode(error_body(message, "timeout_error" if timeout else "api_error"), "error")


def parse_error(body: bytes) -> ErrorInfo:
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ErrorInfo(message=body[:200].decode("utf-8", "replace") or None)
    err = obj.get("error") if isinstance(obj, dict) else None
    if not isinstance(err, dict):
        return ErrorInfo()
    details = err.get("details")
    code = details.get("error_code") if isinstance(details, dict) else None
    return ErrorInfo(
        type=_str(err.get("type")),
        code=_str(code),
        message=_str(err.get("message")),
    )


def is_context_length(info: ErrorInfo) -> bool:
    if info.type not in (None, "invalid_request_error"):
        return False
    text = (info.message or "").lower()
    return any(word in text for word in _CONTEXT_WORDS)


def is_quota(info: ErrorInfo) -> bool:
    """A 429 that no wait will fix: a spend cap (`details.error_code`) or a billing error."""
    if info.type == "billing_error":
        return True
    return bool(info.code) and "spend_limit" in (info.code or "")


def is_credentials(info: ErrorInfo) -> bool:
    return info.type == "authentication_error"


def stream_body(payload: dict[str, Any], body: bytes, model: str) -> bytes:
    return rewrite_model(payload, body, model)


def assembled_body(payload: dict[str, Any], model: str) -> bytes:
    return orjson.dumps({**payload, "model": model, "stream": True})


class Tracker(LazyLast):
    """Commits at the first event after the preamble; complete at `message_stop`.

    A text delta (the bulk of a stream) is checked by a typed decode, strict enough that
    it parses exactly when orjson does, and `last` is parsed only when someone reads it;
    every other event is parsed by orjson as before."""

    __slots__ = ("complete", "stopped")

    def __init__(self) -> None:
        self.complete = False
        self.stopped = False
        """A message_delta carried the stop reason: only message_stop can follow."""
        super().__init__()

    def feed(self, event: SSEEvent) -> int:
        if event.event == "content_block_delta":
            try:
                anthropic_fast.DELTA.decode(event.data)
            except anthropic_fast.ERRORS:
                pass
            else:
                self._data = event.data
                self._last = UNPARSED
                return CONTENT
        try:
            obj = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            return MALFORMED
        self._last = obj
        if not isinstance(obj, dict):
            return MALFORMED
        kind = obj.get("type") or event.event
        if kind == "message_stop":
            self.complete = True
            return TERMINAL
        if kind == "error":
            return ERROR
        if kind in _PREAMBLE_TYPES or not isinstance(kind, str):
            return PREAMBLE
        if kind == "message_delta" and (obj.get("delta") or {}).get("stop_reason"):
            self.stopped = True
        return CONTENT


class Assembler:
    """Rebuilds a `message` from its events: blocks by index, deltas folded in, usage merged.

    Text deltas take a fast path (collected per block, joined once at the end).
    """

    __slots__ = ("_blocks", "_json", "_message", "_text")

    @property
    def stopped(self) -> bool:
        """A message_delta gave the stop reason."""
        return bool(self._message.get("stop_reason"))

    def __init__(self) -> None:
        self._message: dict[str, Any] = {}
        self._blocks: dict[int, dict[str, Any]] = {}
        self._json: dict[int, list[str]] = {}
        self._text: dict[int, list[str]] = {}

    def add(self, obj: dict[str, Any]) -> None:
        kind = obj.get("type")
        if kind == "content_block_delta":
            index = obj.get("index", 0)
            delta = obj.get("delta") or {}
            if delta.get("type") == "text_delta" and index in self._text:
                self._text[index].append(delta.get("text") or "")
            else:
                self._delta(index, delta)
        elif kind == "message_start":
            self._message = dict(obj.get("message") or {})
        elif kind == "content_block_start":
            index = obj.get("index", len(self._blocks))
            block = self._blocks[index] = dict(obj.get("content_block") or {})
            if block.get("type") == "text":
                self._text[index] = [block.get("text") or ""]
        elif kind == "content_block_stop":
            self._finish_block(obj.get("index", 0))
        elif kind == "message_delta":
            delta = obj.get("delta") or {}
            for key, value in delta.items():
                self._message[key] = value
            usage = obj.get("usage")
            if isinstance(usage, dict):
                merged = dict(self._message.get("usage") or {})
                merged.update({k: v for k, v in usage.items() if v is not None})
                self._message["usage"] = merged

    def _delta(self, index: int, delta: dict[str, Any]) -> None:
        block = self._blocks.setdefault(index, {"type": "text", "text": ""})
        kind = delta.get("type")
        if kind == "input_json_delta":
            self._json.setdefault(index, []).append(delta.get("partial_json") or "")
        elif kind == "citations_delta":
            block.setdefault("citations", []).append(delta.get("citation"))
        elif kind == "signature_delta":
            block["signature"] = delta.get("signature", "")
        else:
            # thinking_delta{thinking} and future kinds: fold generically.
            merge_delta(block, delta, skip=("type",))

    def _finish_block(self, index: int) -> None:
        text = self._text.pop(index, None)
        if text is not None:
            self._blocks[index]["text"] = "".join(text)
        parts = self._json.pop(index, None)
        if parts is None:
            return
        joined = "".join(parts)
        # A tool_use block's input arrives as JSON fragments; `{}` when none came.
        try:
            self._blocks[index]["input"] = orjson.loads(joined) if joined else {}
        except orjson.JSONDecodeError:
            message = f"a tool_use block's input is not valid JSON: {joined[:80]!r}"
            raise MalformedEvent(message) from None

    def result(self) -> dict[str, Any]:
        for index in [*self._text, *self._json]:
            self._finish_block(index)
        message = dict(self._message)
        message["content"] = [self._blocks[i] for i in sorted(self._blocks)]
        return message


def assemble(body: bytes, dropped: list[bytes] | None = None) -> dict[str, Any]:
    """The `message` a whole stream body adds up to, or the error that stops it (a body
    that ended cleanly after the stop reason but without `message_stop` is complete).

    An ordinary body is read by `anthropic_fast` (text deltas typed, decoded in runs); any
    other by the generic path, with the same result."""
    events = anthropic_fast.decode(body)
    if events is None:
        return assemble_generic(body, dropped)
    assembler = Assembler()
    texts = assembler._text
    for obj, deltas in events:
        if _add(assembler, obj):
            return assembler.result()
        for event in deltas:
            if isinstance(event, Run):
                _add_run(assembler, event)
                continue
            index, text = event.index, event.delta.text
            if index in texts:
                texts[index].append(text)
            else:
                assembler._delta(index, {"type": "text_delta", "text": text})
    return _end(assembler)


def _add_run(assembler: Assembler, run: Run) -> None:
    """What adding each text delta of a run does (`assemble`'s loop over typed deltas)."""
    index = run.chunk.index
    parts = assembler._text.get(index)
    if parts is not None:
        parts += run.strings
        return
    for text in run.strings:
        assembler._delta(index, {"type": "text_delta", "text": text})


def assemble_generic(body: bytes, dropped: list[bytes] | None = None) -> dict[str, Any]:
    """`assemble` for any body: every event parsed by orjson and added as a dict."""
    assembler = Assembler()
    for obj in loads_events(event_datas(body), harmless_data, dropped):
        if _add(assembler, obj):
            return assembler.result()
    return _end(assembler)


def _add(assembler: Assembler, obj: dict[str, Any]) -> bool:
    """Add one event; True at `message_stop` (the answer is whole)."""
    kind = obj.get("type")
    if kind == "message_stop":
        return True
    if kind == "error":
        err = obj.get("error")
        info = err if isinstance(err, dict) else {}
        raise UpstreamStreamError(_str(info.get("type")), _str(info.get("message")), b"")
    assembler.add(obj)
    return False


def _end(assembler: Assembler) -> dict[str, Any]:
    if assembler.stopped:
        return assembler.result()
    raise TruncatedStream("the stream ended without message_stop")


def ends_stream(tail: bytes) -> bool:
    """Whether bytes that end a stream body hold its terminal event (a cheap early check)."""
    # (`find`, not `in`: see translate/native.py)
    return tail.endswith(b"\n\n") and tail.find(b"message_stop", -80) >= 0


def harmless(event: SSEEvent, tracker: Tracker) -> bool:
    name = event.event
    if name == "ping" or tracker.stopped:
        return True
    return name not in _KNOWN and harmless_data(event.data)


def harmless_data(data: bytes) -> bool:
    """From the data alone (an assembled body keeps no event names): a ping, or no field
    that could carry content."""
    return _PING.match(data) is not None or _CARRIES.search(data) is None


def missing_end(tracker: Tracker, expect_usage: bool) -> SSEEvent | None:
    return _STOP if tracker.stopped and not tracker.complete else None


def tracker() -> Tracker:
    return Tracker()


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
