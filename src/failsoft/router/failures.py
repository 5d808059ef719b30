"""What an attempt raises when its upstream fails: a refused status, a phase's limit, a
broken event.

Split from `attempt.py`: none of it runs on a request that succeeds, so the attempt's
own module keeps only what every request runs.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from failsoft.dialects import responses
from failsoft.dialects.base import ERROR, MALFORMED, StreamTracker
from failsoft.dialects.sse import SSEEvent
from failsoft.errors import (
    BadResponse,
    DeadlineExceeded,
    FirstByteTimeout,
    FirstTokenTimeout,
    IdleTimeout,
    MalformedEvent,
    TruncatedStream,
    UpstreamError,
    UpstreamStreamError,
)
from failsoft.transport import Upstream

if TYPE_CHECKING:
    from failsoft.router.attempt import Attempt

ERROR_BODY_LIMIT = 64 * 1024


async def check_status(attempt: Attempt, upstream: Upstream, *, sse: bool) -> None:
    """Raise the right error for anything but a usable 200."""
    if upstream.status != 200:
        try:
            idle, _ = attempt.deadline.cap(attempt.limits.idle)
            async with asyncio.timeout(idle):
                body = await upstream.read(ERROR_BODY_LIMIT)
        except (UpstreamError, TimeoutError):
            upstream.close()
            body = b""
        else:
            # During an outage most answers are short errors: keep their connections.
            upstream.finish()
        raise attempt.provider.status_error(upstream.status, upstream.headers, body)
    if sse and upstream.content_type != "text/event-stream":
        upstream.close()
        raise BadResponse(
            f"expected an event stream, got content-type {upstream.content_type or 'none'!r}"
        )


def timeout_error(attempt: Attempt, phase: str, limit: float, binding: bool) -> UpstreamError:
    if binding:
        return DeadlineExceeded(
            f"the request's deadline ({attempt.deadline.seconds:g}s) ran out during {phase}"
        )
    if phase == "first_byte":
        return FirstByteTimeout(f"no response within {limit:g}s, the deadlines.first_byte limit")
    if phase == "first_token":
        return FirstTokenTimeout(f"no content within {limit:g}s, the deadlines.first_token limit")
    return IdleTimeout(f"no event for {limit:g}s, the deadlines.idle limit")


def fail_event(
    attempt: Attempt, kind: int, event: SSEEvent, tracker: StreamTracker
) -> UpstreamError:
    scrub = attempt.provider.scrub_text
    if kind == ERROR:
        kind_name, message = event_error(tracker.last)
        return UpstreamStreamError(
            kind_name, scrub(message) if message else message, attempt.provider.scrub(event.raw)
        )
    if kind == MALFORMED:
        return MalformedEvent(scrub(f"an event's data is not valid JSON: {event.data[:80]!r}"))
    return TruncatedStream("the stream ended ([DONE]) before every choice finished")


def event_error(obj: Any) -> tuple[str | None, str | None]:
    err = obj.get("error") if isinstance(obj, dict) else None
    if not isinstance(err, dict):
        return responses.event_error(obj)  # `error` / `response.failed`: their own shapes
    kind, message = err.get("type"), err.get("message")
    return (
        kind if isinstance(kind, str) else None,
        message if isinstance(message, str) else None,
    )
