"""Token counts and text as each upstream dialect reports them, normalised.

`Counts.input` is every input token the upstream billed, cached reads included; `cached` is
the part of it read from the provider's prompt cache (priced lower). Anthropic reports its
cache reads and writes beside `input_tokens`, the others inside it: both come out the same.
Pure functions of parsed JSON, no I/O: they run per event, only when spend is recorded.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Counts(NamedTuple):
    input: int | None
    output: int | None
    cached: int = 0


def _int(value: Any) -> int | None:
    return value if type(value) is int and value >= 0 else None


def openai_usage(usage: Any) -> Counts | None:
    """Chat Completions `usage` (a chunk's or an answer's)."""
    if type(usage) is not dict:
        return None
    details = usage.get("prompt_tokens_details")
    cached = _int(details.get("cached_tokens")) if type(details) is dict else None
    return Counts(
        _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens")), cached or 0
    )


def anthropic_usage(usage: Any) -> Counts | None:
    """Messages `usage`: `input_tokens` leaves out cache reads and writes; added back."""
    if type(usage) is not dict:
        return None
    plain = _int(usage.get("input_tokens"))
    read = _int(usage.get("cache_read_input_tokens")) or 0
    written = _int(usage.get("cache_creation_input_tokens")) or 0
    total = None if plain is None else plain + read + written
    return Counts(total, _int(usage.get("output_tokens")), read)


def gemini_usage(usage: Any) -> Counts | None:
    """`usageMetadata`: thoughts are billed as output."""
    if type(usage) is not dict:
        return None
    out = _int(usage.get("candidatesTokenCount"))
    thoughts = _int(usage.get("thoughtsTokenCount")) or 0
    return Counts(
        _int(usage.get("promptTokenCount")),
        None if out is None and not thoughts else (out or 0) + thoughts,
        _int(usage.get("cachedContentTokenCount")) or 0,
    )


def responses_usage(usage: Any) -> Counts | None:
    """Responses API `usage`."""
    if type(usage) is not dict:
        return None
    details = usage.get("input_tokens_details")
    cached = _int(details.get("cached_tokens")) if type(details) is dict else None
    return Counts(_int(usage.get("input_tokens")), _int(usage.get("output_tokens")), cached or 0)


def usage_chunk(obj: Any) -> bool:
    """An OpenAI stream's usage chunk (no choices, a usage): removed from the caller's
    stream when failsoft asked for it and the caller did not."""
    return type(obj) is dict and not obj.get("choices") and bool(obj.get("usage"))


def answer_counts(dialect: str, answer: Any) -> Counts | None:
    """The usage of a whole (non-streaming) answer in `dialect`, if it reports one."""
    if type(answer) is not dict:
        return None
    if dialect == "openai":
        return openai_usage(answer.get("usage"))
    if dialect == "anthropic":
        return anthropic_usage(answer.get("usage"))
    if dialect == "gemini":
        return gemini_usage(answer.get("usageMetadata"))
    if dialect == "responses":
        return responses_usage(answer.get("usage"))
    return None


def event_counts(dialect: str, obj: Any) -> Counts | None:
    """The usage one stream event reports, if any (Anthropic splits it: input in
    `message_start`, output in `message_delta`)."""
    if type(obj) is not dict:
        return None
    if dialect == "openai":
        usage = obj.get("usage")
        return openai_usage(usage) if usage else None
    if dialect == "anthropic":
        kind = obj.get("type")
        if kind == "message_start":
            message = obj.get("message")
            return anthropic_usage(message.get("usage")) if type(message) is dict else None
        if kind == "message_delta":
            return anthropic_usage(obj.get("usage"))
        return None
    if dialect == "gemini":
        usage = obj.get("usageMetadata")
        return gemini_usage(usage) if usage else None
    if dialect == "responses" and obj.get("type") in (
        "response.completed",
        "response.incomplete",
        "response.failed",
    ):
        response = obj.get("response")
        return responses_usage(response.get("usage")) if type(response) is dict else None
    return None


def event_text(dialect: str, obj: Any) -> int:
    """Characters of generated text (and tool arguments) in one stream event: the estimate
    of output tokens when the upstream never reported its usage (a cut stream)."""
    if type(obj) is not dict:
        return 0
    n = 0
    if dialect == "openai":
        for choice in obj.get("choices") or ():
            delta = choice.get("delta") if type(choice) is dict else None
            if type(delta) is dict:
                n += _len(delta.get("content")) + _len(delta.get("reasoning_content"))
                for call in delta.get("tool_calls") or ():
                    fn = call.get("function") if type(call) is dict else None
                    if type(fn) is dict:
                        n += _len(fn.get("arguments"))
        return n
    if dialect == "anthropic":
        delta = obj.get("delta")
        if type(delta) is dict:
            return (
                _len(delta.get("text"))
                + _len(delta.get("partial_json"))
                + _len(delta.get("thinking"))
            )
        return 0
    if dialect == "gemini":
        for candidate in obj.get("candidates") or ():
            content = candidate.get("content") if type(candidate) is dict else None
            parts = content.get("parts") if type(content) is dict else None
            for part in parts or ():
                if type(part) is dict:
                    n += _len(part.get("text"))
        return n
    if dialect == "responses" and str(obj.get("type", "")).endswith(".delta"):
        return _len(obj.get("delta"))
    return 0


def _len(value: Any) -> int:
    return len(value) if type(value) is str else 0
