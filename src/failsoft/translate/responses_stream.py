"""OpenAI Responses event streams ⇄ the internal event grammar.

Encoding writes the named events the openai SDK's `responses.stream()` accumulator
expects, each with a `sequence_number` one above the last. A reasoning block (Anthropic
thinking) becomes a `reasoning` item: its text as one summary part, streamed, and its
sealed state as the `encrypted_content` of the item's `done`. The first number is a
parameter, so a stream continued on another target after failover keeps counting.
Decoding reads an upstream Responses stream: message text and function calls become
blocks; reasoning items have no place in the internal grammar and are skipped whole, as
Anthropic thinking blocks are.

An encoder can also take over a stream relayed as is from a Responses upstream
(`ResponsesEncoder.taking_over`): mid-stream resume writes the rest of a broken answer with
it, in the upstream's own response, item and numbering (`dialects/responses_continuation.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from failsoft.dialects.sse import encode
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
from failsoft.translate.stream import BlockTracker, Decoder, Frame, Sink, StreamConverter


@dataclass(slots=True)
class OpenText:
    """The message item a relayed stream left open, as its caller has it."""

    position: int
    """Its `output_index`."""
    content_index: int
    """The index of its last content part (the open one, unless `closed` is 2)."""
    text: str
    """That part's text so far."""
    parts: list[dict[str, Any]] = field(default_factory=list)
    """Its parts already done."""
    closed: int = 0
    """Of that part's closing events, how many the caller already has: 1 after
    `output_text.done`, 2 after `content_part.done` (or when no part was opened)."""


class ResponsesEncoder:
    """A `Sink` writing Responses SSE frames (`event:` name, JSON) into `frames`."""

    __slots__ = (
        "_base", "_blocks", "_freeform", "_head", "_namespaced", "_output", "frames", "sequence"
    )  # fmt: skip

    def __init__(
        self,
        sequence: int = 0,
        freeform: frozenset[str] = frozenset(),
        namespaced: Mapping[str, tuple[str, str]] | None = None,
    ) -> None:
        self.frames: list[Frame] = []
        self.sequence = sequence
        """The next event's `sequence_number`; where a continuation should start."""
        self._freeform = freeform
        self._namespaced = namespaced
        """Namespace tools' flat names → (namespace, name), for the calls' items."""
        self._head: dict[str, Any] = {}
        self._base: dict[str, Any] | None = None
        """A relayed upstream's `response` object, which the last events keep building on."""
        self._output: list[dict[str, Any]] = []
        self._blocks: dict[int, dict[str, Any]] = {}

    @classmethod
    def taking_over(
        cls,
        response: dict[str, Any],
        sequence: int,
        output: list[dict[str, Any]],
        open_text: OpenText | None,
    ) -> ResponsesEncoder:
        """An encoder that goes on with a stream relayed from a Responses upstream: the
        upstream's opening `response`, the next `sequence`, the output items the caller got
        (as their `done`, or else as their `added`), and the message item left open."""
        encoder = cls(sequence)
        encoder._base = response
        encoder._head = {
            "id": str(response.get("id") or ""),
            "model": response.get("model"),
            "created": response.get("created_at"),
        }
        encoder._output = list(output)
        if open_text is not None:
            encoder._blocks[-1] = {
                "item": output[open_text.position],
                "position": open_text.position,
                "text": [open_text.text],
                "content_index": open_text.content_index,
                "parts": open_text.parts,
                "closed": open_text.closed,
            }
        return encoder

    def _emit(self, kind: str, **fields: Any) -> None:
        self.frames.append((kind, {"type": kind, "sequence_number": self.sequence, **fields}))
        self.sequence += 1

    def _response(self, status: str, **extra: Any) -> dict[str, Any]:
        if self._base is not None:
            out = dict(self._base)
        else:
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
            content_index=block.get("content_index", 0),
            delta=text,
            logprobs=[],
        )

    def more_text(self, text: str) -> None:
        """Text a resumed stream goes on with (`router/resume.py`): in the open message
        item, else in a new one."""
        for index, block in list(self._blocks.items()):
            if block["item"]["type"] == "message":
                if block.get("closed"):  # its text was said whole: a new item goes on
                    self.block_stop(index)
                    continue
                self.text(index, text)
                return
        index = -1 - len(self._output)  # the decoder's indexes are >= 0
        self.text_start(index)
        self.text(index, text)

    def tool_start(self, index: int, ident: str, name: str) -> None:
        position = len(self._output)
        freeform = name in self._freeform
        item = call_item(
            f"fc_{self._head['id']}_{position}",
            ident,
            name,
            "",
            "in_progress",
            freeform,
            self._namespaced,
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
            if "namespace" in item:
                done["namespace"] = item["namespace"]
            if done["type"] == "custom_tool_call":
                self._emit("response.custom_tool_call_input.delta", **ids, delta=done["input"])
                self._emit("response.custom_tool_call_input.done", **ids, input=done["input"])
            else:
                self._emit("response.function_call_arguments.done", **ids, arguments=text)
        else:
            done = message_item(item["id"], text, "completed")
            part, closed = done["content"][0], block.get("closed", 0)
            where = {**ids, "content_index": block.get("content_index", 0)}
            if closed < 1:
                self._emit("response.output_text.done", **where, text=text, logprobs=[])
            if closed < 2:
                self._emit("response.content_part.done", **where, part=part)
            done["content"] = [*block.get("parts", ()), *([part] if closed < 2 else ())]
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


def numbered_converter(
    decoder: Decoder,
    encoder: ResponsesEncoder,
    error_parts: Callable[[Any], tuple[str, str]],
) -> StreamConverter:
    """A converter whose error ends are written by its encoder too, so they continue the
    count: an upstream's error event (`error_parts` says its code and message) and
    failsoft's own end of a broken stream, each as `error` then `response.failed`."""

    def flush() -> bytes:
        frames = [encode(orjson.dumps(data), name) for name, data in encoder.frames]
        encoder.frames.clear()
        return b"".join(frames)

    def upstream_error(obj: Any) -> bytes:
        code, message = error_parts(obj)
        encoder.error(code, message)
        encoder.fail(code, message)
        return flush()

    def failure(message: str, timeout: bool) -> bytes:
        code = "stream_timeout" if timeout else "stream_interrupted"
        encoder.error(code, message)
        encoder.fail("server_error", message)
        return flush()

    return StreamConverter(decoder, encoder, upstream_error, failure)


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
