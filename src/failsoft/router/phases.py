"""What an attempt hands on and listens to: the opened stream, the idle timer, the watch.

Split from `attempt.py` so that the committed relay (`streaming.py`) and the races
(`race.py`) can share these small pieces without the whole attempt.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Protocol

from failsoft.dialects.base import StreamTracker
from failsoft.dialects.sse import SSEDecoder
from failsoft.errors import UpstreamError
from failsoft.router.timer import PhaseTimer
from failsoft.translate.stream import StreamConverter
from failsoft.transport import Upstream

if TYPE_CHECKING:
    from failsoft.router.attempt import Attempt


class Opened:
    """A stream that produced its first content event; what the committed relay resumes."""

    __slots__ = (
        "converter",
        "decoder",
        "fed",
        "head",
        "head_events",
        "terminal",
        "tracker",
        "upstream",
    )

    def __init__(
        self,
        upstream: Upstream,
        decoder: SSEDecoder,
        tracker: StreamTracker,
        head: bytes,
        fed: int,
        terminal: bool,
        converter: StreamConverter | None = None,
        head_events: list[tuple[bytes, Any]] | None = None,
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
        self.head_events = head_events
        """The events of `head`, each as its `data` and what the tracker parsed of it
        (`UNPARSED` when a lazy tracker has not, None when it took it for no JSON), when
        `head` is the upstream's own bytes: mid-stream resume's transcript observes them
        without decoding `head` and parsing its JSON a second time before the first
        content reaches the caller. None when `head` is translated."""


class Watch(Protocol):
    """Told when an attempt's response headers and its first content arrive (the router's
    bookkeeping: races, silence, breaker probes)."""

    def headers(self, attempt: Attempt) -> None: ...

    def first_token(self, attempt: Attempt) -> None: ...


class IdleTimer:
    """The idle limit for the next read, on the attempt's `PhaseTimer`.

    A stream delivers hundreds of small reads a second, and its consumer's time between
    them must not count (`disarm` before every yield). Arming works out the limit (and
    whether the request's deadline binds it) only once `slack` has passed since it last
    did, and sets it `slack` later than the limit: the gap a stream is allowed is then
    between `limit` and `limit + slack`, never less. In between, arming and disarming
    are attribute writes on the timer (`timer.py`), whose one handle re-arms itself.
    """

    __slots__ = ("_armed", "_attempt", "_loop", "_slack", "_timer", "_when", "binding", "limit")

    def __init__(self, timer: PhaseTimer, attempt: Attempt) -> None:
        self._timer = timer
        self._attempt = attempt
        self._loop = attempt.loop
        self._slack = attempt.limits.idle * 0.05
        self._armed = -math.inf
        self._when = math.inf
        self.limit = 0.0
        self.binding = False

    def arm(self) -> None:
        now = self._loop.time()
        if now - self._armed < self._slack:
            self._timer.move(self._when)
            return
        attempt = self._attempt
        self.limit, self.binding = attempt.deadline.cap(attempt.limits.idle)
        slack = 0.0 if self.binding else self._slack
        self._when = now + self.limit + slack
        self._timer.move(self._when)
        self._armed = now

    def disarm(self) -> None:
        self._timer.when = math.inf

    def error(self) -> UpstreamError:
        return self._attempt._timeout_error("idle", self.limit, self.binding)
