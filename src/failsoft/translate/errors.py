"""Upstream errors in the caller's shape, with the status that makes its SDK raise the
right exception class.

The SDKs pick the exception class by HTTP status (400 → BadRequestError, 404 →
NotFoundError, 429 → RateLimitError, ...), so the status is kept; the error `type` is
renamed into the caller's vocabulary by what the error means, and the upstream's own
message is kept verbatim. Mid-stream error events get the same treatment.
"""

from __future__ import annotations

from typing import Any

from failsoft.dialects import WIRES, responses
from failsoft.dialects.base import ErrorInfo
from failsoft.errors import UpstreamStatusError

# What an error means, from each dialect's own words.
_MEANING_BY_TYPE = {
    # Anthropic
    "invalid_request_error": "invalid",
    "authentication_error": "auth",
    "permission_error": "permission",
    "not_found_error": "not_found",
    "request_too_large": "too_large",
    "rate_limit_error": "rate_limit",
    "billing_error": "billing",
    "api_error": "server",
    "overloaded_error": "overloaded",
    "timeout_error": "timeout",
    # OpenAI
    "server_error": "server",
    "service_unavailable_error": "overloaded",
    "insufficient_quota": "billing",
    "requests": "rate_limit",
    "tokens": "rate_limit",
    # OpenAI Responses (`response.failed`'s `error.code`)
    "rate_limit_exceeded": "rate_limit",
    "invalid_prompt": "invalid",
    # Gemini (google.rpc status names)
    "INVALID_ARGUMENT": "invalid",
    "FAILED_PRECONDITION": "invalid",
    "OUT_OF_RANGE": "invalid",
    "UNAUTHENTICATED": "auth",
    "PERMISSION_DENIED": "permission",
    "NOT_FOUND": "not_found",
    "RESOURCE_EXHAUSTED": "rate_limit",
    "INTERNAL": "server",
    "UNKNOWN": "server",
    "UNAVAILABLE": "overloaded",
    "DEADLINE_EXCEEDED": "timeout",
    "ABORTED": "server",
}
_MEANING_BY_STATUS = {
    400: "invalid",
    401: "auth",
    402: "billing",
    403: "permission",
    404: "not_found",
    408: "timeout",
    413: "too_large",
    422: "invalid",
    429: "rate_limit",
    503: "overloaded",
    504: "timeout",
    529: "overloaded",
}
_NAMES = {
    "openai": {
        "invalid": "invalid_request_error",
        "auth": "authentication_error",
        "permission": "permission_error",
        "not_found": "not_found_error",
        "too_large": "invalid_request_error",
        "rate_limit": "rate_limit_error",
        "billing": "insufficient_quota",
        "server": "server_error",
        "overloaded": "server_error",
        "timeout": "server_error",
    },
    "anthropic": {
        "invalid": "invalid_request_error",
        "auth": "authentication_error",
        "permission": "permission_error",
        "not_found": "not_found_error",
        "too_large": "request_too_large",
        "rate_limit": "rate_limit_error",
        "billing": "billing_error",
        "server": "api_error",
        "overloaded": "overloaded_error",
        "timeout": "timeout_error",
    },
}
_NAMES["responses"] = _NAMES["openai"]
_NAMES["gemini"] = {
    "invalid": "INVALID_ARGUMENT",
    "auth": "UNAUTHENTICATED",
    "permission": "PERMISSION_DENIED",
    "not_found": "NOT_FOUND",
    "too_large": "INVALID_ARGUMENT",
    "rate_limit": "RESOURCE_EXHAUSTED",
    "billing": "RESOURCE_EXHAUSTED",
    "server": "INTERNAL",
    "overloaded": "UNAVAILABLE",
    "timeout": "DEADLINE_EXCEEDED",
}


def meaning(status: int | None, kind: str | None) -> str:
    if status is not None:
        found = _MEANING_BY_STATUS.get(status)
        if found is not None:
            return found
        if status >= 500:
            return "server"
    return _MEANING_BY_TYPE.get(kind or "", "server" if status is None else "invalid")


def caller_type(caller: str, status: int | None, kind: str | None) -> str:
    return _NAMES[caller][meaning(status, kind)]


def client_fault_body(caller: str, error: UpstreamStatusError, request_id: str) -> bytes:
    """An upstream refusal from another dialect, as the caller's dialect would word it."""
    upstream = WIRES[error.dialect]
    info = ErrorInfo(error.error_type, error.error_code, error.error_message)
    code = error.error_code or error.error_type
    if upstream.is_context_length(info):
        code = "context_length_exceeded"
    message = error.error_message or f"the upstream refused the request (HTTP {error.status})"
    return WIRES[caller].error_body(
        message, caller_type(caller, error.status, error.error_type), code=code,
        request_id=request_id,
    )  # fmt: skip


def stream_error_parts(upstream: str, obj: Any) -> tuple[str | None, str]:
    """`(type, message)` of an upstream's in-band error event (either may be a default)."""
    err = obj.get("error") if isinstance(obj, dict) else None
    kind: str | None = None
    message = "the upstream reported an error mid-stream"
    if upstream == "responses" and not isinstance(err, dict):
        code, said = responses.event_error(obj)  # `error` / `response.failed`
        return code, said or message
    if isinstance(err, dict):
        raw_kind = err.get("status") if upstream == "gemini" else err.get("type")
        kind = raw_kind if isinstance(raw_kind, str) else None
        if isinstance(err.get("message"), str):
            message = err["message"]
    return kind, message


def stream_error_frame(caller: str, upstream: str, obj: Any) -> bytes:
    """The caller's in-band error event for an upstream's in-band error event (Responses
    callers get theirs from the stream's encoder, which numbers it: see `bridge`)."""
    kind, message = stream_error_parts(upstream, obj)
    wire = WIRES[caller]
    name = caller_type(caller, None, kind)
    if caller == "anthropic":
        return b"event: error\ndata: " + wire.error_body(message, name) + b"\n\n"
    return b"data: " + wire.error_body(message, name) + b"\n\n"
