"""Gemini generateContent wire format (v1beta), pure; spoken upstream and to callers.

Errors are `google.rpc.Status` objects, `{"error": {"code", "message", "status",
"details"}}`, sometimes wrapped in a one-element array. Retry hints come in the body (a
`google.rpc.RetryInfo` detail, `"retryDelay": "21s"`), not in headers. Streams
(`streamGenerateContent?alt=sse`) are `data:` frames with no `event:` lines and no end
marker: the last chunk is the one carrying `finishReason`; an error mid-stream is a
`data:` frame holding the same `{"error": ...}` object (google-genai raises on a chunk
that starts so).

For callers, failsoft's errors say the HTTP status in `code` and Google's status name in
`status`: 503 UNAVAILABLE when every target failed (google-genai's retry options and Gemini
CLI retry 429 and 5xx), 400 INVALID_ARGUMENT for a request failsoft refuses.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from failsoft.dialects import gemini_fast
from failsoft.dialects.base import (
    CONTENT,
    ERROR,
    MALFORMED,
    PREAMBLE,
    TERMINAL,
    ErrorInfo,
    loads_events,
)
from failsoft.dialects.sse import SSEEvent, encode, event_datas
from failsoft.errors import TruncatedStream

name = "gemini"
exhausted_status = 503
exhausted_type = "UNAVAILABLE"
request_id_header = "x-request-id"

_CONTEXT_WORDS = ("exceeds the maximum number of tokens", "input token count", "context window")
_DAILY = ("PerDay", "per_day")
_KEY_REFUSED = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED"})
"""`google.rpc.ErrorInfo` reasons of a refused key (not `API_KEY_SERVICE_BLOCKED` and the
like: those are a 403 about what the key may do, an ordinary failure of the target)."""
STATUS_CODES = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ABORTED": 409,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNKNOWN": 500,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
"""google.rpc status → the HTTP status Google sends it with."""
_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "INVALID_ARGUMENT",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_BY_CODE = {
    "model_not_found": "NOT_FOUND",
    "invalid_api_key": "UNAUTHENTICATED",
    "model_not_permitted": "PERMISSION_DENIED",
    "budget_exceeded": "RESOURCE_EXHAUSTED",
}
"""failsoft's own refusals (named by their OpenAI code) → the google.rpc status."""
_SENT_WITH = {"request_too_large": 413, "unsupported_media_type": 415}
_FOREIGN = {
    "invalid_request_error": "INVALID_ARGUMENT",
    "not_found_error": "NOT_FOUND",
    "server_error": "INTERNAL",
    "api_error": "INTERNAL",
    "service_unavailable_error": "UNAVAILABLE",
}
_CARRIES = re.compile(
    rb'"(?:text|parts|functionCall|inlineData|executableCode|codeExecutionResult'
    rb'|thoughtSignature|finishReason|error|promptFeedback)"'
)


def error_body(
    message: str,
    kind: str,
    *,
    code: str | None = None,
    param: str | None = None,
    request_id: str | None = None,
) -> bytes:
    """`kind` is a google.rpc status name; another dialect's error type (failsoft's own
    errors are named in OpenAI's words) is renamed to the nearest one."""
    status = kind if kind in STATUS_CODES else _FOREIGN.get(kind, "INVALID_ARGUMENT")
    status = _BY_CODE.get(code or "", status)
    # `code` is the HTTP status the answer goes with: failsoft's own 413 and 415 say so.
    http = _SENT_WITH.get(code or "", STATUS_CODES[status])
    body = {"code": http, "message": message, "status": status}
    return orjson.dumps({"error": body})


def status_name(http_status: int) -> str:
    """The google.rpc status Google answers an HTTP status with."""
    return _NAMES.get(http_status, "INTERNAL" if http_status >= 500 else "INVALID_ARGUMENT")


def stream_error(message: str, timeout: bool = False) -> bytes:
    return encode(error_body(message, "DEADLINE_EXCEEDED" if timeout else "UNAVAILABLE"))


def parse_error(body: bytes) -> ErrorInfo:
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ErrorInfo(message=body[:200].decode("utf-8", "replace") or None)
    if isinstance(obj, list) and obj:
        obj = obj[0]  # Vertex AI wraps the status in an array
    err = obj.get("error") if isinstance(obj, dict) else None
    if not isinstance(err, dict):
        return ErrorInfo()
    code: str | None = None
    retry_after: float | None = None
    for detail in err.get("details") or ():
        if not isinstance(detail, dict):
            continue
        kind = str(detail.get("@type") or "")
        if kind.endswith("RetryInfo"):
            retry_after = _duration(detail.get("retryDelay"))
        elif kind.endswith("QuotaFailure"):
            for violation in detail.get("violations") or ():
                if isinstance(violation, dict) and violation.get("quotaId"):
                    code = str(violation["quotaId"])
        elif kind.endswith("ErrorInfo") and code is None and detail.get("reason"):
            code = str(detail["reason"])
    status = err.get("status")
    message = err.get("message")
    return ErrorInfo(
        type=status if isinstance(status, str) else None,
        code=code,
        message=message if isinstance(message, str) else None,
        retry_after=retry_after,
    )


def _duration(value: Any) -> float | None:
    """A protobuf Duration in JSON (`"21s"`, `"0.5s"`) in seconds."""
    if not isinstance(value, str) or not value.endswith("s"):
        return None
    try:
        seconds = float(value[:-1])
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def is_context_length(info: ErrorInfo) -> bool:
    if info.type not in (None, "INVALID_ARGUMENT"):
        return False
    text = (info.message or "").lower()
    return any(word in text for word in _CONTEXT_WORDS)


def is_quota(info: ErrorInfo) -> bool:
    """A daily quota runs until the daily reset; per-minute limits are ordinary 429s.

    Both say "You exceeded your current quota"; only the QuotaFailure's quota id tells.
    """
    return bool(info.code) and any(word in (info.code or "") for word in _DAILY)


def is_credentials(info: ErrorInfo) -> bool:
    """Google refuses a bad API key with 400 INVALID_ARGUMENT (or 403), its reason in a
    `google.rpc.ErrorInfo` detail; an OAuth token (Vertex AI) gets 401 UNAUTHENTICATED."""
    return info.code in _KEY_REFUSED or info.type == "UNAUTHENTICATED"


def stream_body(payload: dict[str, Any], body: bytes, model: str) -> bytes:
    return body  # the model is in the URL


def assembled_body(payload: dict[str, Any], model: str) -> bytes:
    return orjson.dumps(payload)


class Tracker:
    """Content starts with the first part; the chunk with `finishReason` ends the answer."""

    __slots__ = ("complete", "last")

    def __init__(self) -> None:
        self.complete = False
        self.last: Any = None

    def feed(self, event: SSEEvent) -> int:
        try:
            obj = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            return MALFORMED
        self.last = obj
        if type(obj) is not dict:
            return MALFORMED
        candidates = obj.get("candidates")
        if not candidates:
            if obj.get("error") is not None:
                return ERROR
            if (obj.get("promptFeedback") or {}).get("blockReason"):
                self.complete = True
                return TERMINAL
            return PREAMBLE
        kind = PREAMBLE
        for candidate in candidates:
            if type(candidate) is not dict:
                return MALFORMED
            if candidate.get("finishReason"):
                self.complete = True
                return TERMINAL
            parts = (candidate.get("content") or {}).get("parts")
            if parts:
                kind = CONTENT
        return kind


def tracker() -> Tracker:
    return Tracker()


def harmless(event: SSEEvent, tracker: Tracker) -> bool:
    return harmless_data(event.data)


def harmless_data(data: bytes) -> bool:
    return _CARRIES.search(data) is None


def missing_end(tracker: Tracker, expect_usage: bool) -> SSEEvent | None:
    return None  # the chunk with finishReason is the end; there is no marker to miss


def assemble(body: bytes, dropped: list[bytes] | None = None) -> dict[str, Any]:
    """The `GenerateContentResponse` a whole stream adds up to (first candidate's parts
    joined, the last chunk's finishReason and usage), or the error that stops it.

    An ordinary body is read by `gemini_fast` (typed, one decode, text joined once); any
    other by the generic path below, with the same result."""
    events = gemini_fast.decode(body)
    if events is not None:
        try:
            return gemini_fast.assemble(events)
        except gemini_fast.Fallback:
            pass
    return assemble_generic(body, dropped)


def assemble_generic(body: bytes, dropped: list[bytes] | None = None) -> dict[str, Any]:
    """`assemble` for any body: every event parsed by orjson and added as a dict."""
    out: dict[str, Any] = {}
    parts: list[dict[str, Any]] = []
    candidate: dict[str, Any] = {"index": 0}
    finished = False
    for obj in loads_events(event_datas(body), harmless_data, dropped):
        if gemini_fast.add_event(obj, out, parts, candidate):
            finished = True
    if not finished:
        raise TruncatedStream("the stream ended without a finishReason")
    candidate["content"] = {"role": "model", "parts": parts}
    out["candidates"] = [candidate] if "finishReason" in candidate or parts else []
    return out


def ends_stream(tail: bytes) -> bool:
    """Gemini has no end marker: read to the end of the body."""
    return False
