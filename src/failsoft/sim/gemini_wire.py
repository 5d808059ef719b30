"""Gemini generateContent wire output (protocols.md §C), built independently of failsoft.dialects.

Google's streams differ from the other two in ways a gateway must handle: CRLF line
endings, no event names, no end marker (the last chunk just carries `finishReason`), a
JSON-array body without `alt=sse`, and retry hints inside the error body.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from failsoft.sim import gemini_input
from failsoft.sim.answers import Answer
from failsoft.sim.gemini_checks import SIGNED_MODELS
from failsoft.sim.gemini_errors import error_body, stream_error
from failsoft.sim.http import Request
from failsoft.sim.prompt import Prompt
from failsoft.sim.tools import thought_signature
from failsoft.sim.wire import ErrorSpec, Reply, StreamPlan

_ARRAY_TYPE = b"application/json; charset=UTF-8"
_METHODS = list(gemini_input.METHODS)
_MALFORMED = b'{"candidates": [{"content": {"parts": [{"te'


class GeminiWire:
    dialect = "gemini"
    request_id_header = "x-sim-request-id"
    response_prefix = "gsim"
    auth_error = ErrorSpec(400, preset="api_key_invalid")

    def authorized(self, request: Request, api_key: str) -> bool:
        if request.headers.get("x-goog-api-key") == api_key:
            return True
        return gemini_input.query(request.query).get("key") == api_key

    def target(self, request: Request, body: object) -> tuple[str | None, bool]:
        found = gemini_input.route(request.path)
        if found is None:
            return None, False
        model, method = found
        return model, method == "streamGenerateContent"

    def check(
        self, body: Mapping[str, Any], request: Request, model: str | None
    ) -> ErrorSpec | None:
        return gemini_input.check(body, model or "")

    def prompt(self, body: Mapping[str, Any]) -> Prompt:
        return gemini_input.prompt(body)

    def max_tokens(self, body: Mapping[str, Any]) -> int | None:
        return gemini_input.max_tokens(body)

    def completion(self, reply: Reply, answer: Answer, body: Mapping[str, Any]) -> bytes:
        parts = [{"text": answer.text}] if answer.pieces or not answer.calls else []
        parts.extend(_call_parts(reply, answer))
        return _response(reply, parts, _finish_reason(answer), _usage(answer))

    def stream(
        self, reply: Reply, answer: Answer, body: Mapping[str, Any], request: Request
    ) -> StreamPlan:
        sse = _sse(request)
        partial = {"promptTokenCount": answer.input_tokens, "totalTokenCount": answer.input_tokens}
        chunks = [_response(reply, [{"text": piece}], None, partial) for piece in answer.pieces]
        if answer.calls:
            chunks.append(_response(reply, _call_parts(reply, answer), None, partial))
        final = _response(reply, [{"text": ""}], _finish_reason(answer), _usage(answer))
        if sse:
            return StreamPlan(
                preamble=(),
                content=tuple(_frame(chunk) for chunk in chunks),
                close=(),
                terminal=(_frame(final),),
            )
        # One JSON array: each element but the last is followed by its comma, so a cut
        # anywhere leaves an unterminated array, as a real truncation would. The closing
        # bracket is the only end marker Gemini has (SSE has none).
        return StreamPlan(
            preamble=(b"[",),
            content=tuple(chunk + b",\r\n" for chunk in chunks),
            close=(),
            terminal=(final,),
            marker=(b"]",),
            content_type=_ARRAY_TYPE,
        )

    def error(self, spec: ErrorSpec, reply: Reply) -> bytes:
        return error_body(spec, reply.model)

    def malformed_event(self, reply: Reply, request: Request) -> bytes:
        return _frame(_MALFORMED) if _sse(request) else _MALFORMED + b",\r\n"

    def corrupt_event(self, event: bytes) -> bytes:
        """Cut inside `parts`, after the text (or call) part: `...[{"text":" word"}`."""
        sse = event.startswith(b"data: ")
        end = b"\r\n\r\n" if sse else b",\r\n"
        body = event[: -len(end)]
        cut = body.rfind(b']},"index":')
        return (body[:cut] if cut >= 0 else body[:-2]) + end

    def stream_error_event(
        self, request: Request, error_type: str | None, message: str | None
    ) -> bytes:
        body = stream_error(error_type, message)
        return _frame(body) if _sse(request) else body + b"]"

    def models(self, names: Sequence[str], created: int, more: str | None = None) -> bytes:
        page: dict[str, Any] = {"models": [model_info(name) for name in names]}
        if more is not None:
            page["nextPageToken"] = more
        return orjson.dumps(page)


def model_info(name: str) -> dict[str, Any]:
    return {"name": f"models/{name}", "displayName": name, "supportedGenerationMethods": _METHODS}


def _sse(request: Request) -> bool:
    return gemini_input.query(request.query).get("alt") == "sse"


def _frame(data: bytes) -> bytes:
    return b"data: " + data + b"\r\n\r\n"


def _call_parts(reply: Reply, answer: Answer) -> list[dict[str, Any]]:
    """Gemini calls carry no id; Gemini 3 signs the first call of the turn."""
    parts: list[dict[str, Any]] = []
    for index, call in enumerate(answer.calls):
        part: dict[str, Any] = {"functionCall": {"name": call.name, "args": call.arguments}}
        if index == 0 and reply.model.startswith(SIGNED_MODELS):
            part["thoughtSignature"] = thought_signature(call)
        parts.append(part)
    return parts


def _response(
    reply: Reply, parts: list[dict[str, Any]], finish: str | None, usage: Mapping[str, int]
) -> bytes:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}}
    if finish is not None:
        candidate["finishReason"] = finish
    candidate["index"] = 0
    return orjson.dumps(
        {
            "candidates": [candidate],
            "usageMetadata": usage,
            "modelVersion": reply.model,
            "responseId": reply.response_id,
        }
    )


def _finish_reason(answer: Answer) -> str:
    """Gemini says STOP for function calls too."""
    return "MAX_TOKENS" if answer.truncated and not answer.calls else "STOP"


def _usage(answer: Answer) -> dict[str, int]:
    return {
        "promptTokenCount": answer.input_tokens,
        "candidatesTokenCount": answer.output_tokens,
        "totalTokenCount": answer.input_tokens + answer.output_tokens,
    }
