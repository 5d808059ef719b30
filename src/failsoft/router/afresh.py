"""A Responses stream that broke after nothing but reasoning: the question answered afresh
by the other targets (then the one that broke), into the same stream
(`dialects/responses_afresh.py` writes it).

There is no text to continue, so this is not a continuation: the next target gets the
caller's request as it came, and its whole answer follows the reasoning the caller has.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable

import orjson

from failsoft.config import VirtualModel
from failsoft.dialects.responses_afresh import Appender, can_answer_afresh
from failsoft.dialects.responses_continuation import ResponsesTranscript
from failsoft.dialects.sse import SSEDecoder
from failsoft.errors import FailsoftError, UpstreamError
from failsoft.router.state import RouterState
from failsoft.router.streaming import CommittedStream
from failsoft.types import ChatRequest

log = logging.getLogger("failsoft.router")

Open = Callable[[ChatRequest, VirtualModel], Awaitable[CommittedStream]]


KEEPALIVE = 2.0
"""Seconds without anything to send before the caller gets a keep-alive (as resume's)."""


def answer_afresh(
    stream: CommittedStream,
    original: ResponsesTranscript,
    error: UpstreamError,
    plan: VirtualModel,
    go_on: Open,
    state: RouterState,
    min_time: float,
) -> AsyncGenerator[bytes, None] | None:
    """The rest of `stream`, a relayed Responses stream broken after reasoning only, from
    the plan's targets; None when that is not what broke, or no time is left for it."""
    if not can_answer_afresh(original) or stream.deadline.remaining() < min_time:
        return None
    appender = Appender(original)
    stream.take_over(appender.converter)
    return _relay(stream, error, appender, plan, go_on, state)


async def _relay(
    stream: CommittedStream,
    error: UpstreamError,
    appender: Appender,
    plan: VirtualModel,
    go_on: Open,
    state: RouterState,
) -> AsyncGenerator[bytes, None]:
    request = stream.request
    reason = " ".join(stream.attempt.provider.scrub_text(error.message).split())
    yield f": failsoft: the stream broke after reasoning only ({reason}); asking again\n\n".encode()
    yield appender.close()
    others = [t for t in plan.targets if t != stream.target]
    fresh_plan = dataclasses.replace(plan, targets=(*others, stream.target), weights=())
    fresh = dataclasses.replace(
        request,
        stream=True,
        timeout=stream.deadline.remaining(),
        request_id=f"{request.request_id}-a",
        client_retries=0,
    )
    search = asyncio.ensure_future(go_on(fresh, fresh_plan))
    try:
        while not search.done():
            await asyncio.wait({search}, timeout=KEEPALIVE)
            if not search.done():
                yield b": failsoft is asking the next target\n\n"
    finally:
        if not search.done():
            search.cancel()
            await asyncio.gather(search, return_exceptions=True)
    try:
        rest = search.result()
    except FailsoftError as exc:
        stream.attempts.extend(getattr(exc, "attempts", ()))  # the access log's trail
        log.warning("%s: no target answered afresh: %s", request.request_id, exc)
        state.counters.add("resume_failed", stream.target)
        yield stream.failure_frame(error, "no target could answer the question afresh")
        return
    stream.attempts.extend(rest.attempts)  # the access log's trail (the header went out)
    decoder = SSEDecoder()
    try:
        async for data in rest:
            for event in decoder.feed(data):
                try:
                    obj = orjson.loads(event.data)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(obj, dict):
                    yield appender.feed(obj)
    finally:
        await rest.aclose()
    if rest.error is not None:  # its own error end went to the caller, numbered on
        state.counters.add("resume_failed", stream.target)
        return
    log.info(
        "%s: the stream from %s broke after reasoning only; %s answered afresh",
        request.request_id,
        stream.target.label,
        rest.target.label,
    )
    state.counters.add("resumed", stream.target)
    stream.complete = True
    stream.resumed = True
