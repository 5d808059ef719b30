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
from collections.abc import Awaitable
from typing import Any

from failsoft.clock import Clock
from failsoft.config import Deadlines
from failsoft.dialects.base import (
    CONTENT,
    MALFORMED,
    PREAMBLE,
    TERMINAL,
    StreamTracker,
    known_last,
)
from failsoft.dialects.sse import SSEDecoder, SSEEvent
from failsoft.errors import (
    AnswerTooLarge,
    MalformedEvent,
    TruncatedStream,
    UpstreamError,
)
from failsoft.policy.deadline import Deadline
from failsoft.providers import Provider
from failsoft.router.bodies import native_parts, upstream_body
from failsoft.router.complete import assembled, plain
from failsoft.router.failures import check_status, fail_event, timeout_error
from failsoft.router.phases import Opened, Watch
from failsoft.router.timer import PhaseTimer
from failsoft.translate import Translation, caller_include_usage
from failsoft.translate.stream import StreamConverter
from failsoft.transport import Pool, Transport, Upstream
from failsoft.types import ChatRequest, Target
from failsoft.usage.extract import usage_chunk
from failsoft.usage.meter import AttemptMeter

log = logging.getLogger("failsoft.router")

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
        "loop",
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
        translation: Translation | None = None,
        probe: bool = False,
        watch: Watch | None = None,
        pool: Pool | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
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
        self.loop = loop if loop is not None else asyncio.get_running_loop()
        """The loop it runs on, as its run found it once for all its attempts: on Python
        3.11 every `asyncio.get_running_loop()` costs a `getpid` system call, and its
        timers (`PhaseTimer`, `IdleTimer`) need the loop."""

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the translation for this target could not carry (empty when none)."""
        if self.translation is None:
            note = native_parts(self)[2]
            return () if note is None else (note,)
        return self.translation.warnings_for(self.target.model, self.output_limit)

    @property
    def first_token(self) -> float | None:
        """Seconds from sending to the first content (a wait for a connection left out)."""
        if self.first_token_at is None:
            return None
        return self.first_token_at - self.started - self.waited

    # ------------------------------------------------------------------ helpers

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
            url, headers, body, connect_timeout=max(connect, 0.001), pool=pool, loop=self.loop
        )

    def _timeout_error(self, phase: str, limit: float, binding: bool) -> UpstreamError:
        return timeout_error(self, phase, limit, binding)

    def _fail_event(self, kind: int, event: SSEEvent, tracker: StreamTracker) -> UpstreamError:
        return fail_event(self, kind, event, tracker)

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
        assembling = body is not None
        if body is None:
            strip = self.provider.dialect == "openai" and self.asks_usage()
            body = upstream_body(self, stream=True)
            if self.translation is not None:
                converter = self.translation.converter(caller_include_usage(self.request))
        pool = self.pool
        if pool is None:
            pool = self._pool()
        if not pool.take():
            await self._wait(pool)
        self.sent = True
        # From here the slot is held: `_send` hands it to the answer or gives it back.
        phase = "first_byte"
        limit, binding = self.deadline.cap(self.limits.first_byte)
        loop = self.loop
        upstream: Upstream | None = None
        try:
            with PhaseTimer(loop, loop.time() + limit) as timer:
                upstream = await self._send(body, pool)
                # A 200 event stream (the usual answer: no coroutine for it), else
                # `check_status` says what is wrong.
                if upstream.status != 200 or upstream.content_type != "text/event-stream":
                    await check_status(self, upstream, sse=True)
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
                # Kept for mid-stream resume (`Opened.head_events`): not for an answer
                # failsoft assembles, nor for a translated stream.
                events: list[tuple[bytes, Any]] | None = (
                    [] if not assembling and converter is None else None
                )
                fed = 0
                meter = self.meter
                self.strip_usage = strip
                size = 0
                while True:
                    chunk = upstream.poll()  # often the head's read held the events
                    if chunk is None:
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
                                    if events is not None:
                                        events.append((event.data, known_last(tracker)))
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
                                events,
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
            return plain(self)
        return assembled(self)
