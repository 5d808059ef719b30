"""OpenAI Chat Completions wire output (protocols.md §B), built independently of failsoft.dialects.

The shapes follow recorded API responses field by field, because the point of the
simulator is that the real `openai` SDK cannot tell it from the real service.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from failsoft.sim import openai_input
from failsoft.sim.answers import Answer
from failsoft.sim.http import Request
from failsoft.sim.prompt import Prompt
from failsoft.sim.tools import openai_call_id
from failsoft.sim.wire import ErrorSpec, Reply, StreamPlan, body_model, body_stream

_FINGERPRINT = "fp_f5a1e0c3d2"
_INVALID = "invalid_request_error"

# status -> (type, code, message); "{model}" is filled in.
_STATUS_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: (_INVALID, None, "Invalid request."),
    401: (
        _INVALID,
        "invalid_api_key",
        "Incorrect API key provided. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
    ),
    403: (
        "request_forbidden",
        "unsupported_country_region_territory",
        "Country, region, or territory not supported",
    ),
    404: (
        _INVALID,
        "model_not_found",
        "The model `{model}` does not exist or you do not have access to it.",
    ),
    409: (_INVALID, None, "Another request is in progress for this resource."),
    413: (_INVALID, None, "Request too large."),
    422: (_INVALID, None, "Unprocessable request."),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for {model} in organization org-sim on requests per min (RPM): "
        "Limit 500, Used 500, Requested 1. Please try again in 120ms.",
    ),
    500: (
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    502: ("server_error", None, "Bad gateway."),
    503: ("service_unavailable_error", "server_is_overloaded", "The server is overloaded."),
    504: ("server_error", None, "Gateway timeout."),
    529: ("service_unavailable_error", "server_is_overloaded", "The server is overloaded."),
}

# preset -> (type, code, param, message)
_PRESETS: dict[str, tuple[str, str, str | None, str]] = {
    "context_length": (
        _INVALID,
        "context_length_exceeded",
        "messages",
        "This model's maximum context length is 128000 tokens. However, your messages "
        "resulted in 250000 tokens. Please reduce the length of the messages.",
    ),
    "content_policy": (
        _INVALID,
        "content_policy_violation",
        None,
        "Your request was rejected as a result of our safety system. Your prompt may "
        "contain text that is not allowed by our safety system.",
    ),
    "insufficient_quota": (
        "insufficient_quota",
        "insufficient_quota",
        None,
        "You exceeded your current quota, please check your plan and billing details.",
    ),
}


class OpenAIWire:
    dialect = "openai"
    request_id_header = "x-request-id"
    response_prefix = "chatcmpl-sim"
    auth_error = ErrorSpec(401)

    def authorized(self, request: Request, api_key: str) -> bool:
        return request.headers.get("authorization") == f"Bearer {api_key}"

    def target(self, request: Request, body: object) -> tuple[str | None, bool]:
        return body_model(body), body_stream(body)

    def check(
        self, body: Mapping[str, Any], request: Request, model: str | None
    ) -> ErrorSpec | None:
        return openai_input.check(body)

    def prompt(self, body: Mapping[str, Any]) -> Prompt:
        return openai_input.prompt(body)

    def max_tokens(self, body: Mapping[str, Any]) -> int | None:
        value = body.get("max_completion_tokens")
        if value is None:
            value = body.get("max_tokens")
        return value if isinstance(value, int) else None

    def completion(self, reply: Reply, answer: Answer, body: Mapping[str, Any]) -> bytes:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": answer.text if answer.pieces or not answer.calls else None,
            "refusal": None,
        }
        if answer.calls:
            message["tool_calls"] = [
                {
                    "id": openai_call_id(reply.response_id, index),
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.json},
                }
                for index, call in enumerate(answer.calls)
            ]
        return orjson.dumps(
            {
                "id": reply.response_id,
                "object": "chat.completion",
                "created": reply.created,
                "model": reply.model,
                "system_fingerprint": _FINGERPRINT,
                "service_tier": "default",
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": _finish_reason(answer),
                    }
                ],
                "usage": _usage(answer),
            }
        )

    def stream(
        self, reply: Reply, answer: Answer, body: Mapping[str, Any], request: Request
    ) -> StreamPlan:
        options = body.get("stream_options")
        with_usage = isinstance(options, dict) and options.get("include_usage") is True
        head = (
            b'data: {"id":"%s","object":"chat.completion.chunk","created":%d,"model":%s,'
            b'"system_fingerprint":"%s","choices":'
            % (
                reply.response_id.encode(),
                reply.created,
                orjson.dumps(reply.model),
                _FINGERPRINT.encode(),
            )
        )
        tail = b',"usage":null}\n\n' if with_usage else b"}\n\n"

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return head + orjson.dumps([choice]) + tail

        # A tool-only answer opens with the first call (role included), as the API does.
        with_role = bool(answer.pieces) or not answer.calls
        preamble = (chunk({"role": "assistant", "content": "", "refusal": None}),)
        content = [chunk({"content": piece}) for piece in answer.pieces]
        for index, call in enumerate(answer.calls):
            opening: dict[str, Any] = {
                "index": index,
                "id": openai_call_id(reply.response_id, index),
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            if index == 0 and not with_role:
                first = {"role": "assistant", "content": None, "tool_calls": [opening]}
                content.append(chunk({**first, "refusal": None}))
            else:
                content.append(chunk({"tool_calls": [opening]}))
            for fragment in call.fragments:
                piece = {"index": index, "function": {"arguments": fragment}}
                content.append(chunk({"tool_calls": [piece]}))
        terminal = [chunk({}, _finish_reason(answer))]
        if with_usage:
            terminal.append(head + b'[],"usage":' + orjson.dumps(_usage(answer)) + b"}\n\n")
        return StreamPlan(
            preamble=preamble if with_role else (),
            content=tuple(content),
            close=(),
            terminal=tuple(terminal),
            marker=(b"data: [DONE]\n\n",),
        )

    def error(self, spec: ErrorSpec, reply: Reply) -> bytes:
        kind, code, message = _STATUS_ERRORS.get(
            spec.status,
            ("server_error" if spec.status >= 500 else _INVALID, None, "Request failed."),
        )
        param = spec.param
        if spec.preset is not None:
            kind, code, param, message = _PRESETS[spec.preset]
        error = {
            "message": spec.message or message.format(model=reply.model),
            "type": spec.type or kind,
            "param": param,
            "code": (spec.code if spec.code is not None else code) or None,
        }
        return orjson.dumps({"error": error})

    def malformed_event(self, reply: Reply, request: Request) -> bytes:
        # An empty delta: a client that skips the unparsable chunk loses nothing.
        return (
            b'data: {"id":"%s","object":"chat.completion.chunk","choices":[{"index":0,'
            b'"delta":{}\n\n' % reply.response_id.encode()
        )

    def corrupt_event(self, event: bytes) -> bytes:
        """Cut just after the delta's fields, so the fragment is there but nothing closes."""
        cut = event.rfind(b'},"logprobs":')
        return (event[:cut] if cut >= 0 else event[:-3]) + b"\n\n"

    def stream_error_event(
        self, request: Request, error_type: str | None, message: str | None
    ) -> bytes:
        error = {
            "message": message or "The server had an error while processing your request.",
            "type": "server_error",
            "param": None,
            "code": None,
        }
        return b"data: " + orjson.dumps({"error": error}) + b"\n\n"

    def models(self, names: Sequence[str], created: int, more: str | None = None) -> bytes:
        data = [
            {"id": name, "object": "model", "created": created, "owned_by": "failsoft-sim"}
            for name in names
        ]
        return orjson.dumps({"object": "list", "data": data})


def _finish_reason(answer: Answer) -> str:
    if answer.calls:
        return "tool_calls"
    return "length" if answer.truncated else "stop"


def _usage(answer: Answer) -> dict[str, Any]:
    return {
        "prompt_tokens": answer.input_tokens,
        "completion_tokens": answer.output_tokens,
        "total_tokens": answer.input_tokens + answer.output_tokens,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
