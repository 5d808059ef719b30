"""Mid-stream resume for Responses callers: reading their stream, asking for the rest, and
writing it into the same stream. Pure (see `continuation.py` for the other dialects).

A Responses stream is numbered (`sequence_number`), and its items carry ids and output
positions the caller has already seen. The rest of a broken answer is therefore written by
the broken stream's own `ResponsesEncoder`, which knows all of them: the text goes on in
the open message item (same item id, `output_index`, content index 0), the numbering goes
on from the last event the caller got, and the end (`output_text.done` with the whole
text, `output_item.done`, `response.completed` with the whole output and usage) is the one
that stream would have written. If the continuation fails, the error and
`response.failed` come from the same encoder too, so they continue the count.

A stream relayed as is from a Responses target has no encoder of failsoft's: one is made
from what the caller received (`relay_converter`), which the transcript keeps for that —
the upstream's opening `response`, its output items and how far the open one got.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from failsoft.dialects.responses import event_error
from failsoft.translate.ir import Usage
from failsoft.translate.responses_answer import stop_reason
from failsoft.translate.responses_stream import OpenText, ResponsesEncoder, numbered_converter
from failsoft.translate.stream import StreamConverter

_TEXT_ITEMS = frozenset({"message"})
_QUIET = frozenset(
    {"response.created", "response.in_progress", "response.output_item.added",
     "response.output_item.done", "response.queued", "error", "response.failed",
     "response.content_part.added", "response.content_part.done", "response.output_text.done"}
)  # fmt: skip
"""Events that say nothing of an item's kind themselves (`_item` looks at the items)."""


class ResponsesTranscript:
    """What a Responses caller has received: text of the message items, and whether the
    answer is plain text (a function call, custom tool call, reasoning item or refusal
    makes it not); and, for `relay_converter`, the stream's opening `response` and items."""

    __slots__ = (
        "deltas",
        "followed",
        "items",
        "max_chars",
        "parts",
        "response",
        "resumable",
        "sequence",
        "stop",
        "text",
        "thinking_only",
        "thoughts",
        "usage",
    )

    def __init__(self, max_chars: int = 1 << 62) -> None:
        self.text = ""
        self.resumable = True
        self.stop: str | None = None
        """The internal stop reason (`end_turn`, `max_tokens`...) once the stream ended."""
        self.usage: dict[str, Any] | None = None
        self.deltas = 0
        self.sequence = 0
        """The next `sequence_number` the caller expects."""
        self.max_chars = max_chars
        self.response: dict[str, Any] | None = None
        """The opening events' `response` (its id, model and settings)."""
        self.items: dict[int, tuple[dict[str, Any], bool]] = {}
        """Output items by `output_index`: the item as last seen, and whether it is done."""
        self.parts: dict[int, _Parts] = {}
        """The content parts of the message items not done yet."""
        self.followed = True
        """Whether `items` is what the caller has (every item came with its position)."""
        self.thoughts: dict[int, Thought] = {}
        """Reasoning items by `output_index`, for an answer afresh after them."""
        self.thinking_only = True
        """Whether the caller got nothing but reasoning items (with summaries) so far, and
        perhaps message items with no text yet."""

    def observe(self, obj: Any) -> str | None:
        if not isinstance(obj, dict):
            return None
        number = obj.get("sequence_number")
        if isinstance(number, int) and not isinstance(number, bool):
            self.sequence = number + 1
        kind = obj.get("type")
        if isinstance(kind, str) and kind.startswith("response.reasoning_summary_"):
            self._thought(kind, obj)
        elif kind not in _QUIET:
            self.thinking_only = False
        if kind == "response.output_text.delta":
            text = obj.get("delta")
            if isinstance(text, str) and text:
                self.thinking_only = False
                self._said(text)
                return text
        elif kind in ("response.created", "response.in_progress"):
            response = obj.get("response")
            if isinstance(response, dict) and self.response is None:
                self.response = response
        elif kind in ("response.output_item.added", "response.output_item.done"):
            self._item(obj, kind == "response.output_item.done")
        elif kind == "response.content_part.added":
            part = obj.get("part") or {}
            if not isinstance(part, dict) or part.get("type") != "output_text":
                self.resumable = self.thinking_only = False
            parts = self._parts(obj)
            if parts is not None and (self.resumable or self.thinking_only):
                parts.open(obj.get("content_index"), len(self.text))
        elif kind in ("response.output_text.done", "response.content_part.done"):
            parts = self._parts(obj)
            if parts is not None:
                parts.close(obj.get("part") if kind == "response.content_part.done" else None)
        elif isinstance(kind, str) and kind.startswith(("response.refusal", "response.reasoning")):
            self.resumable = False
        elif kind in ("response.completed", "response.incomplete"):
            response = obj.get("response") or {}
            if isinstance(response, dict):
                self.stop = stop_reason(response, False)
                if isinstance(response.get("usage"), dict):
                    self.usage = response["usage"]
        return None

    def _parts(self, obj: dict[str, Any]) -> _Parts | None:
        index = obj.get("output_index")
        return self.parts.get(index) if isinstance(index, int) else None

    def _thought(self, kind: str, obj: dict[str, Any]) -> None:
        index = obj.get("output_index")
        thought = self.thoughts.get(index) if isinstance(index, int) else None
        if thought is None or thought.done:
            self.thinking_only = False
        elif kind == "response.reasoning_summary_part.added":
            thought.parts.append("")
            thought.closed = 0
        elif thought.parts and kind == "response.reasoning_summary_text.delta":
            thought.parts[-1] += str(obj.get("delta") or "")
        elif thought.parts and kind == "response.reasoning_summary_text.done":
            thought.parts[-1] = str(obj.get("text") or "")
            thought.closed = max(thought.closed, 1)
        elif kind == "response.reasoning_summary_part.done":
            thought.closed = 2
        else:
            self.thinking_only = False

    def _item(self, obj: dict[str, Any], done: bool) -> None:
        item, index = obj.get("item"), obj.get("output_index")
        if isinstance(item, dict) and item.get("type") == "reasoning" and isinstance(index, int):
            thought = self.thoughts.get(index)
            if thought is None and not done and index == len(self.thoughts):
                self.thoughts[index] = Thought(item)
            elif thought is not None and not thought.done and done:
                thought.item, thought.done = item, True
            else:
                self.thinking_only = False
        elif not isinstance(item, dict) or item.get("type") not in _TEXT_ITEMS:
            self.thinking_only = False
        if not isinstance(item, dict) or item.get("type") not in _TEXT_ITEMS:
            self.resumable = False
            return
        known = len(self.items) + len(self.thoughts)  # reasoning items are in `thoughts`
        if not isinstance(index, int) or isinstance(index, bool) or index > known:
            self.followed = False  # not the next item, nor one already there
            return
        self.items[index] = (item, done)
        if done:
            self.parts.pop(index, None)
        elif index not in self.parts:
            self.parts[index] = _Parts()

    def _said(self, text: str) -> None:
        self.deltas += 1
        if self.resumable:
            self.text += text
            if len(self.text) > self.max_chars:
                self.resumable = False
                self.text = ""


class Thought:
    """A reasoning item the caller got: as added (or done), and its summary parts so far."""

    __slots__ = ("closed", "done", "item", "parts")

    def __init__(self, item: dict[str, Any]) -> None:
        self.item = item
        self.done = False
        self.parts: list[str] = []
        self.closed = 2
        """Of the last part's closing events, how many the caller has (as `_Parts`)."""


class _Parts:
    """The content parts of a message item not done yet: those done, and the last one."""

    __slots__ = ("closed", "done", "index", "start")

    def __init__(self) -> None:
        self.done: list[dict[str, Any]] = []
        self.index = 0
        self.start = -1
        """Where the last part's text begins in the transcript's text (-1: no part yet)."""
        self.closed = 2

    def open(self, index: Any, start: int) -> None:
        self.index = index if isinstance(index, int) else len(self.done)
        self.start = start
        self.closed = 0

    def close(self, part: Any) -> None:
        if part is None:
            self.closed = max(self.closed, 1)
        elif self.closed < 2:
            self.done.append(part if isinstance(part, dict) else {})
            self.closed = 2


def relay_converter(original: ResponsesTranscript) -> StreamConverter | None:
    """A converter for a stream relayed from a Responses upstream, taking over where its
    caller is: the rest of the answer and the end are written by its encoder, which goes on
    in the upstream's response and open message item, numbering on from the last event the
    caller got. None if what the caller got cannot be followed so (no opening response;
    several items open)."""
    if original.response is None or not original.resumable or not original.followed:
        return None
    items = original.items
    output = [items[i][0] for i in range(len(items))]
    open_items = [i for i in range(len(items)) if not items[i][1]]
    if len(open_items) > 1:
        return None
    open_text = None
    if open_items:
        position = open_items[0]
        parts = original.parts[position]
        text = original.text[parts.start :] if parts.start >= 0 and parts.closed < 2 else ""
        open_text = OpenText(position, parts.index, text, list(parts.done), parts.closed)
    encoder = ResponsesEncoder.taking_over(original.response, original.sequence, output, open_text)
    return numbered_converter(_Taken(), encoder, error_parts)


class _Taken:
    """The decoder of a taken-over stream: it is never fed (the upstream broke)."""

    __slots__ = ()

    def feed(self, kind: int, obj: Any) -> None:
        return None


def error_parts(obj: Any) -> tuple[str, str]:
    """A Responses upstream's error event, said again in the caller's (same) dialect."""
    code, message = event_error(obj)
    return code or "server_error", message or "the upstream reported an error mid-stream"


class ResponsesFramer:
    """More of a broken Responses stream, written by that stream's own encoder.

    `drain` serializes the encoder's pending events; every event written is shown to the
    original transcript as well, so that a second resume starts from what the caller has.
    """

    __slots__ = ("_drain", "_encoder", "_original")

    def __init__(
        self,
        original: ResponsesTranscript,
        encoder: ResponsesEncoder,
        drain: Callable[[list[Callable[[Any], object]]], bytes],
    ) -> None:
        self._original = original
        self._encoder = encoder
        self._drain = drain

    def text(self, text: str) -> bytes:
        self._encoder.more_text(text)
        return self._drain([self._original.observe])

    @staticmethod
    def keepalive() -> bytes:
        return b": failsoft is fetching the rest of this answer\n\n"

    def finish(self, stop: str | None, tally: Any) -> bytes:
        usage = Usage(input=tally.prompt or 0, output=tally.delivered + tally.continued)
        self._encoder.finish(stop or "end_turn", None, usage)
        return self._drain([self._original.observe])


def payload(
    request: dict[str, Any], said: str, prompt: str | None, max_tokens: int | None
) -> dict[str, Any]:
    """The caller's Responses request, asking for the rest of the answer that began with
    `said` (see `continuation.continuation_payload`)."""
    out = dict(request)
    items = request.get("input")
    history: list[Any] = (
        [{"role": "user", "content": items}] if isinstance(items, str) else list(items or ())
    )
    turns: list[dict[str, Any]] = [{"role": "assistant", "content": said}]
    if prompt is not None:
        turns.append({"role": "user", "content": prompt})
    out["input"] = [*history, *turns]
    out["stream"] = True
    out["store"] = False  # a continuation is failsoft's own request: nothing to keep
    if max_tokens is not None:
        out["max_output_tokens"] = max_tokens
    return out


def forced_json(request: dict[str, Any]) -> bool:
    text = request.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    return isinstance(fmt, dict) and fmt.get("type") in ("json_schema", "json_object")


def max_tokens(request: dict[str, Any]) -> int | None:
    value = request.get("max_output_tokens")
    return value if isinstance(value, int) and not isinstance(value, bool) else None
