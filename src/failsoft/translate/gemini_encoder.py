"""The internal event grammar → a Gemini caller's `streamGenerateContent?alt=sse` chunks.

Each frame is a whole `GenerateContentResponse` (`data:` only, no event names, no end
marker): text as it comes, each function call whole (Gemini never sends a call in pieces,
and its SDKs do not join them), so a call's arguments are held until its block stops. The
last chunk carries `finishReason` and the usage. Opening events produce nothing: Gemini
has no preamble.
"""

from __future__ import annotations

from typing import Any

from failsoft.translate.common import parse_args
from failsoft.translate.gemini_caller import call_part, finish_reason, usage_metadata
from failsoft.translate.ir import ToolCall, Usage
from failsoft.translate.stream import Frame, IgnoresReasoning


class GeminiEncoder(IgnoresReasoning):
    __slots__ = ("_calls", "_id", "_input", "_model", "_pending", "frames")

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self._id = ""
        self._model = ""
        self._input: int | None = None
        self._calls = 0
        self._pending: dict[int, tuple[str, str, list[str]]] = {}
        """Open tool blocks: index → (id, name, argument fragments)."""

    def _chunk(self, parts: list[dict[str, Any]], finish: str | None = None) -> None:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish is not None:
            candidate["finishReason"] = finish
        obj: dict[str, Any] = {"candidates": [candidate]}
        if self._input is not None and finish is None:
            obj["usageMetadata"] = {
                "promptTokenCount": self._input,
                "totalTokenCount": self._input,
            }
        obj["modelVersion"] = self._model
        obj["responseId"] = self._id
        self.frames.append((None, obj))

    def start(self, ident: str, model: str, usage: Usage) -> None:
        self._id, self._model, self._input = ident, model, usage.input

    def text_start(self, index: int) -> None:
        pass

    def text(self, index: int, text: str) -> None:
        if text:
            self._chunk([{"text": text}])

    def tool_start(self, index: int, ident: str, name: str) -> None:
        self._pending[index] = (ident, name, [])

    def tool_args(self, index: int, fragment: str) -> None:
        pending = self._pending.get(index)
        if pending is not None:
            pending[2].append(fragment)

    def block_stop(self, index: int) -> None:
        pending = self._pending.pop(index, None)
        if pending is None:
            return
        ident, name, fragments = pending
        call = ToolCall(ident, name, parse_args("".join(fragments)))
        self._chunk([call_part(call, self._calls == 0)])
        self._calls += 1

    def finish(self, stop: str, stop_sequence: str | None, usage: Usage) -> None:
        for index in list(self._pending):
            self.block_stop(index)
        self._chunk([], finish_reason(stop))
        last = self.frames[-1][1]
        del last["candidates"][0]["content"]["parts"]
        last["usageMetadata"] = usage_metadata(usage)
