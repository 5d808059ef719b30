"""A stored Responses answer (`response` object) played back as a Responses event stream.

The stream a real one would have been: `response.created`, `response.in_progress`, each
output item added, filled (text in word-sized pieces, a call's arguments in one delta, a
reasoning item's summary parts) and done, then the terminal event carrying the stored
response itself. `sequence_number` runs 0, 1, 2, ... and every lifecycle event has the
stored response's id, as the openai SDK's stream helper requires.
"""

from __future__ import annotations

from typing import Any

import orjson

from failsoft.dialects.sse import encode

_TERMINAL = {"completed": "response.completed", "incomplete": "response.incomplete"}


class _Writer:
    __slots__ = ("out", "sequence")

    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.sequence = 0

    def __call__(self, kind: str, **fields: Any) -> None:
        event = {"type": kind, "sequence_number": self.sequence, **fields}
        self.out.append(encode(orjson.dumps(event), kind))
        self.sequence += 1


def replay_responses(answer: dict[str, Any], pieces: Any) -> bytes:
    """`answer` as a stream; `pieces(text)` cuts text into the deltas."""
    emit = _Writer()
    opening = {
        **answer,
        "status": "in_progress",
        "output": [],
        "usage": None,
        "incomplete_details": None,
        "error": None,
    }
    emit("response.created", response=opening)
    emit("response.in_progress", response=opening)
    for position, item in enumerate(answer.get("output") or ()):
        if isinstance(item, dict):
            _item(emit, position, item, pieces)
    status = answer.get("status")
    emit(_TERMINAL.get(str(status), "response.failed"), response=answer)
    return b"".join(emit.out)


def _item(emit: _Writer, position: int, item: dict[str, Any], pieces: Any) -> None:
    kind = item.get("type")
    ids = {"item_id": item.get("id", ""), "output_index": position}
    if kind == "message":
        emit(
            "response.output_item.added",
            output_index=position,
            item={**item, "status": "in_progress", "content": []},
        )
        for index, part in enumerate(item.get("content") or ()):
            _part(emit, ids, index, part, pieces)
    elif kind == "function_call":
        arguments = str(item.get("arguments") or "")
        emit(
            "response.output_item.added",
            output_index=position,
            item={**item, "status": "in_progress", "arguments": ""},
        )
        if arguments:
            emit("response.function_call_arguments.delta", **ids, delta=arguments)
        emit("response.function_call_arguments.done", **ids, arguments=arguments)
    elif kind == "custom_tool_call":
        text = str(item.get("input") or "")
        emit(
            "response.output_item.added",
            output_index=position,
            item={**item, "status": "in_progress", "input": ""},
        )
        emit("response.custom_tool_call_input.delta", **ids, delta=text)
        emit("response.custom_tool_call_input.done", **ids, input=text)
    elif kind == "reasoning":
        emit("response.output_item.added", output_index=position, item={**item, "summary": []})
        for index, part in enumerate(item.get("summary") or ()):
            text = str(part.get("text") or "") if isinstance(part, dict) else ""
            summary = {"type": "summary_text", "text": text}
            where = {**ids, "summary_index": index}
            emit("response.reasoning_summary_part.added", **where, part={**summary, "text": ""})
            emit("response.reasoning_summary_text.delta", **where, delta=text)
            emit("response.reasoning_summary_text.done", **where, text=text)
            emit("response.reasoning_summary_part.done", **where, part=summary)
    else:
        emit("response.output_item.added", output_index=position, item=item)
    emit("response.output_item.done", output_index=position, item=item)


def _part(emit: _Writer, ids: dict[str, Any], index: int, part: Any, pieces: Any) -> None:
    if not isinstance(part, dict):
        return
    where = {**ids, "content_index": index}
    if part.get("type") == "refusal":
        refusal = str(part.get("refusal") or "")
        emit("response.content_part.added", **where, part={**part, "refusal": ""})
        emit("response.refusal.delta", **where, delta=refusal)
        emit("response.refusal.done", **where, refusal=refusal)
    else:
        text = str(part.get("text") or "")
        emit("response.content_part.added", **where, part={**part, "text": "", "annotations": []})
        for piece in pieces(text) if text else ():
            emit("response.output_text.delta", **where, delta=piece, logprobs=[])
        emit("response.output_text.done", **where, text=text, logprobs=[])
    emit("response.content_part.done", **where, part=part)
