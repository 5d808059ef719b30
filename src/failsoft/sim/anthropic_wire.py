"""Anthropic Messages wire output (protocols.md §A), built independently of failsoft.dialects.

Event order and field sets follow the SDK's own recorded fixtures, so that the real
`anthropic` SDK (including `messages.stream()` and its accumulator) accepts the output.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from failsoft.sim import anthropic_input, anthropic_thinking
from failsoft.sim.answers import Answer
from failsoft.sim.http import Request
from failsoft.sim.prompt import Prompt
from failsoft.sim.tools import anthropic_call_id
from failsoft.sim.wire import ErrorSpec, Reply, StreamPlan, body_model, body_stream

_INVALID = "invalid_request_error"

# status -> (error.type, message)
_STATUS_ERRORS: dict[int, tuple[str, str]] = {
    400: (_INVALID, "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low to access the Anthropic API."),
    403: (
        "permission_error",
        "Your API key does not have permission to use the specified resource.",
    ),
    404: ("not_found_error", "model: {model}"),
    408: ("timeout_error", "Request timed out."),
    409: ("conflict_error", "Conflict."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    422: (_INVALID, "Unprocessable request."),
    429: (
        "rate_limit_error",
        "This request would exceed your organization's rate limit of 50 requests per minute "
        "(org: sim, model: {model}). Please try again later.",
    ),
    500: ("api_error", "Internal server error"),
    502: ("api_error", "Bad gateway"),
    503: ("api_error", "Service unavailable"),
    504: ("timeout_error", "Request timed out"),
    529: ("overloaded_error", "Overloaded"),
}

# preset -> (error.type, details.error_code, message)
_PRESETS: dict[str, tuple[str, str | None, str]] = {
    "context_length": (_INVALID, None, "prompt is too long: 250000 tokens > 200000 maximum"),
    "content_policy": (
        _INVALID,
        None,
        "This request was flagged as potentially violating our Usage Policy "
        "(https://www.anthropic.com/legal/aup). Please try a different request.",
    ),
    "insufficient_quota": (
        "rate_limit_error",
        "enforced_spend_limit_reached",
        "You have reached your specified API usage limits. You will regain access on "
        "2026-12-01 at 00:00 UTC.",
    ),
}


def _event(name: bytes, data: bytes) -> bytes:
    return b"event: " + name + b"\ndata: " + data + b"\n\n"


def _text_start(index: int) -> bytes:
    return _event(
        b"content_block_start",
        b'{"type":"content_block_start","index":%d,"content_block":{"type":"text","text":""}}'
        % index,
    )


def _text_delta(piece: str, index: int) -> bytes:
    return _event(
        b"content_block_delta",
        b'{"type":"content_block_delta","index":%d,"delta":{"type":"text_delta","text":' % index
        + orjson.dumps(piece)
        + b"}}",
    )


def _delta(index: int, delta: dict[str, Any]) -> bytes:
    data = {"type": "content_block_delta", "index": index, "delta": delta}
    return _event(b"content_block_delta", orjson.dumps(data))


def _thinking_events() -> list[bytes]:
    """Block 0 of a thinking answer: its text in words, then the signature before the stop."""
    done = anthropic_thinking.block()
    events = [_block_start(0, {"type": "thinking", "thinking": "", "signature": ""})]
    for number, word in enumerate(done["thinking"].split(" ")):
        piece = word if number == 0 else " " + word
        events.append(_delta(0, {"type": "thinking_delta", "thinking": piece}))
    events.append(_delta(0, {"type": "signature_delta", "signature": done["signature"]}))
    events.append(_block_stop(0))
    return events


def _block_start(index: int, block: dict[str, Any]) -> bytes:
    data = {"type": "content_block_start", "index": index, "content_block": block}
    return _event(b"content_block_start", orjson.dumps(data))


def _json_delta(index: int, partial: str) -> bytes:
    delta = {"type": "input_json_delta", "partial_json": partial}
    data = {"type": "content_block_delta", "index": index, "delta": delta}
    return _event(b"content_block_delta", orjson.dumps(data))


def _block_stop(index: int) -> bytes:
    return _event(b"content_block_stop", b'{"type":"content_block_stop","index":%d}' % index)


class AnthropicWire:
    dialect = "anthropic"
    request_id_header = "request-id"
    response_prefix = "msg_sim"
    auth_error = ErrorSpec(401)

    def authorized(self, request: Request, api_key: str) -> bool:
        headers = request.headers
        return headers.get("x-api-key") == api_key or (
            headers.get("authorization") == f"Bearer {api_key}"
        )

    def target(self, request: Request, body: object) -> tuple[str | None, bool]:
        return body_model(body), body_stream(body)

    def check(
        self, body: Mapping[str, Any], request: Request, model: str | None
    ) -> ErrorSpec | None:
        return anthropic_input.check(body, request.headers)

    def prompt(self, body: Mapping[str, Any]) -> Prompt:
        return anthropic_input.prompt(body)

    def max_tokens(self, body: Mapping[str, Any]) -> int | None:
        value = body.get("max_tokens")
        return value if isinstance(value, int) else None

    def completion(self, reply: Reply, answer: Answer, body: Mapping[str, Any]) -> bytes:
        content: list[dict[str, Any]] = []
        thinks = anthropic_thinking.enabled(body)
        if thinks:
            content.append(anthropic_thinking.block())
        if answer.pieces or not answer.calls:
            content.append({"type": "text", "text": answer.text})
        for index, call in enumerate(answer.calls):
            call_id = anthropic_call_id(reply.response_id, index)
            content.append(
                {"type": "tool_use", "id": call_id, "name": call.name, "input": call.arguments}
            )
        return orjson.dumps(
            {
                "id": reply.response_id,
                "type": "message",
                "role": "assistant",
                "model": reply.model,
                "content": content,
                "stop_reason": _stop_reason(answer),
                "stop_sequence": None,
                "usage": _usage(answer.input_tokens, _output_tokens(answer, thinks)),
            }
        )

    def stream(
        self, reply: Reply, answer: Answer, body: Mapping[str, Any], request: Request
    ) -> StreamPlan:
        message: dict[str, Any] = {
            "id": reply.response_id,
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": reply.model,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": _usage(answer.input_tokens, 1),
        }
        start = _event(
            b"message_start", orjson.dumps({"type": "message_start", "message": message})
        )
        ping = _event(b"ping", b'{"type": "ping"}')
        thinks = anthropic_thinking.enabled(body)
        first = 1 if thinks else 0  # the thinking block, whole in the preamble
        preamble = [start, *(_thinking_events() if thinks else ())]
        texts = answer.pieces or not answer.calls
        preamble.extend((_text_start(first), ping) if texts else (ping,))
        content = [_text_delta(piece, first) for piece in answer.pieces]
        close = [_block_stop(first)] if texts else []
        for index, call in enumerate(answer.calls):
            block = first + index + 1 if texts else first + index
            content.extend(close)
            opening = {
                "type": "tool_use",
                "id": anthropic_call_id(reply.response_id, index),
                "name": call.name,
                "input": {},
            }
            content.append(_block_start(block, opening))
            content.extend(_json_delta(block, part) for part in ("", *call.fragments))
            close = [_block_stop(block)]
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": _stop_reason(answer), "stop_sequence": None},
            "usage": {"output_tokens": _output_tokens(answer, thinks)},
        }
        return StreamPlan(
            preamble=tuple(preamble),
            content=tuple(content),
            close=tuple(close),
            terminal=(_event(b"message_delta", orjson.dumps(delta)),),
            marker=(_event(b"message_stop", b'{"type":"message_stop"}'),),
        )

    def error(self, spec: ErrorSpec, reply: Reply) -> bytes:
        kind, message = _STATUS_ERRORS.get(
            spec.status, ("api_error" if spec.status >= 500 else _INVALID, "Request failed.")
        )
        error_code = spec.code
        if spec.preset is not None:
            kind, preset_code, message = _PRESETS[spec.preset]
            error_code = error_code or preset_code
        error = {
            "type": spec.type or kind,
            "message": spec.message or message.format(model=reply.model),
            "details": {"error_code": error_code} if error_code else None,
        }
        return orjson.dumps({"type": "error", "error": error, "request_id": reply.request_id})

    def malformed_event(self, reply: Reply, request: Request) -> bytes:
        # A ping: the SDK skips pings unparsed, and a tolerant gateway may too.
        return _event(b"ping", b'{"type": "ping"')

    def corrupt_event(self, event: bytes) -> bytes:
        """Drop the closing braces: `..."text":" word"` no longer parses but keeps the word."""
        return event[:-2].rstrip(b"}") + b"\n\n"

    def stream_error_event(
        self, request: Request, error_type: str | None, message: str | None
    ) -> bytes:
        kind = error_type or "overloaded_error"
        error = {"type": kind, "message": message or _default_message(kind)}
        return _event(b"error", orjson.dumps({"type": "error", "error": error}))

    def models(self, names: Sequence[str], created: int, more: str | None = None) -> bytes:
        created_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))
        data = [
            {
                "type": "model",
                "id": name,
                "display_name": name,
                "created_at": created_at,
                "lifecycle": "active",
            }
            for name in names
        ]
        return orjson.dumps(
            {
                "data": data,
                "has_more": more is not None,
                "first_id": names[0] if names else None,
                "last_id": names[-1] if names else None,
            }
        )


def _default_message(error_type: str) -> str:
    for kind, message in _STATUS_ERRORS.values():
        if kind == error_type:
            return message.format(model="the requested model")
    return "An error occurred."


def _output_tokens(answer: Answer, thinks: bool) -> int:
    return answer.output_tokens + (anthropic_thinking.THINKING_TOKENS if thinks else 0)


def _stop_reason(answer: Answer) -> str:
    if answer.calls:
        return "tool_use"
    return "max_tokens" if answer.truncated else "end_turn"


def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "service_tier": "standard",
    }
