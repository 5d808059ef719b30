"""A non-streaming attempt's whole answer (`Attempt.complete`): streamed upstream and
assembled by failsoft (`always_stream: true`, the default), or forwarded as it is.

Split from `attempt.py`, which keeps the attempt itself and the opening of a stream.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import orjson

from failsoft.dialects.sse import SSEEvent
from failsoft.errors import (
    AnswerTooLarge,
    BadResponse,
    DeadlineExceeded,
    MalformedEvent,
    UpstreamError,
)
from failsoft.router.bodies import native_parts, upstream_body
from failsoft.router.failures import check_status, timeout_error
from failsoft.router.phases import IdleTimer
from failsoft.router.timer import PhaseTimer
from failsoft.transport import Upstream

if TYPE_CHECKING:
    from failsoft.router.attempt import Attempt

_TAIL = 128
"""Bytes at the end of a stream body enough to hold its terminal event."""


async def assembled(attempt: Attempt) -> tuple[bytes, Upstream, Any]:
    """The upstream streams; after the first content event the rest is only collected
    (each read bounded by `idle`), then parsed and assembled in one pass, because
    per-event work on an answer nobody sees before it is complete is wasted.
    """
    wire = attempt.provider.wire
    translation = attempt.translation
    if translation is not None:
        body = translation.body(attempt.target.model, True, attempt.output_limit)
    else:
        body = wire.assembled_body(native_parts(attempt)[0], attempt.target.model)
    opened = await attempt.open_stream(body)
    upstream = opened.upstream
    head, pending = opened.head, opened.decoder.pending
    parts = [head, pending]
    tail = pending[-_TAIL:] if len(pending) >= _TAIL else (head + pending)[-_TAIL:]
    done = opened.terminal or wire.ends_stream(tail)
    idle: IdleTimer | None = None
    cap = attempt.transport.max_answer_bytes
    size = len(head) + len(pending)
    try:
        if not done:  # often the first read held the whole answer: no timer then
            with PhaseTimer(attempt.loop, math.inf) as timer:
                idle = IdleTimer(timer, attempt)
                while not done:
                    chunk = upstream.poll()
                    if chunk is None:  # no bytes here yet: the idle limit bounds the wait
                        idle.arm()
                        chunk = await upstream.readany()
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > cap:
                        parts.clear()  # let it go before the next attempt is made
                        raise AnswerTooLarge(cap)
                    parts.append(chunk)
                    tail = (tail + chunk)[-_TAIL:] if len(chunk) < _TAIL else chunk[-_TAIL:]
                    done = wire.ends_stream(tail)
        try:
            dropped: list[bytes] = []
            answer = wire.assemble(b"".join(parts), dropped)
            for data in dropped:
                attempt.drop(SSEEvent(None, data, data))
            if attempt.meter is not None:
                attempt.meter.answer(answer)
            if translation is not None:
                answer = translation.response(answer)
        except (AttributeError, TypeError, KeyError, ValueError) as exc:
            # Events that parse but do not have the documented shape.
            raise MalformedEvent(f"the stream's events do not fit together ({exc})") from None
    except UpstreamError:
        upstream.close()
        raise
    except TimeoutError:
        upstream.close()
        if idle is None:
            raise
        raise idle.error() from None
    except BaseException:
        upstream.close()
        raise
    upstream.finish()
    return orjson.dumps(answer), upstream, answer


async def plain(attempt: Attempt) -> tuple[bytes, Upstream, Any]:
    """Forward a non-streaming request as is; only the overall deadline bounds the wait."""
    body = upstream_body(attempt, stream=False)
    pool = attempt._pool()
    if not pool.take():
        await attempt._wait(pool)
    attempt.sent = True
    deadline = attempt.deadline
    limit, _ = deadline.cap(deadline.seconds)
    upstream: Upstream | None = None
    loop = attempt.loop
    now = loop.time()
    reading = False
    """In an idle phase (a read of the body), not the wait for the headers."""
    idle = 0.0
    binding = False
    try:
        try:
            # One timer for both phases: armed for the idle limit from the start, so
            # that moving to the first read costs no new handle (it re-arms itself
            # for the headers' limit if they take longer).
            with PhaseTimer(loop, now + limit, now + attempt.limits.idle) as timer:
                upstream = await attempt._send(body, pool, stream=False)
                if upstream.status != 200:
                    await check_status(attempt, upstream, sse=False)
                cap = attempt.transport.max_answer_bytes
                declared = upstream.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > cap:
                    raise AnswerTooLarge(cap)
                if attempt.request.meter is not None:
                    attempt._metered()
                attempt.first_token_at = attempt.clock.monotonic()
                parts: list[bytes] = []
                size = 0
                reading = True
                while True:
                    chunk = upstream.poll()  # often the head's read held the whole body
                    if chunk is None:  # no bytes here yet: the idle limit bounds the wait
                        idle, binding = deadline.cap(attempt.limits.idle)
                        timer.move(loop.time() + idle)
                        chunk = await upstream.readany()
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > cap:
                        parts.clear()
                        raise AnswerTooLarge(cap)
                    parts.append(chunk)
        except TimeoutError:
            if reading:
                raise timeout_error(attempt, "idle", idle, binding) from None
            raise
        data = b"".join(parts)
        try:
            answer = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise BadResponse("the answer is not valid JSON") from None
        if attempt.meter is not None:
            attempt.meter.answer(answer)
        translation = attempt.translation
        if translation is not None:
            try:
                answer = translation.response(answer)
                data = orjson.dumps(answer)
            except (AttributeError, TypeError, KeyError, ValueError) as exc:
                message = f"the answer does not have the documented shape ({exc})"
                raise BadResponse(message) from None
        upstream.finish()
        return data, upstream, answer
    except UpstreamError:
        if upstream is not None:
            upstream.close()
        raise
    except TimeoutError:
        if upstream is not None:
            upstream.close()
        raise DeadlineExceeded(
            f"the request's deadline ({deadline.seconds:g}s) ran out waiting for the answer"
        ) from None
    except BaseException:
        if upstream is not None:
            upstream.close()
        raise
