"""Typed events the router emits; health, metrics, logs and the demo subscribe.

Events are plain slotted dataclasses, not frozen ones: a frozen dataclass costs ~2 µs more
to build (measured), and two are built per request. Subscribers must treat them as
read-only.

Subscribers are plain callables run inline, so they must be cheap and must not raise
(a failing subscriber is logged and skipped, never allowed to break a request). When no
one subscribes to a kind of event, the router skips building it at all (`EventHub.attempts`,
`requests`, `breakers`; `active` for any).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from failsoft.types import Dialect, Target

log = logging.getLogger("failsoft.events")


@dataclass(slots=True)
class AttemptFinished:
    """One attempt against one target ended (success or failure)."""

    request_id: str
    virtual_model: str
    target: Target
    outcome: str
    """Trail token: `200`, an HTTP status, or a word such as `reset`."""
    ok: bool
    duration: float
    first_token: float | None
    """Seconds to the first content event (streams and assembled answers), if reached."""
    kind: str = "first"
    """`first` (the request's first try), `retry` (same target again), `fallback` (a later
    target after a failed attempt), `hedge` (in parallel with a slow one) or `probe` (the
    single half-open attempt of a breaker)."""


@dataclass(slots=True)
class RequestFinished:
    """A caller's request ended; for streams, when the stream ended."""

    request_id: str
    virtual_model: str
    dialect: Dialect
    stream: bool
    ok: bool
    status: int
    """The status the caller saw (200 for a committed stream, even if it broke later;
    499 when the caller disconnected before an answer)."""
    target: Target | None
    attempts: int
    duration: float
    broken: bool = False
    """A committed stream whose upstream broke after it started (the target's fault)."""
    shed: bool = False
    """Refused by failsoft's own admission control: the gateway's overload, not a
    provider's failure (health statistics must not count it against any provider)."""
    resumed: bool = False
    """The broken stream was finished by a verified continuation: `ok`, the caller got
    the whole answer, though `target` broke."""


@dataclass(slots=True)
class BreakerChanged:
    """A target's circuit breaker changed state."""

    target: Target
    state: str
    """`closed`, `open` or `half_open`."""
    previous: str
    reason: str
    open_for: float | None = None
    followed: bool = False
    """Another process's change, followed here through the shared state: its webhook
    message is that process's to send."""


Event = AttemptFinished | RequestFinished | BreakerChanged
E = TypeVar("E", AttemptFinished, RequestFinished, BreakerChanged)


class EventHub:
    def __init__(self) -> None:
        self._subscribers: dict[type[Any], list[Callable[[Any], None]]] = {}
        self.active = False
        """Anyone subscribes to anything."""
        self.attempts = self.requests = self.breakers = False
        """Anyone subscribes to `AttemptFinished`, `RequestFinished`, `BreakerChanged`."""

    def subscribe(self, kind: type[E], callback: Callable[[E], None]) -> Callable[[], None]:
        """Call `callback` for every event of `kind`; returns a function that unsubscribes."""
        self._subscribers.setdefault(kind, []).append(callback)
        self._listening()

        def unsubscribe() -> None:
            callbacks = self._subscribers.get(kind, [])
            if callback in callbacks:
                callbacks.remove(callback)
            self._listening()

        return unsubscribe

    def _listening(self) -> None:
        subscribers = self._subscribers
        self.attempts = bool(subscribers.get(AttemptFinished))
        self.requests = bool(subscribers.get(RequestFinished))
        self.breakers = bool(subscribers.get(BreakerChanged))
        self.active = any(subscribers.values())

    def emit(self, event: Event) -> None:
        for callback in self._subscribers.get(type(event), ()):
            try:
                callback(event)
            except Exception:
                log.exception("event subscriber %r failed on %s", callback, type(event).__name__)
