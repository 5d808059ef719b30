"""OpenAI Responses event streams ⇄ the internal event grammar.

Encoding writes the named events the openai SDK's `responses.stream()` accumulator
expects, each with a `sequence_number` one above the last. A reasoning block (Anthropic
thinking) becomes a `reasoning` item: its text as one summary part, streamed, and its
sealed state as the `encrypted_content` of the item's `done`. The first number is a
parameter, so a stream continued on another target after failover keeps counting.
Decoding reads an upstream Responses stream: message text and function calls become
blocks; reasoning items have no place in the internal grammar and are skipped whole, as
Anthropic thinking blocks are.
"""

from __future__ import annotations

from typing import Any

import orjson

from failsoft.translate.ir import Reasoning, Usage
from failsoft.translate.responses_answer import (
    call_item,
    envelope,
    message_item,
    parse_usage,
    reasoning_item,
    status_fields,
    stop_reason,
    usage_body,
)
from failsoft.translate.stream import BlockTracker, Frame, Sink


class ResponsesEncoder:
    """A `Sink` writing Responses SSE frames (`event:` name, JSON) into `frames`."""

    __slots__ = ("_blocks", "_freeform", "_head", "_output", "frames", "sequence")

    def __init__(self, sequence: int = 0, freeform: frozenset[str] = frozenset()) -> None:
        self.frames: list[Frame] = []
        self.sequence = sequence
        """The next event's `sequence_number`; where a continuation should start."""
        self._freeform = freeform
        self._head: dict[str, Any] = {}
        self._output: list[dict[str, Any]] = []
        self._blocks: dict[int, dict[str, Any]] = {}

    def _emit(self, kind: str, **fields: Any) -> None:
        self.frames.append((kind, {"type": kind, "sequence_number": self.sequence, **fields}))
        self.sequence += 1

    def _response(self, status: str, **extra: Any) -> dict[str, Any]:
        out = envelope(self._head["id"], self._head["model"], self._head["created"], [])
        out["output"] = list(self._output)
        out["status"] = status
        out.update(extra)
        return out

    def start(self, ident: str, model: str, usage: Usage) -> None:
        self._head = {"id": ident, "model": model, "created": None}
        created = self._response("in_progress")
        self._head["id"] = created["id"]
        self._head["created"] = created["created_at"]
        self._emit("response.created", response=created)
        self._emit("response.in_progress", response=self._response("in_progress"))

    def text_start(self, index: int) -> None:
        position = len(self._output)
        item = message_item(f"msg_{self._head['id']}_{position}", "", "in_progress")
        item["content"] = []
        self._blocks[index] = {"item": item, "position": position, "text": []}
        self._output.append(item)
        self._emit("response.output_item.added", output_index=position, item=dict(item))
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        self._emit(
            "response.content_part.added",
            item_id=item["id"],
            output_index=position,
            content_index=0,
            part=part,
        )

    def text(self, index: int, text: str) -> None:
        block = self._blocks[index]
        block["text"].append(text)
        self._emit(
            "response.output_text.delta",
            item_id=block["item"]["id"],
            output_index=block["position"],
            content_index=0,
            delta=text,
            logprobs=[],
        )

    def more_text(self, text: str) -> None:
        """Text a resumed stream goes on with (`router/resume.py`): in the open message
        item, else in a new one."""
        for index, block in self._blocks.items():
            if block["item"]["type"] == "message":
                self.text(index, text)
                return
        index = -1 - len(self._output)  # the decoder's indexes are >= 0
        self.text_start(index)
        self.text(index, text)

    def tool_start(self, index: int, ident: str, name: str) -> None:
        position = len(self._output)
        freeform = name in self._freeform
        item = call_item(
            f"fc_{self._head['id']}_{position}", ident, name, "", "in_progress", freeform
        )
        self._blocks[index] = {"item": item, "position": position, "text": [], "tool": True}
        self._output.append(item)
        self._emit("response.output_item.added", output_index=position, item=dict(item))

    def tool_args(self, index: int, fragment: str) -> None:
        block = self._blocks[index]
        block["text"].append(fragment)
        if block["item"]["type"] == "function_call":  # a custom tool's input comes whole
            self._emit(
                "response.function_call_arguments.delta",
                item_id=block["item"]["id"],
                output_index=block["position"],
                delta=fragment,
            )

    def reasoning_start(self, index: int) -> None:
        position = len(self._output)
        item = reasoning_item(f"rs_{self._head['id']}_{position}", Reasoning())
        self._blocks[index] = {"item": item, "position": position, "text": [], "reasoning": True}
        self._output.append(item)
        self._emit("response.output_item.added", output_index=position, item=dict(item))

    def reasoning_text(self, index: int, text: str) -> None:
        block = self._blocks[index]
        ids = {"item_id": block["item"]["id"], "output_index": block["position"]}
        if not block["text"]:
            part = {"type": "summary_text", "text": ""}
            self._emit("response.reasoning_summary_part.added", **ids, summary_index=0, part=part)
        block["text"].append(text)
        self._emit("response.reasoning_summary_text.delta", **ids, summary_index=0, delta=text)

    def reasoning_seal(self, index: int, encrypted: str) -> None:
        self._blocks[index]["sealed"] = encrypted

    def _reasoning_stop(self, block: dict[str, Any]) -> dict[str, Any]:
        item, text = block["item"], "".join(block["text"])
        if block["text"]:
            ids = {"item_id": item["id"], "output_index": block["position"], "summary_index": 0}
            part = {"type": "summary_text", "text": text}
            self._emit("response.reasoning_summary_text.done", **ids, text=text)
            self._emit("response.reasoning_summary_part.done", **ids, part=part)
        summary = [text] if text else []
        return reasoning_item(item["id"], Reasoning(None, summary, block.get("sealed")))

    def block_stop(self, index: int) -> None:
        block = self._blocks.pop(index, None)
        if block is None:
            return
        item, position = block["item"], block["position"]
        text = "".join(block["text"])
        ids = {"item_id": item["id"], "output_index": position}
        if block.get("reasoning"):
            done = self._reasoning_stop(block)
        elif block.get("tool"):
            done = call_item(
                item["id"],
                item["call_id"],
                item["name"],
                text,
                "completed",
                item["type"] == "custom_tool_call",
            )
            if done["type"] == "custom_tool_call":
                self._emit("response.custom_tool_call_input.delta", **ids, delta=done["input"])
                self._emit("response.custom_tool_call_input.done", **ids, input=done["input"])
            else:
                self._emit("response.function_call_arguments.done", **ids, arguments=text)
        else:
            done = message_item(item["id"], text, "completed")
            part = done["content"][0]
            self._emit("response.output_text.done", **ids, content_index=0, text=text, logprobs=[])
            self._emit("response.content_part.done", **ids, content_index=0, part=part)
        self._output[position] = done
        self._emit("response.output_item.done", output_index=position, item=done)

    def finish(self, stop: str, stop_sequence: str | None, usage: Usage) -> None:
        for index in list(self._blocks):
            self.block_stop(index)
        fields = status_fields(stop)
        response = self._response(fields["status"], usage=usage_body(usage))
        response["incomplete_details"] = fields["incomplete_details"]
        kind = "response.completed" if fields["status"] == "completed" else "response.incomplete"
        self._emit(kind, response=response)

    def fail(self, code: str, message: str) -> None:
        """The stream's end when the answer cannot be finished (`response.failed`)."""
        error = {"code": code, "message": message}
        self._emit("response.failed", response=self._response("failed", error=error))

    def error(self, code: str | None, message: str, param: str | None = None) -> None:
        """An in-band `error` event (the stream ends after it)."""
        self._emit("error", code=code, message=message, param=param)


class ResponsesDecoder:
    """Reads an upstream Responses stream into a `Sink`, by each event's `type`."""

    __slots__ = ("_blocks", "_calls", "_items", "_started", "sink")

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self._blocks = BlockTracker(sink)
        self._started = False
        self._items: dict[str, int] = {}
        """Function-call item id → block index."""
        self._calls: dict[str, bool] = {}
        """Function-call item id → whether argument deltas were seen."""

    def feed(self, kind: int, obj: Any) -> None:
        if not isinstance(obj, dict):
            return
        event = obj.get("type")
        if event == "response.created":
            response = obj.get("response") or {}
            self._started = True
            self.sink.start(
                str(response.get("id") or ""), str(response.get("model") or ""), Usage()
            )
        elif event in ("response.output_text.delta", "response.refusal.delta"):
            delta = obj.get("delta")
            if delta:
                self._blocks.text(str(delta))
        elif event == "response.output_item.added":
            item = obj.get("item") or {}
            if item.get("type") in ("function_call", "custom_tool_call"):
                ident = str(item.get("id") or item.get("call_id") or "")
                call_id = str(item.get("call_id") or ident)
                self._items[ident] = self._blocks.tool(call_id, str(item.get("name") or ""))
                self._calls[ident] = False
        elif event == "response.function_call_arguments.delta":
            ident = str(obj.get("item_id") or "")
            index = self._items.get(ident)
            if index is not None and obj.get("delta"):
                self._calls[ident] = True
                self.sink.tool_args(index, str(obj["delta"]))
        elif event == "response.output_item.done":
            self._item_done(obj.get("item") or {})
        elif event in ("response.completed", "response.incomplete"):
            response = obj.get("response") or {}
            self._blocks.close()
            output = response.get("output") or ()
            calls = bool(self._items) or any(
                isinstance(i, dict) and i.get("type") in ("function_call", "custom_tool_call")
                for i in output
            )
            self.sink.finish(stop_reason(response, calls), None, parse_usage(response.get("usage")))

    def _item_done(self, item: dict[str, Any]) -> None:
        kind = item.get("type")
        if kind == "message":
            self._blocks.close()
        elif kind in ("function_call", "custom_tool_call"):
            ident = str(item.get("id") or item.get("call_id") or "")
            index = self._items.get(ident)
            if index is None:
                return
            if not self._calls.get(ident):
                if kind == "function_call" and item.get("arguments"):
                    self.sink.tool_args(index, str(item["arguments"]))
                elif kind == "custom_tool_call":
                    self.sink.tool_args(
                        index, orjson.dumps({"input": str(item.get("input") or "")}).decode()
                    )
            self._blocks.close()
