"""A stream after its commit point: relay whole upstream events, never end silently.

Once the caller has the 200 and the first content, failover is no longer invisible. From
here the relay forwards the upstream's bytes event by event without re-encoding them and
ends in exactly one of three ways:

- the upstream's own terminal event (`message_stop`; `[DONE]` after every `finish_reason`);
- the upstream's own in-band error event, forwarded as it came;
- failsoft's in-band error event in the caller's dialect, for every other end: a cut
  connection, a stall longer than `deadlines.idle`, the overall deadline, a malformed
  event, or a clean end of body without the terminal event. The SDKs raise on it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable

from failsoft.dialects.base import CONTENT, ERROR, TERMINAL, Wire
from failsoft.dialects.sse import SSEEvent
from failsoft.errors import TruncatedStream, UpstreamError, UpstreamTimeout
from failsoft.router.attempt import Attempt, Opened
from failsoft.types import AttemptRecord, Target

log = logging.getLogger("failsoft.router")


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
        self.target: Target = attempt.target
        self.attempts = attempts
        self.upstream_request_id: str | None = opened.upstream.headers.get(
            attempt.provider.wire.request_id_header
        )
        self.error: UpstreamError | None = None
        self.complete = False
        self.events = opened.fed
        """Events relayed so far (for messages and logs)."""
        self._gen: AsyncGenerator[bytes, None] | None = None

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
            self._on_end(self)
        await self._gen.aclose()

    async def _relay(self) -> AsyncGenerator[bytes, None]:
        opened = self._opened
        upstream, decoder = opened.upstream, opened.decoder
        attempt = self._attempt
        try:
            data, stop = self._scan(opened.raw, opened.events, opened.next_index)
            first = b"".join(opened.held) + data if opened.held else data
            if first:
                yield first
            if stop or opened.terminal:
                self.complete = self.complete or opened.terminal
                return
            while True:
                limit, binding = attempt.deadline.cap(attempt.limits.idle)
                try:
                    async with asyncio.timeout(limit):
                        chunk = await upstream.readany()
                except TimeoutError:
                    yield self._broken(attempt._timeout_error("idle", limit, binding))
                    return
                except UpstreamError as exc:
                    yield self._broken(exc)
                    return
                if not chunk:
                    yield self._broken(
                        TruncatedStream("the upstream ended the stream without its terminal event")
                    )
                    return
                raw, events = decoder.feed(chunk)
                if not raw:
                    continue
                data, stop = self._scan(raw, events, 0)
                if data:
                    yield data
                if stop:
                    return
        finally:
            if self.complete:
                upstream.finish()
            else:
                upstream.close()
            self._on_end(self)

    def _scan(self, raw: bytes, events: list[SSEEvent], start: int) -> tuple[bytes, bool]:
        """Check one batch: the bytes to send and whether the stream ends with this batch."""
        tracker = self._opened.tracker
        for index in range(start, len(events)):
            event = events[index]
            kind = tracker.feed(event)
            if kind <= CONTENT:
                continue
            self.events += index - start
            if kind == TERMINAL:
                self.events += 1
                self.complete = True
                if index == len(events) - 1:
                    return raw, True
                return _join(events, index + 1), True
            error = self._attempt._fail_event(kind, event, tracker)
            if kind == ERROR:
                # The upstream's own in-band error is already in the caller's dialect.
                self.events += 1
                self.error = error
                self._log(error)
                return _join(events, index + 1), True
            return _join(events, index) + self._broken(error), True
        self.events += len(events) - start
        return raw, False

    def _broken(self, error: UpstreamError) -> bytes:
        self.error = error
        self._log(error)
        message = (
            f"failsoft: the stream from {self.target.label} broke after {self.events} events: "
            f"{error.message}"
        )
        return self._wire.stream_error(message, timeout=isinstance(error, UpstreamTimeout))

    def _log(self, error: UpstreamError) -> None:
        log.warning(
            "%s: committed stream from %s broke after %d events: %s",
            self._attempt.request.request_id,
            self.target.label,
            self.events,
            error.message,
        )


def _join(events: list[SSEEvent], stop: int) -> bytes:
    return b"".join(event.raw for event in events[:stop])
