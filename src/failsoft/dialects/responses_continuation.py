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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from failsoft.translate.ir import Usage
from failsoft.translate.responses_answer import stop_reason
from failsoft.translate.responses_stream import ResponsesEncoder

_TEXT_ITEMS = frozenset({"message"})


class ResponsesTranscript:
    """What a Responses caller has received: text of the message items, and whether the
    answer is plain text (a function call, custom tool call, reasoning item or refusal
    makes it not)."""

    __slots__ = ("deltas", "max_chars", "resumable", "sequence", "stop", "text", "usage")

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

    def observe(self, obj: Any) -> str | None:
        if not isinstance(obj, dict):
            return None
        number = obj.get("sequence_number")
        if isinstance(number, int) and not isinstance(number, bool):
            self.sequence = number + 1
        kind = obj.get("type")
        if kind == "response.output_text.delta":
            text = obj.get("delta")
            if isinstance(text, str) and text:
                self._said(text)
                return text
        elif kind == "response.output_item.added":
            item = obj.get("item") or {}
            if not isinstance(item, dict) or item.get("type") not in _TEXT_ITEMS:
                self.resumable = False
        elif kind == "response.content_part.added":
            part = obj.get("part") or {}
            if not isinstance(part, dict) or part.get("type") != "output_text":
                self.resumable = False
        elif isinstance(kind, str) and kind.startswith(("response.refusal", "response.reasoning")):
            self.resumable = False
        elif kind in ("response.completed", "response.incomplete"):
            response = obj.get("response") or {}
            if isinstance(response, dict):
                self.stop = stop_reason(response, False)
                if isinstance(response.get("usage"), dict):
                    self.usage = response["usage"]
        return None

    def _said(self, text: str) -> None:
        self.deltas += 1
        if self.resumable:
            self.text += text
            if len(self.text) > self.max_chars:
                self.resumable = False
                self.text = ""


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
