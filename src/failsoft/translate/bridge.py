"""A caller's request on its way to a target of another dialect, and the answer back.

The caller's body is parsed into the internal form once per request, and written out
once per target dialect (and target options); every attempt after that only sets the
model name. A request that cannot be carried raises `Untranslatable`, cached too, so a
plan with several targets of one dialect does not repeat the work or the verdict.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from failsoft.errors import InvalidRequest, Untranslatable
from failsoft.translate import (
    anthropic,
    gemini,
    gemini_caller,
    openai,
    openai_answer,
    output_cap,
    responses,
    responses_answer,
    responses_build,
    thinking,
)
from failsoft.translate.anthropic_stream import AnthropicDecoder, AnthropicEncoder
from failsoft.translate.common import TargetOptions, Warnings
from failsoft.translate.errors import caller_type, stream_error_frame, stream_error_parts
from failsoft.translate.gemini_encoder import GeminiEncoder
from failsoft.translate.gemini_stream import GeminiDecoder
from failsoft.translate.ir import Request, Response
from failsoft.translate.openai_stream import OpenAIDecoder, OpenAIEncoder
from failsoft.translate.responses_answer import build_response as build_responses_answer
from failsoft.translate.responses_stream import (
    ResponsesDecoder,
    ResponsesEncoder,
    numbered_converter,
)
from failsoft.translate.stream import Decoder, Encoder, Sink, StreamConverter
from failsoft.types import ChatRequest

_PARSE: dict[str, Callable[[dict[str, Any]], Request]] = {
    "openai": openai.parse_request,
    "anthropic": anthropic.parse_request,
    "responses": responses.parse_request,
    "gemini": gemini_caller.parse_request,
}
_BUILD: dict[str, Callable[[Request, TargetOptions, Warnings], dict[str, Any]]] = {
    "openai": openai.build_request,
    "anthropic": anthropic.build_request,
    "gemini": gemini.build_request,
    "responses": responses_build.build_request,
}
_READ: dict[str, Callable[[dict[str, Any]], Response]] = {
    "openai": openai_answer.parse_response,
    "anthropic": anthropic.parse_response,
    "gemini": gemini.parse_response,
    "responses": responses_answer.parse_response,
}
_WRITE: dict[str, Callable[[Response], dict[str, Any]]] = {
    "openai": openai_answer.build_response,
    "anthropic": anthropic.build_response,
    "gemini": gemini_caller.build_response,
}
_DECODERS: dict[str, Callable[[Sink], Decoder]] = {
    "openai": OpenAIDecoder,
    "anthropic": AnthropicDecoder,
    "gemini": GeminiDecoder,
    "responses": ResponsesDecoder,
}

log = logging.getLogger("failsoft.translate")


class Translation:
    """One request written out for one kind of target (everything but the model)."""

    __slots__ = ("caller", "freeform", "namespaced", "payload", "target", "warnings")

    def __init__(
        self,
        caller: str,
        target: str,
        payload: dict[str, Any],
        warnings: tuple[str, ...],
        freeform: frozenset[str] = frozenset(),
        namespaced: Mapping[str, tuple[str, str]] | None = None,
    ) -> None:
        self.caller = caller
        self.target = target
        self.payload = payload
        self.warnings = warnings
        self.freeform = freeform
        """A Responses caller's custom (freeform) tools: their calls go back as
        `custom_tool_call` items, not the function calls the target made."""
        self.namespaced = namespaced or {}
        """A Responses caller's namespace tools: flat name → (namespace, name), for the
        calls to them (`translate/responses_namespace.py`)."""

    def body(self, model: str, stream: bool, limit: int | None = None) -> bytes:
        """The request for `model`; `limit` is its output limit (`output_cap.py`)."""
        payload = self.payload
        if thinking.unfit(self.target, model, payload):
            payload = thinking.without_knob(payload)
        capped = output_cap.cap(self.target, payload, limit, model)
        if capped is not None:
            payload = capped[0]
        if self.target == "gemini":
            return orjson.dumps(payload)  # the model and streaming go in the URL
        out: dict[str, Any] = {"model": model, **payload}
        if stream:
            out["stream"] = True
            if self.target == "openai":
                out["stream_options"] = {"include_usage": True}
        return orjson.dumps(out)

    def warnings_for(self, model: str, limit: int | None = None) -> tuple[str, ...]:
        """The warnings, with what `body` leaves out or lowers for this model."""
        out = self.warnings
        payload = self.payload
        if thinking.unfit(self.target, model, payload):
            out = (*out, f"dropped reasoning.effort ({model} cannot take it)")
            payload = thinking.without_knob(payload)
        capped = output_cap.cap(self.target, payload, limit, model)
        return out if capped is None else (*out, capped[1])

    def response(self, obj: dict[str, Any]) -> dict[str, Any]:
        """A whole upstream answer, as the caller's dialect says it."""
        answer = _READ[self.target](obj)
        if self.caller == "responses":
            return build_responses_answer(answer, self.freeform, self.namespaced)
        return _WRITE[self.caller](answer)

    def converter(self, include_usage: bool) -> StreamConverter:
        if self.caller == "responses":
            return self._responses_converter()
        encoder: Encoder
        if self.caller == "openai":
            encoder = OpenAIEncoder(include_usage)
        elif self.caller == "gemini":
            encoder = GeminiEncoder()
        else:
            encoder = AnthropicEncoder()
        caller, target = self.caller, self.target
        return StreamConverter(
            _DECODERS[target](encoder),
            encoder,
            lambda obj: stream_error_frame(caller, target, obj),
        )

    def _responses_converter(self) -> StreamConverter:
        """Responses events numbered from 0 (a failover before the commit point starts a new
        converter; nothing of the abandoned one reached the caller). Errors, the upstream's
        or failsoft's own, are written by the same encoder, so they continue the count."""
        encoder = ResponsesEncoder(0, self.freeform, self.namespaced)
        target = self.target

        def error_parts(obj: Any) -> tuple[str, str]:
            kind, message = stream_error_parts(target, obj)
            return caller_type("responses", None, kind), message

        return numbered_converter(_DECODERS[target](encoder), encoder, error_parts)


def translate(request: ChatRequest, options: TargetOptions) -> Translation:
    """`request` for a target with `options` (cached on the request); `Untranslatable`
    when the target's dialect cannot carry it without changing its meaning."""
    cache = request.translations
    found = cache.get(options)
    if found is None:
        try:
            found = _translate(request, options)
        except Untranslatable as exc:
            found = exc
        cache[options] = found
    if isinstance(found, Untranslatable):
        raise found
    assert isinstance(found, Translation)
    return found


def _translate(request: ChatRequest, options: TargetOptions) -> Translation:
    ir = request.ir
    if ir is None:
        try:
            ir = _PARSE[request.dialect](request.payload)
        except Untranslatable:
            raise
        except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
            # A shape the caller's own API would refuse (the door check, failsoft/validate,
            # missed it): the caller's fault on every target, so a 400, never a skip that
            # lets a fallback of the caller's dialect answer it, nor Python's words.
            log.info("%s: unreadable %s request: %.200r", request.request_id, request.dialect, exc)
            message = f"the request does not have the shape the {request.dialect} API documents"
            raise InvalidRequest(message) from None
        request.ir = ir
    assert isinstance(ir, Request)
    warnings = Warnings(ir.dropped)
    try:
        payload = _BUILD[options.dialect](ir, options, warnings)
    except Untranslatable:
        raise
    except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
        log.warning("%s: %s → %s translation failed: %.200r", request.request_id,
                    request.dialect, options.dialect, exc)  # fmt: skip
        raise Untranslatable(f"failsoft could not write it for {options.dialect}") from None
    freeform: frozenset[str] = frozenset()
    if request.dialect == "responses":  # custom tools, namespaced ones by their flat names
        freeform = frozenset(t.name for t in ir.tools if t.freeform)
    return Translation(
        request.dialect,
        options.dialect,
        payload,
        tuple(warnings.items),
        freeform,
        ir.namespaced,
    )


def caller_include_usage(request: ChatRequest) -> bool:
    options = request.payload.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True
