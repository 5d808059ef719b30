"""One attempt: send the request to one target and read until success or a failure.

Every phase has a limit, so no upstream can hold a caller: `deadlines.connect` for the
connection, `deadlines.first_byte` from sending to the response headers, `deadlines.idle`
between events after the first content, and the request's overall deadline capping all of
them. The first-token limit is not enforced here: at it the router races the next target
(`race.py`), and whichever first content comes first wins. Failures raise `UpstreamError`
subclasses; nothing has reached the caller yet, so the router is free to try the next
target.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable
from typing import Any

import orjson

from failsoft.clock import Clock
from failsoft.config import Deadlines
from failsoft.dialects import responses
from failsoft.dialects.base import (
    CONTENT,
    ERROR,
    MALFORMED,
    PREAMBLE,
    TERMINAL,
    StreamTracker,
    known_last,
)
from failsoft.dialects.sse import SSEDecoder, SSEEvent
from failsoft.errors import (
    AnswerTooLarge,
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
from failsoft.router.phases import IdleTimer, Opened, Watch
from failsoft.router.timer import PhaseTimer
from failsoft.translate import Translation, caller_include_usage
from failsoft.translate.mid_system import fold_native
from failsoft.translate.native import native_request
from failsoft.translate.output_cap import cap_native
from failsoft.translate.stream import StreamConverter
from failsoft.transport import Pool, Transport, Upstream
from failsoft.types import ChatRequest, Target
from failsoft.usage.extract import usage_chunk
from failsoft.usage.meter import AttemptMeter

log = logging.getLogger("failsoft.router")

ERROR_BODY_LIMIT = 64 * 1024
_TAIL = 128
"""Bytes at the end of a stream body enough to hold its terminal event."""
MAX_EVENT_BYTES = 16 * 1024 * 1024
"""The largest one SSE event may be (less when `server.max_answer_bytes` is less)."""


class Attempt:
    __slots__ = (
        "_native_parts",
        "clock",
        "deadline",
        "dropped",
        "first_token_at",
        "headers_at",
        "limits",
        "meter",
        "output_limit",
        "pool",
        "probe",
        "probe_settled",
        "provider",
        "queued",
        "request",
        "sent",
        "span",
        "started",
        "strip_usage",
        "target",
        "translation",
        "transport",
        "waited",
        "watch",
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
        translation: Translation | None = None,
        probe: bool = False,
        watch: Watch | None = None,
        pool: Pool | None = None,
    ) -> None:
        self.target = target
        self.provider = provider
        self.request = request
        self.deadline = deadline
        self.limits = limits
        self.clock = clock
        self.transport = transport
        self.started = clock.monotonic()
        self.headers_at: float | None = None
        self.first_token_at: float | None = None
        self.watch = watch
        self.probe = probe
        """This attempt is its target's half-open breaker probe."""
        self.probe_settled = False
        """The probe produced content and closed the breaker (on probation)."""
        self.queued = False
        """Waiting for a connection of its provider's pool: nothing sent yet."""
        self.sent = False
        """It has a connection slot: the request went (or is going) upstream."""
        self.waited = 0.0
        """Seconds spent waiting for that slot: not the upstream's time, so left out of
        what is learnt about the target (time to headers, to the first token)."""
        self.dropped = 0
        """Broken events dropped as harmless (they carried no content)."""
        self.translation = translation
        """The request written for a target of another dialect; None for the same dialect."""
        self.output_limit = provider.output_limit(target.model)
        """The most the target model may be asked to write, when known (`output_cap.py`)."""
        self.meter: AttemptMeter | None = None
        """Its usage, once its upstream answered 200 (when the request is metered)."""
        self.strip_usage = False
        """The upstream's usage chunk is failsoft's (asked for the meter), not the caller's."""
        self._native_parts: tuple[dict[str, Any], bytes, str | None] | None = None
        self.pool = pool
        """Its provider's connection pool (the run looked it up already: None, look here)."""
        self.span: Any = None
        """This attempt's span (tracing.otel.AttemptSpan) when the request is traced: its
        `traceparent` goes upstream with the request."""

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the translation for this target could not carry (empty when none)."""
        if self.translation is None:
            note = self._native()[2]
            return () if note is None else (note,)
        return self.translation.warnings_for(self.target.model, self.output_limit)

    @property
    def first_token(self) -> float | None:
        """Seconds from sending to the first content (a wait for a connection left out)."""
        if self.first_token_at is None:
            return None
        return self.first_token_at - self.started - self.waited

    # ------------------------------------------------------------------ helpers

    def _body(self, stream: bool) -> bytes:
        """The request as this target gets it: the caller's bytes with the model renamed,
        or the translation."""
        if self.translation is not None:
            body = self.translation.body(self.target.model, stream, self.output_limit)
        else:
            payload, body, _ = self._native()
            body = self.provider.wire.stream_body(payload, body, self.target.model)
        extra = self.request.upstream_extra
        if self.provider.dialect == "openai":
            usage = stream and self.asks_usage()
            if extra or usage:
                obj = {**orjson.loads(body), **extra}
                if usage:
                    options = obj.get("stream_options")
                    options = options if isinstance(options, dict) else {}
                    obj["stream_options"] = {**options, "include_usage": True}
                body = orjson.dumps(obj)
        return body

    def asks_usage(self) -> bool:
        """A metered stream to an OpenAI-dialect target the caller did not ask usage of:
        failsoft asks for it (the caller's stream does not get it, `strip_usage`)."""
        return (
            self.request.meter is not None
            and self.translation is None
            and not caller_include_usage(self.request)
        )

    def _metered(self) -> None:
        """The upstream answered 200: the attempt is billed from here."""
        meter = self.request.meter
        if meter is not None:
            provider = self.provider
            self.meter = meter.begin(provider.name, self.target.model, provider.dialect)

    def _unbilled(self) -> None:
        """The upstream failed (an in-band error, a broken event) before any content and
        reported no usage: providers do not bill such an answer, so neither does the meter."""
        meter = self.meter
        if meter is not None and meter.input is None and meter.output is None:
            self.request.meter.drop(meter)
            self.meter = None

    def _native(self) -> tuple[dict[str, Any], bytes, str | None]:
        """The caller's own request for this target, capped to its output limit (and, for
        an older Claude model, with mid-conversation system messages folded into `system`).
        Worked out once per attempt (its body, then its warnings, both need it)."""
        parts = self._native_parts
        if parts is not None:
            return parts
        payload, body = native_request(self.request)
        model = self.target.model
        payload, body, note = cap_native(self.request, payload, body, self.output_limit, model)
        if self.request.dialect == "anthropic":
            payload, body, moved = fold_native(self.request, payload, body, model)
            if moved is not None:
                note = moved if note is None else f"{note}; {moved}"
        self._native_parts = parts = (payload, body, note)
        return parts

    def _pool(self) -> Pool:
        pool = self.pool
        if pool is None:
            provider = self.provider
            pool = self.pool = self.transport.pool(provider.name, provider.config.max_connections)
        return pool

    async def _wait(self, pool: Pool) -> None:
        """All of the provider's connections are in use: wait a little for one
        (`admission.pool_wait`, within the request's deadline), else `PoolBusy`. Before
        any phase's timer starts: the wait is failsoft's, not the upstream's."""
        wait, _ = self.deadline.cap(self.transport.pool_wait)
        self.queued = True
        began = self.clock.monotonic()
        try:
            await pool.wait(wait)
        finally:
            self.queued = False
            self.waited = self.clock.monotonic() - began

    def _send(self, body: bytes, pool: Pool, stream: bool = True) -> Awaitable[Upstream]:
        """Send holding a slot of `pool`, which goes with the answer (or back to the pool).

        A plain function handing back the transport's coroutine: one frame fewer between
        the attempt and the upstream on every wait for it."""
        try:
            connect, _ = self.deadline.cap(self.limits.connect)
            provider = self.provider
            url = provider.url_for(self.target.model, stream)
            headers = provider.headers(self.request.forwarded)
            if self.span is not None:
                headers = {**headers, **self.span.carrier}
        except BaseException:
            pool.give()
            raise
        return self.transport.post(
            url, headers, body, connect_timeout=max(connect, 0.001), pool=pool
        )

    def _usable(self, upstream: Upstream, *, sse: bool) -> bool:
        """A 200 of the expected kind (the usual answer: no coroutine for it); else
        `_check_status` says what is wrong."""
        if upstream.status != 200:
            return False
        return not sse or upstream.content_type == "text/event-stream"

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
        strip = False
        if body is None:
            strip = self.provider.dialect == "openai" and self.asks_usage()
            body = self._body(stream=True)
            if self.translation is not None:
                converter = self.translation.converter(caller_include_usage(self.request))
        pool = self._pool()
        if not pool.take():
            await self._wait(pool)
        self.sent = True
        # From here the slot is held: `_send` hands it to the answer or gives it back.
        phase = "first_byte"
        limit, binding = self.deadline.cap(self.limits.first_byte)
        loop = asyncio.get_running_loop()
        upstream: Upstream | None = None
        try:
            with PhaseTimer(loop, loop.time() + limit) as timer:
                upstream = await self._send(body, pool)
                if not self._usable(upstream, sse=True):
                    await self._check_status(upstream, sse=True)
                if self.request.meter is not None:
                    self._metered()
                self.headers_at = self.clock.monotonic()
                watch = self.watch
                if watch is not None:
                    watch.headers(self)
                # Headers are in: from here only the overall deadline bounds the wait for
                # the first content (the router races another target at the first-token
                # limit, when there is one).
                phase = "first_token"
                limit, binding = self.deadline.remaining(), True  # (`cap(math.inf)`)
                timer.move(loop.time() + limit)
                cap = self.transport.max_answer_bytes
                decoder = SSEDecoder(cap if cap < MAX_EVENT_BYTES else MAX_EVENT_BYTES)
                tracker = wire.tracker()
                head: list[bytes] = []
                head_events: list[tuple[bytes, Any]] = []
                fed = 0
                meter = self.meter
                self.strip_usage = strip
                size = 0
                while True:
                    chunk = await upstream.readany()
                    if not chunk:
                        raise TruncatedStream("the stream ended before any content")
                    size += len(chunk)
                    if size > cap:  # endless preamble events or keep-alive comments
                        raise AnswerTooLarge(cap)
                    decoder.push(chunk)
                    for event in decoder.events():
                        kind = tracker.feed(event)
                        fed += 1
                        if meter is not None:
                            meter.event(tracker.last)
                        if kind <= TERMINAL:  # PREAMBLE, CONTENT or TERMINAL
                            if converter is None:
                                if not (strip and usage_chunk(tracker.last)):
                                    head.append(event.raw)
                                    head_events.append((event.data, known_last(tracker)))
                            else:
                                head.append(self._convert(converter, kind, tracker.last))
                        if kind == PREAMBLE:
                            continue
                        if kind in (CONTENT, TERMINAL):
                            self.first_token_at = self.clock.monotonic()
                            if watch is not None:
                                watch.first_token(self)
                            return Opened(
                                upstream,
                                decoder,
                                tracker,
                                b"".join(head),
                                fed,
                                kind == TERMINAL,
                                converter,
                                head_events if converter is None else None,
                            )
                        if kind == MALFORMED and wire.harmless(event, tracker):
                            self.drop(event)
                            continue
                        raise self._fail_event(kind, event, tracker)
        except UpstreamError:
            # Our own errors (ConnectTimeout is a TimeoutError too) pass through as they are.
            if upstream is not None:
                upstream.close()
            self._unbilled()
            raise
        except TimeoutError:
            if upstream is not None:
                upstream.close()
            raise self._timeout_error(phase, limit, binding) from None
        except BaseException:
            if upstream is not None:
                upstream.close()
            raise

    def drop(self, event: SSEEvent) -> None:
        """A broken event that carried no content: logged (the first of each attempt) and
        counted, and the stream goes on."""
        self.dropped += 1
        if self.dropped == 1:
            log.warning(
                "%s: dropped a broken event from %s that carried no content: %s "
                "(further ones are counted, not logged)",
                self.request.request_id,
                self.target.label,
                self.provider.scrub_text(repr(event.raw[:120])),
            )

    @staticmethod
    def _convert(converter: StreamConverter, kind: int, obj: Any) -> bytes:
        try:
            return converter.feed(kind, obj, [])
        except (AttributeError, TypeError, KeyError, ValueError) as exc:
            raise MalformedEvent(f"an event does not have the documented shape ({exc})") from None

    # ------------------------------------------------------------------ non-streaming

    def complete(self) -> Awaitable[tuple[bytes, Upstream, Any]]:
        """A whole non-streaming answer body (the upstream's headers come along), and the
        object it is the JSON of (`Answer.parsed`: its usage for the access line):
        streamed and assembled, or (`always_stream: false`) asked for as it is. A plain
        function handing back the coroutine that does it: one frame fewer on every wait."""
        if not self.provider.config.always_stream:
            return self._complete_plain()
        return self._complete_assembled()

    async def _complete_assembled(self) -> tuple[bytes, Upstream, Any]:
        """The upstream streams; after the first content event the rest is only collected
        (each read bounded by `idle`), then parsed and assembled in one pass, because
        per-event work on an answer nobody sees before it is complete is wasted.
        """
        wire = self.provider.wire
        if self.translation is not None:
            body = self.translation.body(self.target.model, True, self.output_limit)
        else:
            body = wire.assembled_body(self._native()[0], self.target.model)
        opened = await self.open_stream(body)
        upstream = opened.upstream
        parts = [opened.head, opened.decoder.pending]
        tail = b"".join(parts)[-_TAIL:]
        done = opened.terminal or wire.ends_stream(tail)
        idle: IdleTimer | None = None
        cap = self.transport.max_answer_bytes
        size = len(parts[0]) + len(parts[1])
        try:
            if not done:  # often the first read held the whole answer: no timer then
                with PhaseTimer(asyncio.get_running_loop(), math.inf) as timer:
                    idle = IdleTimer(timer, self)
                    while not done:
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
                    self.drop(SSEEvent(None, data, data))
                if self.meter is not None:
                    self.meter.answer(answer)
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
        return orjson.dumps(answer), upstream, answer

    async def _complete_plain(self) -> tuple[bytes, Upstream, Any]:
        """Forward a non-streaming request as is; only the overall deadline bounds the wait."""
        body = self._body(stream=False)
        pool = self._pool()
        if not pool.take():
            await self._wait(pool)
        self.sent = True
        limit, _ = self.deadline.cap(self.deadline.seconds)
        upstream: Upstream | None = None
        loop = asyncio.get_running_loop()
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
                with PhaseTimer(loop, now + limit, now + self.limits.idle) as timer:
                    upstream = await self._send(body, pool, stream=False)
                    if upstream.status != 200:
                        await self._check_status(upstream, sse=False)
                    declared = upstream.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > self.transport.max_answer_bytes:
                        raise AnswerTooLarge(self.transport.max_answer_bytes)
                    if self.request.meter is not None:
                        self._metered()
                    self.first_token_at = self.clock.monotonic()
                    parts: list[bytes] = []
                    cap = self.transport.max_answer_bytes
                    size = 0
                    reading = True
                    while True:
                        idle, binding = self.deadline.cap(self.limits.idle)
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
                    raise self._timeout_error("idle", idle, binding) from None
                raise
            data = b"".join(parts)
            try:
                answer = orjson.loads(data)
            except orjson.JSONDecodeError:
                raise BadResponse("the answer is not valid JSON") from None
            if self.meter is not None:
                self.meter.answer(answer)
            if self.translation is not None:
                try:
                    answer = self.translation.response(answer)
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
                f"the request's deadline ({self.deadline.seconds:g}s) ran out "
                "waiting for the answer"
            ) from None
        except BaseException:
            if upstream is not None:
                upstream.close()
            raise


def _event_error(obj: Any) -> tuple[str | None, str | None]:
    err = obj.get("error") if isinstance(obj, dict) else None
    if not isinstance(err, dict):
        return responses.event_error(obj)  # `error` / `response.failed`: their own shapes
    kind, message = err.get("type"), err.get("message")
    return (
        kind if isinstance(kind, str) else None,
        message if isinstance(message, str) else None,
    )
