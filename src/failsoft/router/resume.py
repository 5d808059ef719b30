"""Mid-stream resume (opt-in, `resume.enabled`): finish a broken answer on another target.

When a committed stream breaks and everything it delivered is plain text (no tool calls,
no thinking blocks, one choice), failsoft asks the next target to continue: the original
conversation, plus the text so far as an assistant turn, plus a user turn asking to carry
on (`resume.prompt`). A user turn rather than an assistant prefill, because several models
reject prefill. The continuation's text is relayed into the caller's stream as more of the
same answer (same ids, same content block), after removing any beginning that repeats
what was already said; then the proper end events. If no target can continue, or the
continuation is not plain text, the caller gets the explicit in-band error as without
resume. Never for answers that delivered tool calls: their effects cannot be replayed.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any

import orjson

from failsoft.config import Resume, VirtualModel
from failsoft.dialects import continuation
from failsoft.dialects.sse import SSEDecoder
from failsoft.errors import FailsoftError, MalformedEvent, UpstreamError
from failsoft.router.streaming import CommittedStream
from failsoft.types import ChatRequest

log = logging.getLogger("failsoft.router")

OVERLAP_WINDOW = 48
"""Characters of continuation held back to find a repeat of what was already said."""

Continue = Callable[[ChatRequest, VirtualModel], Awaitable[CommittedStream]]


class Resumption:
    """Watches one committed stream and, if it breaks, brings the rest of its answer."""

    def __init__(self, config: Resume, plan: VirtualModel, go_on: Continue) -> None:
        self._config = config
        self._plan = plan
        self._continue = go_on
        self._used = 0
        self._transcript: continuation.OpenAITranscript | continuation.AnthropicTranscript
        self._transcript = continuation.OpenAITranscript()

    def attach(self, stream: CommittedStream) -> None:
        transcript = continuation.transcript(stream.request.dialect)
        for event in SSEDecoder().feed(stream.head):
            try:
                transcript.observe(orjson.loads(event.data))
            except orjson.JSONDecodeError:
                transcript.resumable = False
        self._transcript = transcript
        stream.observers.append(transcript.observe)

    async def __call__(
        self, stream: CommittedStream, error: UpstreamError
    ) -> AsyncIterator[bytes] | None:
        transcript = self._transcript
        if self._used >= self._config.max_resumes or not transcript.resumable:
            return None
        if not transcript.text.strip():
            return None  # nothing said yet: nothing to continue
        remaining = self._remaining(stream)
        if remaining is None:
            return None
        request = self._request(stream.request, transcript.text, remaining)
        others = [t for t in self._plan.targets if t != stream.target]
        if not others:
            return None
        plan = dataclasses.replace(self._plan, targets=tuple(others), weights=())
        try:
            rest = await self._continue(request, plan)
        except FailsoftError as exc:
            log.warning("%s: could not resume: %s", stream.request.request_id, exc)
            return None
        self._used += 1
        log.info(
            "%s: resuming the answer from %s on %s after: %s",
            stream.request.request_id,
            stream.target.label,
            rest.target.label,
            error.message,
        )
        return self._relay(stream, rest, error)

    @staticmethod
    def _remaining(stream: CommittedStream) -> float | None:
        left = stream.deadline.remaining()
        return left if left > 0.5 else None

    def _request(self, original: ChatRequest, said: str, remaining: float) -> ChatRequest:
        payload: dict[str, Any] = dict(original.payload)
        payload["messages"] = [
            *payload["messages"],
            {"role": "assistant", "content": said},
            {"role": "user", "content": self._config.prompt},
        ]
        payload["stream"] = True
        return dataclasses.replace(
            original,
            payload=payload,
            body=orjson.dumps(payload),
            stream=True,
            timeout=remaining,
            request_id=f"{original.request_id}-r{self._used + 1}",
            client_retries=0,
            ir=None,
            translations={},
        )

    async def _relay(
        self, stream: CommittedStream, rest: CommittedStream, error: UpstreamError
    ) -> AsyncGenerator[bytes, None]:
        original = self._transcript
        include = bool((stream.request.payload.get("stream_options") or {}).get("include_usage"))
        framer = continuation.framer(original, include)
        reader = continuation.transcript(stream.request.dialect)
        decoder = SSEDecoder()
        pending = ""
        settled = False
        yield (
            f": failsoft resumed the answer on {rest.target.label} after: "
            f"{' '.join(error.message.split())}\n\n"
        ).encode()
        try:
            async for data in rest:
                for event in decoder.feed(data):
                    obj = _parse(event.data)
                    if obj is None:
                        continue
                    added = reader.observe(obj)
                    if not reader.resumable:
                        yield stream.error_frame(
                            MalformedEvent("the continuation was not plain text")
                        )
                        return
                    if not added:
                        continue
                    if settled:
                        yield framer.text(added)
                        continue
                    pending += added
                    if len(pending) >= OVERLAP_WINDOW:
                        settled = True
                        text = continuation.strip_overlap(original.text, pending)
                        if text:
                            yield framer.text(text)
            if not settled and pending:
                text = continuation.strip_overlap(original.text, pending)
                if text:
                    yield framer.text(text)
            if rest.error is not None:
                yield stream.error_frame(rest.error)
                return
            stream.complete = True
            yield framer.finish(reader)
        finally:
            await rest.aclose()


def _parse(data: bytes) -> dict[str, Any] | None:
    """A continuation event's JSON; None for `[DONE]`, errors (see `rest.error`) and junk."""
    if data[:6] == b"[DONE]":
        return None
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or obj.get("type") == "error" or "error" in obj:
        return None
    return obj
