"""OpenAI Chat Completions wire format (`/v1/chat/completions`), pure.

Error shape: `{"error": {"message", "type", "param", "code"}}`. Streams are `data:` frames
without `event:` lines, ending with `data: [DONE]`; an in-band error is a frame
`data: {"error": {...}}`, which the openai SDK raises as `openai.APIError`.
"""

from __future__ import annotations

from typing import Any

import orjson

from failsoft.dialects.base import (
    CONTENT,
    ERROR,
    MALFORMED,
    PREAMBLE,
    TERMINAL,
    TRUNCATED,
    ErrorInfo,
    merge_delta,
    rewrite_model,
)
from failsoft.dialects.sse import SSEEvent, encode

name = "openai"
exhausted_status = 503
exhausted_type = "service_unavailable_error"
request_id_header = "x-request-id"

_CONTEXT_WORDS = ("maximum context length", "context length", "context_length", "too many tokens")
_DELTA_CONTENT = ("content", "tool_calls", "refusal", "function_call", "audio", "reasoning_content")


def error_body(
    message: str,
    kind: str,
    *,
    code: str | None = None,
    param: str | None = None,
    request_id: str | None = None,
) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": kind, "param": param, "code": code}})


def stream_error(message: str, timeout: bool = False) -> bytes:
    """failsoft's in-band end for a broken stream; the openai SDK raises `APIError`."""
    code = "stream_timeout" if timeout else "stream_interrupted"
    return encode(error_body(message, "server_error", code=code))


def parse_error(body: bytes) -> ErrorInfo:
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ErrorInfo(message=body[:200].decode("utf-8", "replace") or None)
    err = obj.get("error") if isinstance(obj, dict) else None
    if isinstance(err, str):
        return ErrorInfo(message=err)
    if not isinstance(err, dict):
        return ErrorInfo()
    code = err.get("code")
    return ErrorInfo(
        type=_str(err.get("type")),
        code=str(code) if code is not None else None,
        message=_str(err.get("message")),
    )


def is_context_length(info: ErrorInfo) -> bool:
    if info.code == "context_length_exceeded":
        return True
    text = (info.message or "").lower()
    return any(word in text for word in _CONTEXT_WORDS)


def stream_body(payload: dict[str, Any], body: bytes, model: str) -> bytes:
    return rewrite_model(payload, body, model)


def assembled_body(payload: dict[str, Any], model: str) -> bytes:
    """A non-streaming request turned into a streaming one, usage included."""
    options = payload.get("stream_options")
    options = (
        {**options, "include_usage": True} if isinstance(options, dict) else {"include_usage": True}
    )
    return orjson.dumps({**payload, "model": model, "stream": True, "stream_options": options})


class Tracker:
    """Knows whether content started and whether every choice finished before `[DONE]`."""

    __slots__ = ("done", "finished", "last", "seen")

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.finished: set[int] = set()
        self.done = False
        self.last: Any = None

    @property
    def complete(self) -> bool:
        return self.done and bool(self.finished) and self.finished >= self.seen

    def feed(self, event: SSEEvent) -> int:
        data = event.data
        if data[:6] == b"[DONE]":
            self.done = True
            self.last = None
            return TERMINAL if self.complete else TRUNCATED
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            return MALFORMED
        self.last = obj
        if not isinstance(obj, dict):
            return MALFORMED
        if obj.get("error") is not None and not obj.get("choices"):
            return ERROR
        choices = obj.get("choices")
        if not choices:
            return CONTENT if obj.get("usage") else PREAMBLE
        kind = PREAMBLE
        for choice in choices:
            if not isinstance(choice, dict):
                return MALFORMED
            index = choice.get("index", 0)
            self.seen.add(index)
            if choice.get("finish_reason"):
                self.finished.add(index)
                kind = CONTENT
            delta = choice.get("delta")
            if isinstance(delta, dict) and any(delta.get(k) for k in _DELTA_CONTENT):
                kind = CONTENT
        return kind


class Assembler:
    """Rebuilds a `chat.completion` from `chat.completion.chunk`s.

    Known fields get their documented treatment (tool-call arguments joined by index,
    logprobs lists joined); unknown delta fields are merged generically so nothing the
    upstream sent is lost.
    """

    __slots__ = ("_choices", "_head", "_usage")

    def __init__(self) -> None:
        self._head: dict[str, Any] = {}
        self._choices: dict[int, dict[str, Any]] = {}
        self._usage: Any = None

    def add(self, obj: Any) -> None:
        if not self._head:
            self._head = {
                k: v
                for k, v in obj.items()
                if k not in ("choices", "usage", "object", "obfuscation")
            }
        if obj.get("usage"):
            self._usage = obj["usage"]
        for choice in obj.get("choices") or ():
            index = choice.get("index", 0)
            state = self._choices.get(index)
            if state is None:
                state = self._choices[index] = {
                    "message": {"role": "assistant"},
                    "tools": {},
                    "logprobs": None,
                    "finish_reason": None,
                }
            delta = choice.get("delta") or {}
            calls = delta.get("tool_calls")
            if calls:
                _merge_tool_calls(state["tools"], calls)
            if delta.get("role"):
                state["message"]["role"] = delta["role"]
            merge_delta(state["message"], delta, skip=("role", "tool_calls"))
            if choice.get("finish_reason"):
                state["finish_reason"] = choice["finish_reason"]
            logprobs = choice.get("logprobs")
            if logprobs:
                if state["logprobs"] is None:
                    state["logprobs"] = {}
                merge_delta(state["logprobs"], logprobs)

    def result(self) -> dict[str, Any]:
        choices = []
        for index in sorted(self._choices):
            state = self._choices[index]
            message = state["message"]
            message.setdefault("content", None)
            message.setdefault("refusal", None)
            if state["tools"]:
                message["tool_calls"] = [state["tools"][i] for i in sorted(state["tools"])]
                if message["content"] == "":
                    message["content"] = None
            choices.append(
                {
                    "index": index,
                    "message": message,
                    "logprobs": state["logprobs"],
                    "finish_reason": state["finish_reason"],
                }
            )
        out = {**self._head, "object": "chat.completion", "choices": choices}
        if self._usage is not None:
            out["usage"] = self._usage
        return out


def _merge_tool_calls(tools: dict[int, dict[str, Any]], calls: list[Any]) -> None:
    for call in calls:
        index = call.get("index", len(tools))
        slot = tools.get(index)
        if slot is None:
            slot = tools[index] = {
                "id": None,
                "type": "function",
                "function": {"name": "", "arguments": ""},
            }
        for key, value in call.items():
            if key == "index" or value is None:
                continue
            if key == "function":
                # The name comes once; some compatible servers repeat it, so never concatenate it.
                if value.get("name") and not slot["function"]["name"]:
                    slot["function"]["name"] = value["name"]
                merge_delta(slot["function"], value, skip=("name",))
            else:
                slot[key] = value


def tracker() -> Tracker:
    return Tracker()


def assembler() -> Assembler:
    return Assembler()


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
