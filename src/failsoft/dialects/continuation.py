"""Following a stream's text, asking for the rest of it, and writing more of it. Pure.

For mid-stream resume (`router/resume.py`), per caller dialect:

* a `Transcript` watches a stream's parsed events: the assistant text so far, whether the
  answer is plain text (no tool calls, thinking blocks or several choices, which a
  continuation could not reproduce faithfully), how it ended, and its usage;
* `continuation_payload` writes the request for the rest: the conversation, then the
  text so far as a final assistant message (a prefill) or as an assistant turn followed
  by a user turn asking to go on;
* a `Framer` writes further text, keep-alives and the end as events that continue the
  caller's stream where it broke: same ids, same content block, proper terminal events.

Responses callers have their own transcript and framer (`responses_continuation.py`): their
stream is numbered, so the rest is written by the broken stream's own encoder (for a stream
relayed as is from a Responses target, one that takes over where its caller is).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from failsoft.dialects import responses_continuation as responses
from failsoft.dialects.responses_continuation import ResponsesFramer, ResponsesTranscript
from failsoft.dialects.sse import encode
from failsoft.translate.responses_stream import ResponsesEncoder
from failsoft.translate.stream import StreamConverter


@dataclass(slots=True)
class Tally:
    """Token counts for the usage of a resumed answer."""

    prompt: int | None = None
    """The original prompt: exact when the stream said it (Anthropic's message_start),
    else estimated from the continuation's own count."""
    delivered: int = 0
    """Output before the break (estimated: the provider's count for it never came)."""
    continued: int = 0
    """Output of the continuation(s), as their providers counted it."""


class Transcript(Protocol):
    text: str
    resumable: bool
    stop: str | None
    usage: dict[str, Any] | None
    deltas: int

    def observe(self, obj: Any) -> str | None:
        """Take one parsed event; the text it adds, if any."""
        ...


def estimate_tokens(text: str, deltas: int) -> int:
    """Output tokens in `text`, streamed in `deltas` pieces: a piece is at least a token,
    and English runs about four characters a token (the larger guess wins, so that a
    continuation asks for fewer tokens rather than more)."""
    return max(deltas, math.ceil(len(text) / 4))


_NOT_TEXT = ("tool_calls", "function_call", "refusal", "audio")


class OpenAITranscript:
    __slots__ = ("deltas", "head", "max_chars", "resumable", "stop", "text", "usage")

    def __init__(self, max_chars: int = 1 << 62) -> None:
        self.text = ""
        self.resumable = True
        self.stop: str | None = None
        self.usage: dict[str, Any] | None = None
        self.head: dict[str, Any] = {}
        self.deltas = 0
        self.max_chars = max_chars

    def observe(self, obj: Any) -> str | None:
        if not isinstance(obj, dict):
            return None
        if not self.head:
            self.head = {
                k: obj[k] for k in ("id", "created", "model", "system_fingerprint") if k in obj
            }
        if obj.get("usage"):
            self.usage = obj["usage"]
        added = None
        for choice in obj.get("choices") or ():
            if choice.get("index", 0) != 0:
                self.resumable = False
                continue
            delta = choice.get("delta") or {}
            if any(delta.get(key) for key in _NOT_TEXT):
                self.resumable = False
            content = delta.get("content")
            if content:
                added = content
                _said(self, content)
            if choice.get("finish_reason"):
                self.stop = choice["finish_reason"]
        return added


class AnthropicTranscript:
    __slots__ = (
        "deltas",
        "max_chars",
        "message",
        "next_index",
        "open_index",
        "resumable",
        "stop",
        "text",
        "usage",
    )

    def __init__(self, max_chars: int = 1 << 62) -> None:
        self.text = ""
        self.resumable = True
        self.stop: str | None = None
        self.usage: dict[str, Any] | None = None
        self.message: dict[str, Any] = {}
        self.open_index: int | None = None
        self.next_index = 0
        self.deltas = 0
        self.max_chars = max_chars

    def observe(self, obj: Any) -> str | None:
        if not isinstance(obj, dict):
            return None
        kind = obj.get("type")
        if kind == "content_block_delta":
            delta = obj.get("delta") or {}
            if delta.get("type") == "text_delta":
                text = delta.get("text") or ""
                _said(self, text)
                return text
            self.resumable = False
        elif kind == "content_block_start":
            block = obj.get("content_block") or {}
            index = obj.get("index", self.next_index)
            if block.get("type") != "text":
                self.resumable = False
            self.open_index = index
            self.next_index = index + 1
            self.text += block.get("text") or ""
        elif kind == "content_block_stop":
            self.open_index = None
        elif kind == "message_start":
            self.message = obj.get("message") or {}
            self.usage = dict(self.message.get("usage") or {})
        elif kind == "message_delta":
            self.stop = (obj.get("delta") or {}).get("stop_reason")
            if isinstance(obj.get("usage"), dict):
                self.usage = {**(self.usage or {}), **obj["usage"]}
        return None


def _said(transcript: OpenAITranscript | AnthropicTranscript, text: str) -> None:
    """One more piece of the answer. Past `max_chars` the answer is not kept twice: it
    will not be resumed."""
    transcript.deltas += 1
    if transcript.resumable:
        transcript.text += text
        if len(transcript.text) > transcript.max_chars:
            transcript.resumable = False
            transcript.text = ""


AnyTranscript = OpenAITranscript | AnthropicTranscript | ResponsesTranscript


def transcript(dialect: str, max_chars: int = 1 << 62) -> AnyTranscript:
    if dialect == "openai":
        return OpenAITranscript(max_chars)
    if dialect == "responses":
        return ResponsesTranscript(max_chars)
    return AnthropicTranscript(max_chars)


def prompt_tokens(transcript: AnyTranscript) -> int | None:
    usage = transcript.usage or {}
    key = "prompt_tokens" if isinstance(transcript, OpenAITranscript) else "input_tokens"
    value = usage.get(key)
    return value if isinstance(value, int) else None


def output_tokens(transcript: AnyTranscript) -> int:
    usage = transcript.usage or {}
    key = "completion_tokens" if isinstance(transcript, OpenAITranscript) else "output_tokens"
    value = usage.get(key)
    return value if isinstance(value, int) else transcript.deltas


# ---------------------------------------------------------------------- the request


def forced_json(dialect: str, payload: dict[str, Any]) -> bool:
    """The caller forces JSON output: a user-turn continuation could not be trusted to
    keep the document's shape, so only a prefill may continue it."""
    if dialect == "responses":
        return responses.forced_json(payload)
    if dialect == "openai":
        fmt = payload.get("response_format")
        return isinstance(fmt, dict) and fmt.get("type") in ("json_schema", "json_object")
    return payload.get("output_format") is not None


def continuation_payload(
    dialect: str,
    payload: dict[str, Any],
    said: str,
    prompt: str | None,
    max_tokens: int | None,
) -> dict[str, Any]:
    """The caller's request, asking for the rest of the answer that began with `said`:
    with `prompt`, as an assistant turn then that user turn; without, `said` (already
    right-stripped) as a final assistant message to continue."""
    if dialect == "responses":
        return responses.payload(payload, said, prompt, max_tokens)
    out = dict(payload)
    turns: list[dict[str, Any]] = [{"role": "assistant", "content": said}]
    if prompt is not None:
        turns.append({"role": "user", "content": prompt})
    out["messages"] = [*payload["messages"], *turns]
    out["stream"] = True
    if max_tokens is not None:
        if dialect == "anthropic":
            out["max_tokens"] = max_tokens
        elif "max_completion_tokens" in out:
            out["max_completion_tokens"] = max_tokens
        elif "max_tokens" in out:
            out["max_tokens"] = max_tokens
    return out


def max_tokens(dialect: str, payload: dict[str, Any]) -> int | None:
    """The caller's output limit, if it gave one."""
    if dialect == "responses":
        return responses.max_tokens(payload)
    keys = ("max_tokens",) if dialect == "anthropic" else ("max_completion_tokens", "max_tokens")
    for key in keys:
        value = payload.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


# ---------------------------------------------------------------------- writing more


class OpenAIFramer:
    """Chunks with the broken stream's id, creation time and model (keeping the original
    transcript's text current, for a second resume)."""

    __slots__ = ("_head", "_include_usage", "_original")

    def __init__(self, original: OpenAITranscript, include_usage: bool) -> None:
        self._original = original
        self._head = {"object": "chat.completion.chunk", **original.head}
        self._include_usage = include_usage

    def _chunk(self, delta: dict[str, Any], finish: str | None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return encode(orjson.dumps({**self._head, "choices": [choice]}))

    def text(self, text: str) -> bytes:
        self._original.text += text
        self._original.deltas += 1
        return self._chunk({"content": text}, None)

    @staticmethod
    def keepalive() -> bytes:
        return b": failsoft is fetching the rest of this answer\n\n"

    def finish(self, stop: str | None, tally: Tally) -> bytes:
        out = self._chunk({}, stop or "stop")
        if self._include_usage:
            completion = tally.delivered + tally.continued
            prompt = tally.prompt or 0
            usage = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
            out += encode(orjson.dumps({**self._head, "choices": [], "usage": usage}))
        return out + b"data: [DONE]\n\n"


class AnthropicFramer:
    """Deltas on the broken stream's open text block (or a new one), then a proper end.

    It keeps the original transcript current (text, open block), so that a second resume
    continues from what the caller has really seen.
    """

    __slots__ = ("_original",)

    def __init__(self, original: AnthropicTranscript) -> None:
        self._original = original

    def text(self, text: str) -> bytes:
        original = self._original
        out = b""
        if original.open_index is None:
            original.open_index = original.next_index
            original.next_index += 1
            start = {"type": "content_block_start", "index": original.open_index,
                     "content_block": {"type": "text", "text": ""}}  # fmt: skip
            out += encode(orjson.dumps(start), "content_block_start")
        original.text += text
        original.deltas += 1
        delta = {"type": "content_block_delta", "index": original.open_index,
                 "delta": {"type": "text_delta", "text": text}}  # fmt: skip
        return out + encode(orjson.dumps(delta), "content_block_delta")

    @staticmethod
    def keepalive() -> bytes:
        return b'event: ping\ndata: {"type":"ping"}\n\n'

    def finish(self, stop: str | None, tally: Tally) -> bytes:
        out = b""
        index = self._original.open_index
        if index is not None:
            stop_block = {"type": "content_block_stop", "index": index}
            out += encode(orjson.dumps(stop_block), "content_block_stop")
            self._original.open_index = None
        delta = {"type": "message_delta",
                 "delta": {"stop_reason": stop or "end_turn", "stop_sequence": None},
                 "usage": {"output_tokens": tally.delivered + tally.continued}}  # fmt: skip
        out += encode(orjson.dumps(delta), "message_delta")
        return out + encode(b'{"type":"message_stop"}', "message_stop")


AnyFramer = OpenAIFramer | AnthropicFramer | ResponsesFramer


def framer(
    original: AnyTranscript, include_usage: bool, converter: StreamConverter | None = None
) -> AnyFramer:
    """`converter`: the broken stream's own, which a Responses framer writes with."""
    if isinstance(original, ResponsesTranscript):
        assert converter is not None
        encoder = converter.encoder
        assert isinstance(encoder, ResponsesEncoder)
        return ResponsesFramer(original, encoder, converter.drain)
    if isinstance(original, OpenAITranscript):
        return OpenAIFramer(original, include_usage)
    return AnthropicFramer(original)
