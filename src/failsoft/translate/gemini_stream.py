"""Gemini `streamGenerateContent?alt=sse` chunks → the internal event grammar.

Gemini sends text in pieces but each function call whole, and ends with a chunk that has
`finishReason` (and the full `usageMetadata`); there is no `[DONE]`. Thought summaries
(`thought: true` parts) are skipped; a blocked prompt arrives as `promptFeedback` with no
candidates and ends the answer as a refusal.
"""

from __future__ import annotations

from typing import Any

import orjson

from failsoft.dialects.base import TERMINAL
from failsoft.translate.gemini import call_id, parse_usage, stop_reason
from failsoft.translate.ir import Usage
from failsoft.translate.stream import BlockTracker, Sink


class GeminiDecoder:
    __slots__ = ("_blocks", "_calls", "_finish", "_id", "_started", "_usage", "sink")

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self._blocks = BlockTracker(sink)
        self._started = False
        self._calls = 0
        self._finish: Any = None
        self._usage = Usage()
        self._id = ""

    def feed(self, kind: int, obj: Any) -> None:
        if not self._started:
            self._started = True
            self._id = str(obj.get("responseId") or "")
            usage = parse_usage(obj.get("usageMetadata"))
            self.sink.start(self._id, str(obj.get("modelVersion") or ""), Usage(input=usage.input))
        metadata = obj.get("usageMetadata")
        if metadata:
            self._usage = parse_usage(metadata)
        candidates = obj.get("candidates")
        if candidates:
            candidate = candidates[0]
            for part in (candidate.get("content") or {}).get("parts") or ():
                if part.get("thought"):
                    continue
                text = part.get("text")
                if text:
                    self._blocks.text(text)
                elif "functionCall" in part:
                    self._call(part)
            if candidate.get("finishReason"):
                self._finish = candidate["finishReason"]
        elif (obj.get("promptFeedback") or {}).get("blockReason"):
            self._finish = "SAFETY"
        if kind == TERMINAL:
            self._blocks.close()
            self.sink.finish(stop_reason(self._finish, self._calls > 0), None, self._usage)

    def _call(self, part: dict[str, Any]) -> None:
        call = part["functionCall"] or {}
        ident = call_id(call.get("id"), self._id, self._calls, part.get("thoughtSignature"))
        self._calls += 1
        index = self._blocks.tool(ident, str(call.get("name") or ""))
        self.sink.tool_args(index, orjson.dumps(call.get("args") or {}).decode())
        self._blocks.close()
