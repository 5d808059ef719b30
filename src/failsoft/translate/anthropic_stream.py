"""Anthropic Messages event streams ⇄ the internal event grammar.

Decoding is nearly one to one; thinking blocks become reasoning blocks, sealed with the
original block (`thinking.py`) when they stop, and any block kind another dialect has no
place for is skipped whole. Encoding writes the event sequence the anthropic SDK's
`messages.stream()` accumulator expects, with block indexes counted from 0 and usage
(input tokens included, when the upstream only tells them at the end) on `message_delta`.
"""

from __future__ import annotations

from typing import Any

import orjson

from failsoft.translate import thinking
from failsoft.translate.anthropic import message_id, usage_body
from failsoft.translate.anthropic import parse_usage as parse_anthropic_usage
from failsoft.translate.common import caller_anthropic_id
from failsoft.translate.ir import Usage
from failsoft.translate.stream import Frame, IgnoresReasoning, Sink


class AnthropicDecoder:
    __slots__ = ("_seq", "_skipped", "_stop", "_thinking", "_usage", "sink")

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self._skipped: set[int] = set()
        self._thinking: dict[int, dict[str, Any]] = {}
        """Open thinking blocks by index: the block as it grows from its deltas."""
        self._stop: str | None = None
        self._seq: str | None = None
        self._usage: dict[str, Any] = {}

    def feed(self, kind: int, obj: Any) -> None:
        event = obj.get("type")
        sink = self.sink
        if event == "content_block_delta":
            index = obj.get("index", 0)
            if index in self._skipped:
                return
            delta = obj.get("delta") or {}
            what = delta.get("type")
            if what == "text_delta":
                sink.text(index, delta.get("text") or "")
            elif what == "input_json_delta":
                fragment = delta.get("partial_json")
                if fragment:
                    sink.tool_args(index, fragment)
            elif what == "thinking_delta" and index in self._thinking:
                said = str(delta.get("thinking") or "")
                self._thinking[index]["thinking"] += said
                if said:
                    sink.reasoning_text(index, said)
            elif what == "signature_delta" and index in self._thinking:
                self._thinking[index]["signature"] += str(delta.get("signature") or "")
        elif event == "content_block_start":
            index = obj.get("index", 0)
            block = obj.get("content_block") or {}
            what = block.get("type")
            if what == "text":
                sink.text_start(index)
                if block.get("text"):
                    sink.text(index, block["text"])
            elif what == "tool_use":
                sink.tool_start(index, str(block.get("id") or ""), str(block.get("name") or ""))
                if block.get("input"):
                    sink.tool_args(index, orjson.dumps(block["input"]).decode())
            elif what in ("thinking", "redacted_thinking"):
                self._thinking[index] = grown = dict(block)
                if what == "thinking":
                    grown["thinking"] = str(block.get("thinking") or "")
                    grown["signature"] = str(block.get("signature") or "")
                sink.reasoning_start(index)
                if grown.get("thinking"):
                    sink.reasoning_text(index, grown["thinking"])
            else:
                self._skipped.add(index)
        elif event == "content_block_stop":
            index = obj.get("index", 0)
            done = self._thinking.pop(index, None)
            if done is not None and thinking.clean(done):
                sink.reasoning_seal(index, thinking.encode([done]))
            if index not in self._skipped:
                sink.block_stop(index)
        elif event == "message_start":
            message = obj.get("message") or {}
            self._usage = dict(message.get("usage") or {})
            sink.start(
                str(message.get("id") or ""),
                str(message.get("model") or ""),
                parse_anthropic_usage(self._usage),
            )
        elif event == "message_delta":
            delta = obj.get("delta") or {}
            self._stop = delta.get("stop_reason") or self._stop
            self._seq = delta.get("stop_sequence") or self._seq
            usage = obj.get("usage")
            if isinstance(usage, dict):
                self._usage.update({k: v for k, v in usage.items() if v is not None})
        elif event == "message_stop":
            stop = self._stop or "end_turn"
            if stop == "model_context_window_exceeded":
                stop = "max_tokens"
            sink.finish(stop, self._seq, parse_anthropic_usage(self._usage))


class AnthropicEncoder(IgnoresReasoning):
    __slots__ = ("_blocks", "_open", "frames")

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self._blocks: dict[int, int] = {}
        self._open: set[int] = set()

    def start(self, ident: str, model: str, usage: Usage) -> None:
        body = usage_body(usage)
        body["output_tokens"] = 1  # a placeholder, as the API sends (the total comes at the end)
        message: dict[str, Any] = {
            "id": message_id(ident),
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": model,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": body,
        }
        self.frames.append(("message_start", {"type": "message_start", "message": message}))

    def _begin(self, index: int, block: dict[str, Any]) -> int:
        position = self._blocks[index] = len(self._blocks)
        self._open.add(position)
        event = {"type": "content_block_start", "index": position, "content_block": block}
        self.frames.append(("content_block_start", event))
        return position

    def text_start(self, index: int) -> None:
        self._begin(index, {"type": "text", "text": ""})

    def text(self, index: int, text: str) -> None:
        position = self._blocks.get(index)
        if position is None:
            position = self._begin(index, {"type": "text", "text": ""})
        delta = {"type": "text_delta", "text": text}
        event = {"type": "content_block_delta", "index": position, "delta": delta}
        self.frames.append(("content_block_delta", event))

    def tool_start(self, index: int, ident: str, name: str) -> None:
        self._begin(
            index, {"type": "tool_use", "id": caller_anthropic_id(ident), "name": name, "input": {}}
        )

    def tool_args(self, index: int, fragment: str) -> None:
        position = self._blocks.get(index, 0)
        delta = {"type": "input_json_delta", "partial_json": fragment}
        event = {"type": "content_block_delta", "index": position, "delta": delta}
        self.frames.append(("content_block_delta", event))

    def block_stop(self, index: int) -> None:
        position = self._blocks.get(index)
        if position is not None and position in self._open:
            self._open.discard(position)
            event = {"type": "content_block_stop", "index": position}
            self.frames.append(("content_block_stop", event))

    def finish(self, stop: str, stop_sequence: str | None, usage: Usage) -> None:
        for position in sorted(self._open):
            self.frames.append(
                ("content_block_stop", {"type": "content_block_stop", "index": position})
            )
        self._open.clear()
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": stop_sequence},
            "usage": usage_body(usage),
        }
        self.frames.append(("message_delta", delta))
        self.frames.append(("message_stop", {"type": "message_stop"}))
