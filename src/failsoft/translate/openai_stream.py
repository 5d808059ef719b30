"""OpenAI `chat.completion.chunk` streams ⇄ the internal event grammar.

Decoding: content deltas become one text block; each tool call (by its `index`) one tool
block; `finish_reason` is held until `[DONE]`, because the usage chunk that
`include_usage` adds comes between them and an Anthropic caller wants usage with the end.
Encoding: the chunks the openai SDK (and its `chat.completions.stream()` helper) expects:
a role chunk, content and tool-call deltas by index, a finish chunk, the usage chunk when
the caller asked for it, `[DONE]`.
"""

from __future__ import annotations

import time
from typing import Any

from failsoft.dialects.base import TERMINAL
from failsoft.translate.ir import Usage
from failsoft.translate.openai_answer import (
    FINISH_TO_STOP,
    STOP_TO_FINISH,
    completion_id,
    usage_body,
)
from failsoft.translate.openai_answer import parse_usage as parse_openai_usage
from failsoft.translate.stream import BlockTracker, Frame, IgnoresReasoning, Sink


class OpenAIDecoder:
    __slots__ = ("_blocks", "_started", "_stop", "_tools", "_usage", "sink")

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self._blocks = BlockTracker(sink)
        self._started = False
        self._tools: dict[int, int] = {}
        self._stop: str | None = None
        self._usage = Usage()

    def feed(self, kind: int, obj: Any) -> None:
        if obj is None:  # [DONE]
            if kind == TERMINAL:
                self._blocks.close()
                self.sink.finish(self._stop or "end_turn", None, self._usage)
            return
        if not self._started:
            self._started = True
            self.sink.start(str(obj.get("id") or ""), str(obj.get("model") or ""), Usage())
        usage = obj.get("usage")
        if usage:
            self._usage = parse_openai_usage(usage)
        for choice in obj.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            if delta:
                content = delta.get("content")
                if content:
                    self._blocks.text(content)
                refusal = delta.get("refusal")
                if refusal:
                    self._blocks.text(refusal)
                    self._stop = "refusal"
                calls = delta.get("tool_calls")
                if calls:
                    for call in calls:
                        self._call(call)
            finish = choice.get("finish_reason")
            if finish:
                self._blocks.close()
                if self._stop != "refusal":
                    self._stop = FINISH_TO_STOP.get(finish, "end_turn")

    def _call(self, call: dict[str, Any]) -> None:
        position = call.get("index", 0)
        function = call.get("function") or {}
        index = self._tools.get(position)
        if index is None:
            ident = call.get("id") or f"call_{position}"
            index = self._tools[position] = self._blocks.tool(
                str(ident), str(function.get("name") or "")
            )
        arguments = function.get("arguments")
        if arguments:
            self.sink.tool_args(index, arguments)


class OpenAIEncoder(IgnoresReasoning):
    __slots__ = ("_head", "_include_usage", "_tools", "frames")

    def __init__(self, include_usage: bool) -> None:
        self.frames: list[Frame] = []
        self._include_usage = include_usage
        self._head: dict[str, Any] = {}
        self._tools: dict[int, int] = {}

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> None:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        obj = {**self._head, "choices": [choice]}
        if self._include_usage:
            obj["usage"] = None
        self.frames.append((None, obj))

    def start(self, ident: str, model: str, usage: Usage) -> None:
        self._head = {
            "id": completion_id(ident),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }
        self._chunk({"role": "assistant", "content": "", "refusal": None})

    def text_start(self, index: int) -> None:
        pass

    def text(self, index: int, text: str) -> None:
        self._chunk({"content": text})

    def tool_start(self, index: int, ident: str, name: str) -> None:
        position = self._tools[index] = len(self._tools)
        call = {
            "index": position,
            "id": ident,
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        self._chunk({"tool_calls": [call]})

    def tool_args(self, index: int, fragment: str) -> None:
        position = self._tools.get(index, 0)
        self._chunk({"tool_calls": [{"index": position, "function": {"arguments": fragment}}]})

    def block_stop(self, index: int) -> None:
        pass

    def finish(self, stop: str, stop_sequence: str | None, usage: Usage) -> None:
        self._chunk({}, STOP_TO_FINISH.get(stop, "stop"))
        if self._include_usage:
            self.frames.append((None, {**self._head, "choices": [], "usage": usage_body(usage)}))
        self.frames.append((None, None))
