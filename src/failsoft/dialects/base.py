"""What every wire-format module provides, and the helpers they share.

A dialect module is pure (no I/O): it builds error bodies in its caller-facing shape,
reads upstream error bodies, rewrites request bodies for a target, and tracks a stream
event by event so the router knows when content has started and whether it ended properly.
"""

from __future__ import annotations

import contextlib
import email.utils
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec
import orjson

from failsoft.dialects.sse import SSEEvent
from failsoft.errors import InvalidRequest, MalformedEvent

# What one stream event means to the router.
PREAMBLE = 0
"""Before any content (message_start, role chunk, ping): held back, failover still invisible."""
CONTENT = 1
"""Content or the end of content: the commit point for streams."""
TERMINAL = 2
"""The stream's proper end (`message_stop`; `[DONE]` after every choice finished)."""
ERROR = 3
"""An in-band error event from the upstream."""
MALFORMED = 4
"""The event's data is not valid JSON of the expected shape."""
TRUNCATED = 5
"""An end marker arrived too early (`[DONE]` before any `finish_reason`)."""


_MODEL_VALUE = re.compile(rb'\s*:\s*("(?:[^"\\]|\\.)*")')


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """The interesting fields of a provider error body (any field may be missing)."""

    type: str | None = None
    code: str | None = None
    message: str | None = None
    retry_after: float | None = None
    """A retry hint in the body (Gemini's `google.rpc.RetryInfo`); headers take precedence."""


class StreamTracker(Protocol):
    """Follows one upstream stream; `last` is the JSON of the event just fed."""

    last: Any

    def feed(self, event: SSEEvent) -> int: ...


class Wire(Protocol):
    """The module-level API each dialect module exposes (see dialects.openai / .anthropic)."""

    name: str
    exhausted_status: int
    """503 on the OpenAI surface, 529 on the Anthropic one: what each SDK retries."""
    exhausted_type: str
    request_id_header: str

    def error_body(
        self,
        message: str,
        kind: str,
        *,
        code: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
    ) -> bytes: ...

    def stream_error(self, message: str, timeout: bool = False) -> bytes: ...

    def parse_error(self, body: bytes) -> ErrorInfo: ...

    def is_context_length(self, info: ErrorInfo) -> bool: ...

    def is_quota(self, info: ErrorInfo) -> bool: ...

    def is_credentials(self, info: ErrorInfo) -> bool:
        """Whether the error body says the key failsoft sent was refused (a 401 always
        says so; this catches providers that use another status for it)."""
        ...

    def stream_body(self, payload: dict[str, Any], body: bytes, model: str) -> bytes: ...

    def assembled_body(self, payload: dict[str, Any], model: str) -> bytes: ...

    def tracker(self) -> StreamTracker: ...

    def assemble(self, body: bytes, dropped: list[bytes] | None = None) -> dict[str, Any]: ...

    def ends_stream(self, tail: bytes) -> bool: ...

    def harmless(self, event: SSEEvent, tracker: Any) -> bool:
        """Whether an event that does not parse can be shown to carry no content (a ping,
        a chunk after the finish, bytes with no content field): dropped, the stream goes
        on. Anything else is a break."""
        ...

    def missing_end(self, tracker: Any, expect_usage: bool) -> SSEEvent | None:
        """The end marker a stream that ended cleanly left out, if everything else arrived
        (every finish, the usage when asked): supplied, so the answer counts as complete."""
        ...


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, else `retry-after` (seconds or HTTP date).

    The same order the official SDKs use, so failsoft and the SDKs agree on the wait.
    """
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            value = float(ms) / 1000.0
            if value >= 0:
                return value
        except ValueError:
            pass
    ra = headers.get("retry-after")
    if not ra:
        return None
    try:
        value = float(ra)
        return value if value >= 0 else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(ra)
    except (TypeError, ValueError, IndexError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def merge_delta(
    target: dict[str, Any], delta: Mapping[str, Any], skip: tuple[str, ...] = ()
) -> None:
    """Fold one streaming delta into an accumulating object, generically.

    Strings concatenate, lists extend, anything else replaces: the rule every streaming
    format follows for fields failsoft does not know, so unknown fields survive assembly.
    """
    for key, value in delta.items():
        if key in skip or value is None:
            continue
        old = target.get(key)
        if isinstance(value, str) and isinstance(old, str):
            target[key] = old + value
        elif isinstance(value, list) and isinstance(old, list):
            old.extend(value)
        else:
            target[key] = value


def rewrite_model(payload: dict[str, Any], body: bytes, model: str) -> bytes:
    """The caller's body with only `model` changed, byte for byte when it is safe.

    Splices the new name into the original bytes when `"model"` occurs exactly once (the
    usual case), so unknown fields, number formatting and key order pass through intact;
    otherwise re-encodes the parsed object, which still keeps every field.
    """
    if body.count(b'"model"') == 1:
        at = body.index(b'"model"') + 7
        name = payload.get("model")
        if type(name) is str:
            # The usual spelling, `"model":"…"` or `"model": "…"` with the name as orjson
            # writes it: that JSON string is the value the pattern below would find, and
            # it holds `name`. Said with two byte comparisons instead of a regex match
            # and a parse (~2,500 instructions per attempt).
            start = at + 1 if body.startswith(b':"', at) else at + 2
            try:
                token = orjson.dumps(name)
            except orjson.JSONEncodeError:  # (a lone surrogate: in no JSON text)
                token = b""
            spaced = start == at + 1 or body.startswith(b": ", at)
            if token and spaced and body.startswith(token, start):
                return body[:start] + orjson.dumps(model) + body[start + len(token) :]
        match = _MODEL_VALUE.match(body, at)
        if match is not None:
            try:
                same = orjson.loads(match.group(1)) == payload.get("model")
            except orjson.JSONDecodeError:
                same = False
            if same:
                return body[: match.start(1)] + orjson.dumps(model) + body[match.end(1) :]
    return orjson.dumps({**payload, "model": model})


def load_object(body: bytes) -> dict[str, Any]:
    """Any inbound API's body: a JSON object, or `InvalidRequest` saying why not."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise InvalidRequest("the request body must be a JSON object")
    return payload


def load_body(body: bytes) -> tuple[dict[str, Any], str]:
    """`(payload, model)` of a body that names its model (every inbound API but Gemini's,
    which puts it in the URL), or `InvalidRequest` saying why not."""
    payload = load_object(body)
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("'model' is required and must be a non-empty string", param="model")
    return payload, model


def stream_flag(payload: dict[str, Any]) -> bool:
    """The body's `stream` (absent: false), or `InvalidRequest`."""
    stream = payload.get("stream")
    if stream is None:
        return False
    if not isinstance(stream, bool):
        raise InvalidRequest("'stream' must be true or false", param="stream")
    return stream


def parse_chat_body(body: bytes) -> tuple[dict[str, Any], str, bool]:
    """`(payload, model, stream)` of a chat request body, or `InvalidRequest` saying why not.

    Only what routing needs is checked; the provider validates the rest of the request.
    """
    payload, model = load_body(body)
    if not isinstance(payload.get("messages"), list):
        raise InvalidRequest("'messages' is required and must be an array", param="messages")
    return payload, model, stream_flag(payload)


def loads_events(
    datas: list[bytes],
    harmless: Callable[[bytes], bool] | None = None,
    dropped: list[bytes] | None = None,
) -> list[dict[str, Any]]:
    """Parse many events' JSON in one call, or raise `MalformedEvent` naming the bad one.

    One `orjson.loads` over a joined array costs a fraction of one call per event, which
    matters for answers of hundreds of tokens. An event that does not parse but that
    `harmless` shows to carry no content is left out (and added to `dropped`).
    """
    if datas:
        objs = None
        if _one_value_each(datas):
            with contextlib.suppress(orjson.JSONDecodeError):
                objs = orjson.loads(b"[" + b",".join(datas) + b"]")
        if (
            isinstance(objs, list)
            and len(objs) == len(datas)
            and all(type(o) is dict for o in objs)
        ):
            return objs
    else:
        return []
    out: list[dict[str, Any]] = []
    for data in datas:  # find the culprit
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            obj = None
        if type(obj) is not dict:
            if harmless is not None and harmless(data):
                if dropped is not None:
                    dropped.append(data)
                continue
            raise MalformedEvent(f"an event's data is not a JSON object: {data[:80]!r}")
        out.append(obj)
    return out


_VALUES = msgspec.json.Decoder(msgspec.Raw)


def _one_value_each(datas: list[bytes]) -> bool:
    """Whether each data is one JSON value's text, so that one array of them all parses as
    each alone would: joined into an array, `{"a":[{}` and `{}]}` make one valid value. So
    the datas are joined by newlines, each boundary must be `}` + `\n` + `{` (never inside
    a value), and a sequence decode must find exactly one value per data."""
    joined = b"\n".join(datas)
    gaps = len(datas) - 1
    if joined[:1] != b"{" or joined[-1:] != b"}" or joined.count(b"}\n{") != gaps:
        return False
    if joined.count(b"\n") != gaps:
        return False  # a multi-line data: parsed one by one
    try:
        return len(_VALUES.decode_lines(joined)) == len(datas)
    except (msgspec.DecodeError, RecursionError):
        return False


UNPARSED: Any = object()
"""A tracker's `last` before anyone asked for it: the event's bytes wait in `_data`."""


class LazyLast:
    """A tracker's `last` (the JSON of the event just fed), parsed from `_data` only when
    something reads it: most relayed events are classified by a typed decode and never need
    it (metering, translation, resume and error reports do)."""

    __slots__ = ("_data", "_last")

    def __init__(self) -> None:
        self._last: Any = None
        self._data = b""

    @property
    def last(self) -> Any:
        if self._last is UNPARSED:
            self._last = orjson.loads(self._data)
        return self._last

    @last.setter
    def last(self, value: Any) -> None:
        self._last = value


def known_last(tracker: StreamTracker) -> Any:
    """The tracker's `last` if it is already parsed, else `UNPARSED` (a lazy tracker's
    event still in `_data`): what can be kept for later without parsing it now."""
    if isinstance(tracker, LazyLast):
        return tracker._last
    return tracker.last
