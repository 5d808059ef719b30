"""One attempt: send the request to one target and read until success or a failure.

Every phase has a limit, so no upstream can hold a caller: `deadlines.connect` for the
connection, `deadlines.first_token` from sending to the first content event (headers and
preamble events included), `deadlines.idle` between events after that, and the request's
overall deadline capping all of them. Failures raise `UpstreamError` subclasses; nothing
has reached the caller yet, so the router is free to try the next target.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

import orjson

from failsoft.clock import Clock
from failsoft.config import Deadlines
from failsoft.dialects.base import CONTENT, ERROR, MALFORMED, PREAMBLE, TERMINAL, StreamTracker
from failsoft.dialects.sse import SSEDecoder, SSEEvent
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
from failsoft.policy.deadline import Deadline
from failsoft.providers import Provider
from failsoft.translate import Translation, caller_include_usage
from failsoft.translate.native import native_request
from failsoft.translate.stream import StreamConverter
from failsoft.transport import Transport, Upstream
from failsoft.types import ChatRequest, Target

ERROR_BODY_LIMIT = 64 * 1024
_TAIL = 128
"""Bytes at the end of a stream body enough to hold its terminal event."""


class Opened:
    """A stream that produced its first content event; what the committed relay resumes."""

    __slots__ = ("converter", "decoder", "fed", "head", "terminal", "tracker", "upstream")

    def __init__(
        self,
        upstream: Upstream,
        decoder: SSEDecoder,
        tracker: StreamTracker,
        head: bytes,
        fed: int,
        terminal: bool,
        converter: StreamConverter | None = None,
    ) -> None:
        self.upstream = upstream
        self.decoder = decoder
        """Holds what arrived after the first content event, not yet looked at."""
        self.tracker = tracker
        self.head = head
        """Every event up to and including the first content event, as the caller gets
        them: the upstream's raw bytes, or their translation (`converter`)."""
        self.converter = converter
        """Translates the upstream's events into the caller's dialect; None when the
        upstream speaks the caller's dialect and its bytes are relayed as they are."""
        self.fed = fed
        """How many events the tracker has seen so far."""
        self.terminal = terminal
        """The first content event was already the stream's proper end."""


class IdleTimer:
    """Arms an `asyncio.timeout` for the next read, lazily.

    Re-arming a timer costs a cancel and a new timer handle; a stream delivers hundreds
    of small reads a second. So the timer is re-armed only once `slack` has passed since
    the last arming, and armed `slack` later than the limit: the gap a stream is allowed
    is then between `limit` and `limit + slack`, never less.
    """

    __slots__ = ("_armed", "_attempt", "_loop", "_slack", "_timer", "binding", "limit")

    def __init__(self, timer: asyncio.Timeout, attempt: Attempt) -> None:
        self._timer = timer
        self._attempt = attempt
        self._loop = asyncio.get_running_loop()
        self._slack = attempt.limits.idle * 0.05
        self._armed = -math.inf
        self.limit = 0.0
        self.binding = False

    def arm(self) -> None:
        now = self._loop.time()
        if now - self._armed < self._slack:
            return
        attempt = self._attempt
        self.limit, self.binding = attempt.deadline.cap(attempt.limits.idle)
        slack = 0.0 if self.binding else self._slack
        self._timer.reschedule(now + self.limit + slack)
        self._armed = now

    def disarm(self) -> None:
        self._timer.reschedule(None)
        self._armed = -math.inf

    def error(self) -> UpstreamError:
        return self._attempt._timeout_error("idle", self.limit, self.binding)


class Attempt:
    __slots__ = (
        "clock",
        "deadline",
        "enforce_first_token",
        "first_token_at",
        "limits",
        "on_first_token",
        "probe_settled",
        "provider",
        "request",
        "started",
        "target",
        "translation",
        "transport",
    )

    def __init__(
        self,
        target: Target,
        provider: Provider,
        request: ChatRequest,
        deadline: Deadline,
        limits: Deadlines,
        clock: Clock,
        transport: Transport,
        *,
        enforce_first_token: bool = True,
        translation: Translation | None = None,
    ) -> None:
        self.target = target
        self.provider = provider
        self.request = request
        self.deadline = deadline
        self.limits = limits
        self.clock = clock
        self.transport = transport
        self.enforce_first_token = enforce_first_token
        """Fail over at `first_token`; off for the last target, which waits to `total`."""
        self.started = clock.monotonic()
        self.first_token_at: float | None = None
        self.on_first_token: Callable[[], None] | None = None
        """Called once, at the first content event (a breaker probe reports there)."""
        self.probe_settled = False
        self.translation = translation
        """The request written for a target of another dialect; None for the same dialect."""

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the translation for this target could not carry (empty when none)."""
        return self.translation.warnings if self.translation is not None else ()

    @property
    def first_token(self) -> float | None:
        return None if self.first_token_at is None else self.first_token_at - self.started

    # ------------------------------------------------------------------ helpers

    def _body(self, stream: bool) -> bytes:
        """The request as this target gets it: the caller's bytes with the model renamed,
        or the translation."""
        if self.translation is not None:
            return self.translation.body(self.target.model, stream)
        payload, body = native_request(self.request)
        return self.provider.wire.stream_body(payload, body, self.target.model)

    async def _send(self, body: bytes, stream: bool = True) -> Upstream:
        connect, _ = self.deadline.cap(self.limits.connect)
        return await self.transport.post(
            self.provider.url_for(self.target.model, stream),
            self.provider.headers(self.request.forwarded),
            body,
            connect_timeout=max(connect, 0.001),
        )

    async def _check_status(self, upstream: Upstream, *, sse: bool) -> None:
        """Raise the right error for anything but a usable 200."""
        if upstream.status != 200:
            try:
                idle, _ = self.deadline.cap(self.limits.idle)
                async with asyncio.timeout(idle):
                    body = await upstream.read(ERROR_BODY_LIMIT)
            except (UpstreamError, TimeoutError):
                upstream.close()
                body = b""
            else:
                # During an outage most answers are short errors: keep their connections.
                upstream.finish()
            raise self.provider.status_error(upstream.status, upstream.headers, body)
        if sse and upstream.content_type != "text/event-stream":
            upstream.close()
            raise BadResponse(
                f"expected an event stream, got content-type {upstream.content_type or 'none'!r}"
            )

    def _timeout_error(self, phase: str, limit: float, binding: bool) -> UpstreamError:
        if binding:
            return DeadlineExceeded(
                f"the request's deadline ({self.deadline.seconds:g}s) ran out during {phase}"
            )
        if phase == "first_byte":
            return FirstByteTimeout(
                f"no response within {limit:g}s, the deadlines.first_byte limit"
            )
        if phase == "first_token":
            return FirstTokenTimeout(
                f"no content within {limit:g}s, the deadlines.first_token limit"
            )
        return IdleTimeout(f"no event for {limit:g}s, the deadlines.idle limit")

    def _fail_event(self, kind: int, event: SSEEvent, tracker: StreamTracker) -> UpstreamError:
        scrub = self.provider.scrub_text
        if kind == ERROR:
            kind_name, message = _event_error(tracker.last)
            return UpstreamStreamError(
                kind_name, scrub(message) if message else message, self.provider.scrub(event.raw)
            )
        if kind == MALFORMED:
            return MalformedEvent(scrub(f"an event's data is not valid JSON: {event.data[:80]!r}"))
        return TruncatedStream("the stream ended ([DONE]) before every choice finished")

    # ------------------------------------------------------------------ streaming

    async def open_stream(self, body: bytes | None = None) -> Opened:
        """Send and read until the first content event; raise on anything else.

        Without `body` this opens the caller's stream, translated if the target speaks
        another dialect; with it, a stream failsoft assembles itself (never translated
        event by event: the whole answer is translated once).
        """
        wire = self.provider.wire
        converter: StreamConverter | None = None
        if body is None:
            body = self._body(stream=True)
            if self.translation is not None:
                converter = self.translation.converter(caller_include_usage(self.request))
        limits = self.limits
        first_token = limits.first_token if self.enforce_first_token else math.inf
        phase = "first_byte"
        limit, binding = self.deadline.cap(min(limits.first_byte, first_token))
        if first_token < limits.first_byte:
            phase = "first_token"
        loop = asyncio.get_running_loop()
        upstream: Upstream | None = None
        try:
            async with asyncio.timeout(limit) as timer:
                upstream = await self._send(body)
                await self._check_status(upstream, sse=True)
                # Headers are in: from here the limit is the time to the first content.
                phase = "first_token"
                waited = self.clock.monotonic() - self.started
                limit, binding = self.deadline.cap(first_token - waited)
                timer.reschedule(loop.time() + limit)
                decoder = SSEDecoder()
                tracker = wire.tracker()
                head: list[bytes] = []
                fed = 0
                while True:
                    chunk = await upstream.readany()
                    if not chunk:
                        raise TruncatedStream("the stream ended before any content")
                    decoder.push(chunk)
                    for event in decoder.events():
                        kind = tracker.feed(event)
                        fed += 1
                        if kind <= TERMINAL:  # PREAMBLE, CONTENT or TERMINAL
                            if converter is None:
                                head.append(event.raw)
                            else:
                                head.append(self._convert(converter, kind, tracker.last))
                        if kind == PREAMBLE:
                            continue
                        if kind in (CONTENT, TERMINAL):
                            self.first_token_at = self.clock.monotonic()
                            if self.on_first_token is not None:
                                self.on_first_token()
                            return Opened(
                                upstream,
                                decoder,
                                tracker,
                                b"".join(head),
                                fed,
                                kind == TERMINAL,
                                converter,
                            )
                        raise self._fail_event(kind, event, tracker)
        except UpstreamError:
            # Our own errors (ConnectTimeout is a TimeoutError too) pass through as they are.
            if upstream is not None:
                upstream.close()
            raise
        except TimeoutError:
            if upstream is not None:
                upstream.close()
            raise self._timeout_error(phase, limit, binding) from None
        except BaseException:
            if upstream is not None:
                upstream.close()
            raise

    @staticmethod
    def _convert(converter: StreamConverter, kind: int, obj: Any) -> bytes:
        try:
            return converter.feed(kind, obj, [])
        except (AttributeError, TypeError, KeyError, ValueError) as exc:
            raise MalformedEvent(f"an event does not have the documented shape ({exc})") from None

    # ------------------------------------------------------------------ non-streaming

    async def complete(self) -> tuple[bytes, Upstream]:
        """A whole non-streaming answer body (the upstream's headers come along).

        The upstream streams; after the first content event the rest is only collected
        (each read bounded by `idle`), then parsed and assembled in one pass, because
        per-event work on an answer nobody sees before it is complete is wasted.
        """
        if not self.provider.config.always_stream:
            return await self._complete_plain()
        wire = self.provider.wire
        if self.translation is not None:
            body = self.translation.body(self.target.model, stream=True)
        else:
            body = wire.assembled_body(native_request(self.request)[0], self.target.model)
        opened = await self.open_stream(body)
        upstream = opened.upstream
        parts = [opened.head, opened.decoder.pending]
        tail = b"".join(parts)[-_TAIL:]
        done = opened.terminal or wire.ends_stream(tail)
        idle: IdleTimer | None = None
        try:
            async with asyncio.timeout(None) as timer:
                idle = IdleTimer(timer, self)
                while not done:
                    idle.arm()
                    chunk = await upstream.readany()
                    if not chunk:
                        break
                    parts.append(chunk)
                    tail = (tail + chunk)[-_TAIL:] if len(chunk) < _TAIL else chunk[-_TAIL:]
                    done = wire.ends_stream(tail)
            try:
                answer = wire.assemble(b"".join(parts))
                if self.translation is not None:
                    answer = self.translation.response(answer)
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
        return orjson.dumps(answer), upstream

    async def _complete_plain(self) -> tuple[bytes, Upstream]:
        """Forward a non-streaming request as is; only the overall deadline bounds the wait."""
        body = self._body(stream=False)
        limit, _ = self.deadline.cap(self.deadline.seconds)
        upstream: Upstream | None = None
        try:
            async with asyncio.timeout(limit):
                upstream = await self._send(body, stream=False)
                await self._check_status(upstream, sse=False)
            self.first_token_at = self.clock.monotonic()
            parts: list[bytes] = []
            while True:
                idle, binding = self.deadline.cap(self.limits.idle)
                try:
                    async with asyncio.timeout(idle):
                        chunk = await upstream.readany()
                except TimeoutError:
                    raise self._timeout_error("idle", idle, binding) from None
                if not chunk:
                    break
                parts.append(chunk)
            data = b"".join(parts)
            try:
                answer = orjson.loads(data)
            except orjson.JSONDecodeError:
                raise BadResponse("the answer is not valid JSON") from None
            if self.translation is not None:
                try:
                    data = orjson.dumps(self.translation.response(answer))
                except (AttributeError, TypeError, KeyError, ValueError) as exc:
                    message = f"the answer does not have the documented shape ({exc})"
                    raise BadResponse(message) from None
            upstream.finish()
            return data, upstream
        except UpstreamError:
            if upstream is not None:
                upstream.close()
            raise
        except TimeoutError:
            if upstream is not None:
                upstream.close()
            raise DeadlineExceeded(
                f"the request's deadline ({self.deadline.seconds:g}s) ran out "
                "waiting for the answer"
            ) from None
        except BaseException:
            if upstream is not None:
                upstream.close()
            raise


def _event_error(obj: Any) -> tuple[str | None, str | None]:
    err = obj.get("error") if isinstance(obj, dict) else None
    if isinstance(err, dict):
        kind, message = err.get("type"), err.get("message")
        return (
            kind if isinstance(kind, str) else None,
            message if isinstance(message, str) else None,
        )
    return None, None
