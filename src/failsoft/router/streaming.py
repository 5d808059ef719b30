"""A stream after its commit point: relay whole upstream events, never end silently.

Once the caller has the 200 and the first content, failover is no longer invisible. From
here the relay forwards the upstream's bytes event by event without re-encoding them and
ends in exactly one of four ways:

- the upstream's own terminal event (`message_stop`; `[DONE]` after every `finish_reason`);
- the rest of the answer from another target, when mid-stream resume is on and the
  answer so far is plain text (see `resume.py`);
- the upstream's own in-band error event, forwarded as it came;
- failsoft's in-band error event in the caller's dialect, for every other end: a cut
  connection, a stall longer than `deadlines.idle`, the overall deadline, a malformed
  event, or a clean end of body without the terminal event. The SDKs raise on it.

Two small deviations are not breaks. A stream that delivered everything (every finish,
the usage when asked) and then ended cleanly without its end marker (`[DONE]`,
`message_stop`) is complete: the marker is supplied. A broken event that can be shown to
carry no content (a ping, a chunk after the finish) is dropped, logged and counted; any
other broken event is a break.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any

from failsoft.dialects import responses
from failsoft.dialects.base import CONTENT, ERROR, MALFORMED, TERMINAL, Wire
from failsoft.errors import (
    AnswerTooLarge,
    MalformedEvent,
    TruncatedStream,
    UpstreamError,
    UpstreamTimeout,
)
from failsoft.policy.deadline import Deadline
from failsoft.router.attempt import Attempt
from failsoft.router.direct import DirectRelay
from failsoft.router.phases import IdleTimer, Opened
from failsoft.router.timer import PhaseTimer
from failsoft.translate import caller_include_usage
from failsoft.translate.stream import StreamConverter
from failsoft.types import AttemptRecord, Target
from failsoft.usage.extract import usage_chunk

log = logging.getLogger("failsoft.router")

Resumer = Callable[["CommittedStream", UpstreamError], Awaitable[AsyncIterator[bytes] | None]]
"""Given a broken stream, the rest of its answer from elsewhere (or None if there is none)."""


class CommittedStream:
    """Iterate for byte batches to send as they are; `error` is set if the stream broke."""

    def __init__(
        self,
        attempt: Attempt,
        opened: Opened,
        attempts: list[AttemptRecord],
        caller_wire: Wire,
        on_end: Callable[[CommittedStream], None],
    ) -> None:
        self._attempt = attempt
        self._opened = opened
        self._wire = caller_wire
        self._on_end = on_end
        self._ended = False
        self.on_close: list[Callable[[], None]] = []
        """Run once when the stream ends, however it ends (releases its in-flight slots)."""
        self.resumer: Resumer | None = None
        """Set (by mid-stream resume) to bring the rest of a broken answer."""
        self.on_break: Callable[[CommittedStream], None] | None = None
        """Called as soon as the upstream breaks, before any resume: the target's breaker
        hears of it at once, not after a continuation has finished the answer."""
        self.target: Target = attempt.target
        self.attempts = attempts
        self.request = attempt.request
        self.upstream_request_id: str | None = opened.upstream.headers.get(
            attempt.provider.wire.request_id_header
        )
        self.error: UpstreamError | None = None
        """Set when the caller's stream ended with an error (not resumed)."""
        self.broken: UpstreamError | None = None
        """Set when this upstream's stream broke, whether or not the answer was resumed."""
        self.resumed = False
        """The break was repaired: the caller got the whole answer from elsewhere."""
        self.supplied_end = False
        """The upstream left out its end marker after a complete answer; failsoft sent it."""
        self.complete = False
        self.events = opened.fed
        """Events relayed so far (for messages and logs)."""
        self.observers: list[Callable[[Any], object]] = []
        """Called with each relayed event's parsed JSON (resume keeps its transcript so)."""
        self._upstream_error: bytes | None = None
        self._last_sent = b""
        """The last bytes relayed from the upstream (an untranslated Responses stream's
        error event is numbered after them)."""
        self._upstream_error_event: Any = None
        """The upstream's error event, parsed: a translated (or taken over) stream's is
        written in the caller's dialect only when it is sent, so that a Responses encoder
        numbers it then, after any resumed text."""
        self._gen: AsyncGenerator[bytes, None] | None = None
        self._convert = opened.converter
        self.direct: Callable[[bytes], bool] | None = None
        """Set by the server before iterating: writes a batch for the caller straight to
        its connection (True), or declines (False: it is yielded instead); the relay then
        runs in relay mode (router/direct.py)."""

    @property
    def attempt(self) -> Attempt:
        return self._attempt

    @property
    def warnings(self) -> tuple[str, ...]:
        """What translating the request for this target could not carry."""
        return self._attempt.warnings

    def __aiter__(self) -> AsyncIterator[bytes]:
        if self._gen is None:
            self._gen = self._relay()
        return self._gen

    async def aclose(self) -> None:
        """Stop early (the caller went away): drop the upstream connection at once."""
        if self._gen is None:
            # Never iterated: the relay's own cleanup will not run, so do it here.
            self._gen = self._relay()
            self._opened.upstream.close()
            self._end()
        await self._gen.aclose()

    @property
    def converter(self) -> StreamConverter | None:
        """The translation of this stream into the caller's dialect, if it is translated."""
        return self._convert

    def take_over(self, converter: StreamConverter) -> None:
        """From the break on, the caller's stream is written by `converter` (a Responses
        stream relayed as is, which mid-stream resume goes on with): the rest of the
        answer, and any error end, numbered on by its encoder."""
        assert self._convert is None
        self._convert = converter

    @property
    def deadline(self) -> Deadline:
        return self._attempt.deadline

    @property
    def head(self) -> bytes:
        """The raw events up to the first content (already relayed first)."""
        return self._opened.head

    @property
    def head_events(self) -> list[tuple[bytes, Any]] | None:
        """`head`'s events as the attempt parsed them (see `Opened.head_events`)."""
        return self._opened.head_events

    async def _relay(self) -> AsyncGenerator[bytes, None]:
        opened = self._opened
        upstream, decoder = opened.upstream, opened.decoder
        attempt = self._attempt
        idle: IdleTimer | None = None
        broken: UpstreamError | None = None
        # An endless stream to a streaming caller grows no memory (it is relayed as it
        # comes), but it would hold a connection and bill the caller until the deadline.
        cap = attempt.transport.max_answer_bytes
        size = len(opened.head) + len(decoder.pending)
        try:
            if opened.terminal:
                self.complete = True
                yield opened.head
                return
            data, stop, broken = self._scan()
            first = opened.head + data if data else opened.head
            self._last_sent = first
            yield first
            if not stop:
                # One timer for the whole relay, re-armed per read. It is disarmed before
                # every yield: the caller's own pace must not count as an upstream gap, and a
                # timer firing while the consumer runs would cancel the consumer instead.
                with PhaseTimer(attempt.loop, math.inf) as timer:
                    idle = IdleTimer(timer, attempt)
                    direct = self._direct(timer, idle, size, cap)
                    while True:
                        idle.arm()
                        if direct is not None and direct.attach():
                            # Relay mode (router/direct.py): events go out from the
                            # upstream's callback; woken only for what needs the task.
                            try:
                                await direct.wait()
                            finally:
                                size = direct.size
                                if direct.sent:
                                    self._last_sent, direct.sent = direct.sent, b""
                            if direct.failure is not None:
                                raise direct.failure
                            if direct.held:
                                idle.disarm()
                                self._last_sent, direct.held = direct.held, b""
                                yield self._last_sent
                            if direct.stop:
                                idle.disarm()
                                broken = direct.broken
                                break
                            continue  # the exchange ended, or pieces wait: read them
                        try:
                            chunk = await upstream.readany()
                            if not chunk:
                                chunk = self._missing_end()
                            size += len(chunk)
                            if size > cap:
                                raise AnswerTooLarge(cap)
                            decoder.push(chunk)
                        except UpstreamError as exc:
                            idle.disarm()
                            broken = exc
                            break
                        data, stop, broken = self._scan()
                        if direct is not None:
                            direct.size = size
                        if data:
                            idle.disarm()
                            self._last_sent = data
                            yield data
                        if stop:
                            break
        except TimeoutError:
            if idle is None:
                raise
            broken = idle.error()
        finally:
            if broken is None:
                self._finish()
        if broken is not None:
            upstream.close()
            try:
                async for data in self._end_broken(broken):
                    yield data
            finally:
                self._end()

    def _direct(
        self, timer: PhaseTimer, idle: IdleTimer, size: int, cap: int
    ) -> DirectRelay | None:
        """The relay-mode sink, when the caller's connection takes direct writes (`direct`)
        and the upstream's connection can hand its body pieces over as they are parsed."""
        write = self.direct
        conn = getattr(self._opened.upstream, "connection", None)
        if write is None or conn is None or not hasattr(conn, "relay_to"):
            return None
        push = self._opened.decoder.push
        return DirectRelay(conn, push, self._scan, write, timer, idle, size, cap)

    def _missing_end(self) -> bytes:
        """At a clean end of body: the end marker to supply if the answer is complete
        without it, else the break."""
        opened = self._opened
        if not opened.decoder.pending.strip():
            expect_usage = self._convert is not None or caller_include_usage(self.request)
            end = self._attempt.provider.wire.missing_end(opened.tracker, expect_usage)
            if end is not None:
                self.supplied_end = True
                log.info(
                    "%s: the stream from %s ended cleanly after a complete answer but "
                    "without its end marker; failsoft supplied it",
                    self.request.request_id,
                    self.target.label,
                )
                return end.raw
        raise TruncatedStream("the upstream ended the stream without its terminal event")

    def _finish(self) -> None:
        opened = self._opened
        if self.complete:
            opened.upstream.finish()
        else:
            opened.upstream.close()
        self._end()

    def _end(self) -> None:
        if self._ended:
            return
        self._ended = True
        for release in self.on_close:
            release()
        self._on_end(self)

    def _scan(self) -> tuple[bytes, bool, UpstreamError | None]:
        """Check the complete events received so far: the bytes to send, whether the stream
        ends with them, and the failure that ended it, if one did."""
        tracker = self._opened.tracker
        observers = self.observers
        convert = self._convert
        meter = self._attempt.meter
        strip = self._attempt.strip_usage
        raws: list[bytes] = []
        fed = 0
        for event in self._opened.decoder.events():
            kind = tracker.feed(event)
            fed += 1
            if meter is not None:
                meter.event(tracker.last)
            if kind <= TERMINAL and convert is not None:
                try:
                    data = convert.feed(kind, tracker.last, observers)
                except (AttributeError, TypeError, KeyError, ValueError) as exc:
                    self.events += fed - 1
                    bad = MalformedEvent(f"an event does not have the documented shape ({exc})")
                    return _join(raws), True, bad
                if data:
                    raws.append(data)
                if kind == TERMINAL:
                    self.events += fed
                    self.complete = True
                    return _join(raws), True, None
                continue
            if kind <= CONTENT:
                if strip and usage_chunk(tracker.last):
                    continue  # asked for by failsoft's meter, not by the caller
                raws.append(event.raw)
                for observe in observers:
                    observe(tracker.last)
                continue
            if kind == TERMINAL:
                raws.append(event.raw)
                self.events += fed
                self.complete = True
                return _join(raws), True, None
            if kind == MALFORMED and self._attempt.provider.wire.harmless(event, tracker):
                self._attempt.drop(event)
                fed -= 1
                continue
            error = self._attempt._fail_event(kind, event, tracker)
            self.events += fed - 1
            if kind == ERROR:
                if convert is None:
                    self._upstream_error = self._attempt.provider.scrub(event.raw)
                self._upstream_error_event = tracker.last
            return _join(raws), True, error
        self.events += fed
        return _join(raws), False, None

    async def _end_broken(self, error: UpstreamError) -> AsyncGenerator[bytes, None]:
        """The stream broke: the rest of the answer from elsewhere, or an explicit error."""
        self.broken = error
        self._log(error)
        if self.on_break is not None:
            self.on_break(self)
        if self.resumer is not None and not isinstance(error, AnswerTooLarge):
            # Not resumed: a continuation of an endless answer would be endless too.
            rest = await self.resumer(self, error)
            if rest is not None:
                async for data in rest:
                    yield data
                return
        yield self.failure_frame(error)

    def failure_frame(self, error: UpstreamError, why: str | None = None) -> bytes:
        """How the caller's stream ends when nothing finished it: the upstream's own in-band
        error (already in the caller's dialect), else failsoft's; `why` says why a resume
        did not help."""
        if self._upstream_error_event is not None and self._convert is not None:
            obj, self._upstream_error_event = self._upstream_error_event, None
            self._upstream_error = self._attempt.provider.scrub(self._convert.error(obj))
        if self._upstream_error is not None:
            self.error = error
            return self._upstream_error
        return self.error_frame(error, why)

    def error_frame(self, error: UpstreamError, why: str | None = None) -> bytes:
        """failsoft's in-band error event for this stream (the SDKs raise on it)."""
        self.error = error
        message = (
            f"failsoft: the stream from {self.target.label} broke after {self.events} events: "
            f"{self._attempt.provider.scrub_text(error.message)}"
        )
        if why:
            message += f"; it could not be resumed: {why}"
        timeout = isinstance(error, UpstreamTimeout)
        if self._convert is not None:
            numbered = self._convert.failure(message, timeout)
            if numbered is not None:
                return numbered
        tracker = self._opened.tracker
        if self._convert is None and isinstance(tracker, responses.Tracker):
            # A Responses stream relayed as is: failsoft's end numbers on from it.
            return responses.relay_failure(tracker, message, timeout)
        if self.request.dialect == "responses":
            sequence = responses.next_sequence(self._last_sent)
            return responses.stream_error(message, timeout=timeout, sequence=sequence)
        return self._wire.stream_error(message, timeout=timeout)

    def _log(self, error: UpstreamError) -> None:
        log.warning(
            "%s: committed stream from %s broke after %d events: %s",
            self.request.request_id,
            self.target.label,
            self.events,
            self._attempt.provider.scrub_text(error.message),
        )


def _join(raws: list[bytes]) -> bytes:
    return raws[0] if len(raws) == 1 else b"".join(raws)
