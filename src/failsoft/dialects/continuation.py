"""Following a stream's text, and writing more of it, for mid-stream resume. Pure.

A `Transcript` watches a stream's parsed events: the assistant text so far, whether the
answer is plain text (no tool calls, thinking blocks or several choices, which a
continuation could not reproduce faithfully), and how it ended. A `Framer` writes further
text, and the end, as events that continue the caller's stream where it broke: same ids,
same content block, proper terminal events.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from failsoft.dialects.sse import encode


class Transcript(Protocol):
    text: str
    resumable: bool
    stop: str | None
    usage: dict[str, Any] | None

    def observe(self, obj: Any) -> str | None:
        """Take one parsed event; the text it adds, if any."""
        ...


class Framer(Protocol):
    def text(self, text: str) -> bytes: ...

    def finish(self, continuation: Transcript) -> bytes: ...


_NOT_TEXT = ("tool_calls", "function_call", "refusal", "audio")


class OpenAITranscript:
    __slots__ = ("head", "resumable", "stop", "text", "usage")

    def __init__(self) -> None:
        self.text = ""
        self.resumable = True
        self.stop: str | None = None
        self.usage: dict[str, Any] | None = None
        self.head: dict[str, Any] = {}

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
                self.text += content
                added = content
            if choice.get("finish_reason"):
                self.stop = choice["finish_reason"]
        return added


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
        return self._chunk({"content": text}, None)

    def finish(self, continuation: Transcript) -> bytes:
        out = self._chunk({}, continuation.stop or "stop")
        if self._include_usage and continuation.usage is not None:
            out += encode(orjson.dumps({**self._head, "choices": [], "usage": continuation.usage}))
        return out + b"data: [DONE]\n\n"


class AnthropicTranscript:
    __slots__ = ("message", "next_index", "open_index", "resumable", "stop", "text", "usage")

    def __init__(self) -> None:
        self.text = ""
        self.resumable = True
        self.stop: str | None = None
        self.usage: dict[str, Any] | None = None
        self.message: dict[str, Any] = {}
        self.open_index: int | None = None
        self.next_index = 0

    def observe(self, obj: Any) -> str | None:
        if not isinstance(obj, dict):
            return None
        kind = obj.get("type")
        if kind == "content_block_delta":
            delta = obj.get("delta") or {}
            if delta.get("type") == "text_delta":
                text = delta.get("text") or ""
                self.text += text
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


class AnthropicFramer:
    """Deltas on the broken stream's open text block (or a new one), then a proper end.

    It keeps the original transcript current (text, open block), so that a second resume
    continues from what the caller has really seen.
    """

    __slots__ = ("_original", "_output")

    def __init__(self, original: AnthropicTranscript) -> None:
        self._original = original
        self._output = (original.usage or {}).get("output_tokens") or 0

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
        delta = {"type": "content_block_delta", "index": original.open_index,
                 "delta": {"type": "text_delta", "text": text}}  # fmt: skip
        return out + encode(orjson.dumps(delta), "content_block_delta")

    def finish(self, continuation: Transcript) -> bytes:
        out = b""
        index = self._original.open_index
        if index is not None:
            stop = {"type": "content_block_stop", "index": index}
            out += encode(orjson.dumps(stop), "content_block_stop")
            self._original.open_index = None
        output = self._output + ((continuation.usage or {}).get("output_tokens") or 0)
        delta = {"type": "message_delta",
                 "delta": {"stop_reason": continuation.stop or "end_turn", "stop_sequence": None},
                 "usage": {"output_tokens": output}}  # fmt: skip
        out += encode(orjson.dumps(delta), "message_delta")
        return out + encode(b'{"type":"message_stop"}', "message_stop")


def transcript(dialect: str) -> OpenAITranscript | AnthropicTranscript:
    return OpenAITranscript() if dialect == "openai" else AnthropicTranscript()


def framer(
    original: OpenAITranscript | AnthropicTranscript, include_usage: bool
) -> OpenAIFramer | AnthropicFramer:
    if isinstance(original, OpenAITranscript):
        return OpenAIFramer(original, include_usage)
    return AnthropicFramer(original)


def strip_overlap(said: str, more: str, window: int = 200, minimum: int = 4) -> str:
    """`more` without the beginning that repeats the end of `said` (at least `minimum`
    characters long, so a lone shared letter or space is never taken for a repeat)."""
    tail = said[-window:]
    for size in range(min(len(tail), len(more)), minimum - 1, -1):
        if tail.endswith(more[:size]):
            return more[size:]
    return more
