"""Gemini error bodies: google.rpc.Status with typed details.

Google puts machine-readable hints in `details` rather than headers (RetryInfo for when
to retry, QuotaFailure for which quota ran out, ErrorInfo for why a key was refused), so
a gateway that maps Gemini errors has to read them from the body.
"""

from __future__ import annotations

from typing import Any

import orjson

from failsoft.sim.wire import ErrorSpec

_TYPE = "type.googleapis.com/google.rpc."
_OVERLOADED = "The model is overloaded. Please try again later."
_QUOTA_DOC = "https://ai.google.dev/gemini-api/docs/rate-limits"

# HTTP status -> (google.rpc status, message); "{model}" is filled in.
STATUSES: dict[int, tuple[str, str]] = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: (
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, "
        "login cookie or other valid authentication credential.",
    ),
    403: ("PERMISSION_DENIED", "The caller does not have permission"),
    404: (
        "NOT_FOUND",
        "models/{model} is not found for API version v1beta, or is not supported for "
        "generateContent. Call ListModels to see the list of available models and their "
        "supported methods.",
    ),
    408: ("ABORTED", "The request was aborted before it completed. Please retry."),
    409: ("ABORTED", "The operation was aborted, typically due to a concurrency issue."),
    412: ("FAILED_PRECONDITION", "Precondition check failed."),
    413: ("INVALID_ARGUMENT", "Request payload size exceeds the limit: 20971520 bytes."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    500: (
        "INTERNAL",
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting",
    ),
    501: ("UNIMPLEMENTED", "Method not implemented."),
    503: ("UNAVAILABLE", _OVERLOADED),
    504: ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
}
_CODES = {status: code for code, (status, _) in reversed(STATUSES.items())}

# preset -> (google.rpc status, message)
_PRESETS: dict[str, tuple[str, str]] = {
    "context_length": (
        "INVALID_ARGUMENT",
        "The input token count (250000) exceeds the maximum number of tokens allowed (1048576).",
    ),
    "content_policy": (
        "INVALID_ARGUMENT",
        "The request was blocked by the safety filters (blockReason: SAFETY). The prompt may "
        "violate the Generative AI Prohibited Use Policy.",
    ),
    "insufficient_quota": (
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details. For "
        f"more information on this error, head to: {_QUOTA_DOC}. To monitor your current "
        "usage, head to: https://ai.dev/usage?tab=rate-limit.",
    ),
    "api_key_invalid": ("INVALID_ARGUMENT", "API key not valid. Please pass a valid API key."),
}


def error_body(spec: ErrorSpec, model: str) -> bytes:
    """`type` overrides the status name; `code` becomes an ErrorInfo reason."""
    if spec.preset is not None:
        status, message = _PRESETS[spec.preset]
    else:
        status, message = _status(spec.status)
    details = _details(spec.preset, model)
    if spec.code:
        details.append(
            {"@type": _TYPE + "ErrorInfo", "reason": spec.code, "domain": "googleapis.com"}
        )
    if spec.retry_after is not None:
        details.append(
            {"@type": _TYPE + "RetryInfo", "retryDelay": f"{_seconds(spec.retry_after)}s"}
        )
    error: dict[str, Any] = {
        "code": spec.status,
        "message": spec.message or message.format(model=model),
        "status": spec.type or status,
    }
    if details:
        error["details"] = details
    return orjson.dumps({"error": error})


def _status(code: int) -> tuple[str, str]:
    known = STATUSES.get(code)
    if known is not None:
        return known
    return ("UNAVAILABLE", _OVERLOADED) if code >= 500 else ("INVALID_ARGUMENT", "Request failed.")


def _details(preset: str | None, model: str) -> list[dict[str, Any]]:
    if preset == "insufficient_quota":
        violation = {
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
            "quotaDimensions": {"location": "global", "model": model},
            "quotaValue": "250",
        }
        return [
            {"@type": _TYPE + "QuotaFailure", "violations": [violation]},
            {
                "@type": _TYPE + "Help",
                "links": [{"description": "Learn more about Gemini API quotas", "url": _QUOTA_DOC}],
            },
        ]
    if preset == "api_key_invalid":
        return [
            {
                "@type": _TYPE + "ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            },
            {
                "@type": _TYPE + "LocalizedMessage",
                "locale": "en-US",
                "message": _PRESETS[preset][1],
            },
        ]
    return []


def stream_error(error_type: str | None, message: str | None) -> bytes:
    """An in-band error chunk; `error_type` may name a google.rpc status (default UNAVAILABLE)."""
    status = error_type if error_type in _CODES else "UNAVAILABLE"
    code = _CODES[status]
    default = STATUSES[code][1].format(model="the requested model")
    error = {"code": code, "message": message or default, "status": status}
    return orjson.dumps({"error": error})


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
