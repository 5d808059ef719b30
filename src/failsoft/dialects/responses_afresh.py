"""A Responses stream that broke after nothing but reasoning, answered afresh. Pure.

A reasoning model streams its reasoning summary first, and that reaches the caller at once
(held back, a model thinking for minutes would look dead). If the stream breaks before any
text or call, there is nothing to continue: the whole question goes to the next target, and
its answer is written into the broken stream, after the reasoning items the caller has
(any left open is closed first, as the upstream would have): its items' `output_index`es
shifted past them, `sequence_number`s going on, its own opening events left out, and its
end (`response.completed`, `.incomplete` or `.failed`) carrying the broken stream's
response id and every item. `router/afresh.py` runs it.
"""

from __future__ import annotations

from typing import Any

import orjson

from failsoft.dialects.responses_continuation import ResponsesTranscript, Thought, error_parts
from failsoft.dialects.sse import encode
from failsoft.translate.native import CUT_REASONING
from failsoft.translate.responses_stream import ResponsesEncoder, numbered_converter
from failsoft.translate.stream import StreamConverter

_OPENING = frozenset({"response.created", "response.in_progress", "response.queued"})
_ENDS = frozenset({"response.completed", "response.incomplete", "response.failed"})


def can_answer_afresh(original: ResponsesTranscript) -> bool:
    """Whether the caller got reasoning items and nothing else (but message items opened
    with no text yet), each where it belongs."""
    positions = sorted([*original.thoughts, *original.items])
    return (
        original.response is not None
        and original.thinking_only
        and original.followed
        and not original.text
        and bool(original.thoughts)
        and positions == list(range(len(positions)))
    )


class Appender:
    """Writes another answer's Responses events into the broken stream (`feed`), after
    closing what the caller has open (`close`). Its converter (`converter`) writes
    failsoft's own error end, numbered on, if no answer comes."""

    __slots__ = ("_items", "_offset", "_opened", "_response", "converter", "encoder")

    def __init__(self, original: ResponsesTranscript) -> None:
        assert original.response is not None
        self._response = original.response
        count = len(original.thoughts) + len(original.items)
        self._items: list[dict[str, Any]] = [
            _closed(original.thoughts[i]) if i in original.thoughts else _empty(original, i)
            for i in range(count)
        ]
        self._offset = len(self._items)
        self.encoder = ResponsesEncoder.taking_over(
            original.response, original.sequence, list(self._items), None
        )
        self.converter: StreamConverter = numbered_converter(_Never(), self.encoder, error_parts)
        self._opened = original

    def close(self) -> bytes:
        """The closing events of the reasoning items the caller has open."""
        out = []
        for position, (_, done) in sorted(self._opened.items.items()):
            if not done:
                out.append(self._close_message(position))
        for position, thought in sorted(self._opened.thoughts.items()):
            if thought.done:
                continue
            item = self._items[position]
            ids = {"item_id": thought.item.get("id"), "output_index": position}
            last = len(thought.parts) - 1
            if thought.parts and thought.closed < 1:
                text = thought.parts[-1]
                out.append(self._event("response.reasoning_summary_text.done", **ids,
                                       summary_index=last, text=text))  # fmt: skip
            if thought.parts and thought.closed < 2:
                part = {"type": "summary_text", "text": thought.parts[-1]}
                out.append(self._event("response.reasoning_summary_part.done", **ids,
                                       summary_index=last, part=part))  # fmt: skip
            out.append(self._event("response.output_item.done", output_index=position, item=item))
        return b"".join(out)

    def _close_message(self, position: int) -> bytes:
        """The end of a message item opened with no text (the upstream broke before it)."""
        item = self._items[position]
        parts = self._opened.parts.get(position)
        out = []
        if parts is not None and parts.start >= 0 and parts.closed < 2:
            where = {"item_id": item.get("id"), "output_index": position,
                     "content_index": parts.index}  # fmt: skip
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            if parts.closed < 1:
                out.append(self._event("response.output_text.done", **where, text="",
                                       logprobs=[]))  # fmt: skip
            out.append(self._event("response.content_part.done", **where, part=part))
        out.append(self._event("response.output_item.done", output_index=position, item=item))
        return b"".join(out)

    def feed(self, obj: dict[str, Any]) -> bytes:
        """One event of the new answer, as the broken stream's next one (none for its
        opening events)."""
        kind = obj.get("type")
        if kind in _OPENING or not isinstance(kind, str):
            return b""
        fields = {k: v for k, v in obj.items() if k not in ("type", "sequence_number")}
        index = fields.get("output_index")
        if isinstance(index, int) and not isinstance(index, bool):
            fields["output_index"] = index + self._offset
        if kind in _ENDS:
            fields["response"] = self._end(fields.get("response"))
        return self._event(kind, **fields)

    def _end(self, value: Any) -> dict[str, Any]:
        theirs = value if isinstance(value, dict) else {}
        out = dict(self._response)
        for key in ("status", "usage", "incomplete_details", "error"):
            if key in theirs:
                out[key] = theirs[key]
        output = theirs.get("output")
        out["output"] = [*self._items, *(output if isinstance(output, list) else ())]
        return out

    def _event(self, kind: str, **fields: Any) -> bytes:
        data = {"type": kind, "sequence_number": self.encoder.sequence, **fields}
        self.encoder.sequence += 1
        return encode(orjson.dumps(data), kind)


def _closed(thought: Thought) -> dict[str, Any]:
    """A reasoning item as its `output_item.done` says it: its summary so far. One the
    caller got whole keeps its `encrypted_content`; one cut short has none, and an id
    marked so (`rs_fscut_…`) that failsoft leaves it out when the caller sends it back
    (`translate/native.py`): no provider could find it."""
    if thought.done:
        return thought.item
    item = {k: v for k, v in thought.item.items() if k != "encrypted_content"}
    ident = str(item.get("id") or "")
    item["id"] = CUT_REASONING + ident.removeprefix("rs_")
    item["summary"] = [{"type": "summary_text", "text": text} for text in thought.parts]
    return item


def _empty(original: ResponsesTranscript, position: int) -> dict[str, Any]:
    """A message item with no text, as its `output_item.done` says it."""
    item, done = original.items[position]
    if done:
        return item
    parts = original.parts.get(position)
    content = list(parts.done) if parts is not None else []
    if parts is not None and parts.start >= 0 and parts.closed < 2:
        content.append({"type": "output_text", "text": "", "annotations": [], "logprobs": []})
    return {**item, "status": "completed", "content": content}


class _Never:
    """The decoder of the broken stream: it is never fed again."""

    __slots__ = ()

    def feed(self, kind: int, obj: Any) -> None:
        return None
