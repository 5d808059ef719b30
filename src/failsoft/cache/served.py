"""What the cache layer hands the endpoint besides the router's own answers: a stored answer
replayed as a stream, a live stream that is kept for the cache, and the static answer."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson

from failsoft.dialects import WIRES
from failsoft.dialects.sse import event_datas
from failsoft.router.streaming import CommittedStream
from failsoft.translate.ir import Response, Text
from failsoft.translate.responses_answer import build_response
from failsoft.types import AttemptRecord, ChatRequest, Target

log = logging.getLogger("failsoft.cache")

MAX_ENTRY_BYTES = 4 * 1024 * 1024
"""Answers (and streams) longer than this are relayed but not stored."""


class ReplayStream:
    """A stored answer as a stream, with the interface the endpoint relays."""

    def __init__(
        self, body: bytes, target: Target, attempts: list[AttemptRecord], rid: str | None
    ) -> None:
        self._body = body
        self.target = target
        self.attempts = attempts
        self.upstream_request_id = rid
        self.warnings: tuple[str, ...] = ()
        self.complete = True
        self.error = None

    async def _chunks(self) -> AsyncIterator[bytes]:
        yield self._body

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def aclose(self) -> None:
        return None


class TappedStream:
    """A live stream whose bytes are kept, to store the assembled answer if it ends whole."""

    def __init__(self, stream: CommittedStream, store: Callable[[bytes], Awaitable[None]]) -> None:
        self._stream = stream
        self._store = store
        self._wire = WIRES[stream.request.dialect]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    async def _relay(self) -> AsyncIterator[bytes]:
        parts: list[bytes] = []
        size = 0
        async for data in self._stream:
            size += len(data)
            if size <= MAX_ENTRY_BYTES:
                parts.append(data)
            yield data
        stream = self._stream
        if stream.complete and stream.error is None and size <= MAX_ENTRY_BYTES:
            try:
                body = orjson.dumps(self._assemble(b"".join(parts)))
            except Exception:
                log.debug("a stream could not be assembled for the cache", exc_info=True)
                return
            await self._store(body)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._relay()

    def _assemble(self, body: bytes) -> dict[str, Any]:
        if self._stream.request.dialect == "responses":
            return responses_final(body)
        return self._wire.assemble(body)

    async def aclose(self) -> None:
        await self._stream.aclose()


def responses_final(body: bytes) -> dict[str, Any]:
    """The `response` object a Responses stream ended with (`response.completed`, or
    `response.incomplete`), which is the whole answer; ValueError if there is none."""
    for event in reversed(event_datas(body)):
        try:
            obj = orjson.loads(event)
        except orjson.JSONDecodeError:
            continue
        if isinstance(obj, dict) and obj.get("type") in (
            "response.completed",
            "response.incomplete",
        ):
            response = obj.get("response")
            if isinstance(response, dict):
                return response
        break
    raise ValueError("the stream did not end with a whole response")


def complete_answer(dialect: str, body: bytes) -> bool:
    """Only whole answers are worth keeping: not truncated by max_tokens, not a refusal."""
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    if dialect == "anthropic":
        return answer.get("stop_reason") in ("end_turn", "stop_sequence", "tool_use")
    if dialect == "responses":
        return bool(answer.get("object") == "response" and answer.get("status") == "completed")
    if dialect == "gemini":
        candidates = answer.get("candidates") or []
        return bool(candidates) and all(c.get("finishReason") == "STOP" for c in candidates)
    choices = answer.get("choices") or []
    return bool(choices) and all(c.get("finish_reason") in ("stop", "tool_calls") for c in choices)


def static_answer(request: ChatRequest, text: str) -> bytes:
    """`degrade.static` as a regular answer in the caller's dialect."""
    now = int(time.time())
    if request.dialect == "responses":
        answer = Response(
            f"static_{request.request_id}", "failsoft-static", [Text(text)], "end_turn"
        )
        answer.created = now
        return orjson.dumps(build_response(answer))
    if request.dialect == "gemini":
        content = {"role": "model", "parts": [{"text": text}]}
        return orjson.dumps(
            {
                "candidates": [{"content": content, "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 0, "totalTokenCount": 0},
                "modelVersion": "failsoft-static",
                "responseId": f"static-{request.request_id}",
            }
        )
    if request.dialect == "anthropic":
        return orjson.dumps(
            {
                "id": f"msg_static_{request.request_id}",
                "type": "message",
                "role": "assistant",
                "model": "failsoft-static",
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 0, "output_tokens": 0},
            }
        )
    return orjson.dumps(
        {
            "id": f"chatcmpl-static-{request.request_id}",
            "object": "chat.completion",
            "created": now,
            "model": "failsoft-static",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        }
    )
