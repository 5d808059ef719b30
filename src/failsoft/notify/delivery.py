"""Webhook delivery, endpoint by endpoint: what an endpoint is, its lane (queue and worker),
the POST with its retries, and the dead letters for what cannot be delivered.

Apart from notify/webhooks.py, which holds the sender's API (`send`, `resend`, `start`,
`close`: render, enqueue, shut down), because this is what runs behind it: one worker per
endpoint takes the lane's queue in order, signs and POSTs each message, retries with backoff
(or the endpoint's `Retry-After`), disables an endpoint that answers 410 Gone, and buries
what it gives up on, or leaves it in the outbox when shutting down. `WebhookSender` inherits
`Delivery`; the attributes declared there are the sender's.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from failsoft.clock import Clock
from failsoft.config.policies import Backoff
from failsoft.notify.deadletter import DeadLetter, DeadLetterSink, write_dead_letter
from failsoft.notify.outbox import OutboxHook
from failsoft.notify.payloads import EVENT_TYPES, Format
from failsoft.notify.retry import RETRYABLE
from failsoft.notify.retry import retry_after as _retry_after
from failsoft.notify.signing import Signer
from failsoft.policy.backoff import full_jitter
from failsoft.transport.http import USER_AGENT, FetchError, Transport, fetch

log = logging.getLogger("failsoft.notify")


@dataclass(frozen=True)
class Endpoint:
    """One receiver. Secrets and extra headers are kept out of `repr`, hence out of logs."""

    url: str
    secret: str | tuple[str, ...] | None = field(default=None, repr=False)
    """`whsec_<base64>` or a plain string (used as UTF-8); several while rotating."""
    events: frozenset[str] = frozenset()
    """Event types to send; empty means all."""
    format: Format = "standard"
    timeout: float = 10.0
    """Seconds for one attempt, connect to last byte."""
    max_attempts: int = 8
    backoff_base: float = 1.0
    backoff_cap: float = 300.0
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # Fail at startup, not at the first incident hours later.
        if self.format not in ("standard", "slack"):
            raise ValueError(f"webhook format must be standard or slack, not {self.format!r}")
        unknown = self.events - EVENT_TYPES
        if unknown:
            raise ValueError(f"unknown webhook event types: {', '.join(sorted(unknown))}")
        if self.max_attempts < 1 or min(self.timeout, self.backoff_base, self.backoff_cap) <= 0:
            raise ValueError("webhook max_attempts, timeout and backoff must be positive")

    def __repr__(self) -> str:
        return f"Endpoint({redact(self.url)!r}, format={self.format!r})"

    def wants(self, event_type: str) -> bool:
        return not self.events or event_type in self.events

    @property
    def horizon(self) -> float:
        """The longest, in seconds, a message can be retried before it is dead-lettered
        (every wait at the backoff cap, every attempt timing out)."""
        return self.max_attempts * (self.timeout + self.backoff_cap)


@dataclass(slots=True)
class Message:
    id: str
    event_type: str
    body: bytes
    at: float = 0.0
    """Wall-clock time it was first queued (by this process or, resent, another)."""
    kept: bool = False
    """In the outbox: `done` is told once it is delivered or dead-lettered."""
    attempts: int = 0
    last_error: str = ""


def redact(url: str) -> str:
    """A URL for logs: scheme and host only, since webhook paths are often the credential
    (a Slack incoming-webhook URL is all one needs to post to a channel)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"


class Lane:
    """One endpoint's queue and worker state."""

    def __init__(self, index: int, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.name = f"#{index} {redact(endpoint.url)}"
        self.signer = Signer(endpoint.secret) if endpoint.secret else None
        self.backoff = Backoff(base=endpoint.backoff_base, cap=endpoint.backoff_cap)
        extra = {k.lower(): v for k, v in endpoint.headers.items()}
        self.headers = {**extra, "content-type": "application/json", "user-agent": USER_AGENT}
        self.queue: deque[Message] = deque()
        self.current: Message | None = None
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.disabled = False


class Delivery:
    """The workers and dead letters of `WebhookSender`; it holds the state below."""

    _lanes: list[Lane]
    _transport: Transport
    _clock: Clock
    _rng: random.Random
    _path: Path | None
    _dead_letter: DeadLetterSink
    _queue_size: int
    _outbox: OutboxHook | None
    _dead_queue: deque[tuple[DeadLetter, bool]]
    _dead_wake: asyncio.Event
    _closing: bool
    _drain_until: float
    delivered: int
    retried: int
    dead: int
    left: int

    async def _worker(self, lane: Lane) -> None:
        while True:
            if not lane.queue:
                if self._closing:
                    return
                lane.wake.clear()
                await lane.wake.wait()
                continue
            msg = lane.current = lane.queue.popleft()
            try:
                await self._deliver(lane, msg)
            except Exception as exc:  # a bug must not silence the endpoint for good
                log.exception("webhook %s %s: delivery failed", lane.name, msg.id)
                self._bury(lane, msg, f"internal error: {type(exc).__name__}")
            lane.current = None

    async def _deliver(self, lane: Lane, msg: Message) -> None:
        ep = lane.endpoint
        while True:
            if lane.disabled:
                self._bury(lane, msg, "endpoint disabled after 410 Gone")
                return
            msg.attempts += 1
            retry_after: float | None = None
            timestamp = int(self._clock.wall())
            # Id and timestamp even unsigned: receivers deduplicate retries by the id.
            headers = {**lane.headers, "webhook-id": msg.id, "webhook-timestamp": str(timestamp)}
            if lane.signer is not None:
                headers["webhook-signature"] = lane.signer.signature(msg.id, timestamp, msg.body)
            try:
                answer = await fetch(
                    self._transport,
                    "POST",
                    ep.url,
                    headers=headers,
                    body=msg.body,
                    seconds=ep.timeout,
                )
            except FetchError as exc:
                msg.last_error = str(exc)
            else:
                status = answer.status
                if 200 <= status < 300:
                    self.delivered += 1
                    if msg.kept and self._outbox is not None:
                        self._outbox.done(ep.url, msg.id)
                    return
                msg.last_error = f"HTTP {status}"
                if status == 410:
                    lane.disabled = True
                    log.error("webhook %s answered 410 Gone: disabled until restart", lane.name)
                    continue
                if status < 500 and status not in RETRYABLE:
                    self._bury(lane, msg, msg.last_error)
                    return
                retry_after = _retry_after(answer.headers, self._clock.wall())
            if msg.attempts >= ep.max_attempts:
                self._bury(lane, msg, msg.last_error)
                return
            if retry_after is not None:
                delay = min(retry_after, ep.backoff_cap)
            else:
                delay = full_jitter(lane.backoff, msg.attempts, self._rng)
            if self._clock.monotonic() + delay > self._drain_until:
                self._leave(lane, msg, f"{msg.last_error}; shutting down before the next retry")
                return
            self.retried += 1
            log.warning(
                "webhook %s %s attempt %d failed (%s); retrying in %.1fs",
                lane.name,
                msg.id,
                msg.attempts,
                msg.last_error,
                delay,
            )
            await self._clock.sleep(delay)

    # ----------------------------------------------------------------------- dead letters

    def _bury(self, lane: Lane, msg: Message, why: str) -> None:
        self.dead += 1
        log.error(
            "webhook %s %s (%s) not delivered after %d attempt(s): %s",
            lane.name,
            msg.id,
            msg.event_type,
            msg.attempts,
            why,
        )
        at = datetime.fromtimestamp(self._clock.wall(), UTC)
        letter = DeadLetter(
            lane.endpoint.url, msg.id, msg.event_type, msg.body, msg.attempts, why, at
        )
        if len(self._dead_queue) >= self._queue_size:
            log.error("webhook dead-letter queue full: %s %s lost", msg.id, msg.event_type)
            return
        self._dead_queue.append((letter, msg.kept))
        self._dead_wake.set()

    def _leave(self, lane: Lane, msg: Message, why: str) -> None:
        """Shutting down with `msg` not delivered: a message in the outbox stays there, for
        the next health leader (or this gateway, restarted) to send; any other is buried."""
        if not (msg.kept and self._outbox is not None):
            self._bury(lane, msg, why)
            return
        self.left += 1
        log.warning(
            "webhook %s %s (%s) not delivered after %d attempt(s) (%s): left in the outbox "
            "for the next health leader",
            lane.name,
            msg.id,
            msg.event_type,
            msg.attempts,
            why,
        )

    async def _dead_worker(self) -> None:
        while True:
            if not self._dead_queue:
                if self._closing and all(
                    lane.task is None or lane.task.done() for lane in self._lanes
                ):
                    return
                self._dead_wake.clear()
                await self._dead_wake.wait()
                continue
            await self._record(*self._dead_queue.popleft())

    async def _record(self, letter: DeadLetter, kept: bool) -> None:
        try:
            await self._dead_letter(letter)
        except Exception:
            # Left in the outbox, if it is there: sent again rather than lost.
            log.exception("webhook dead letter %s could not be recorded", letter.message_id)
            return
        if kept and self._outbox is not None:
            self._outbox.done(letter.endpoint_url, letter.message_id)

    async def _default_dead_letter(self, letter: DeadLetter) -> None:
        if self._path is None:
            return  # `_bury` has logged it; there is nowhere else to put it
        await write_dead_letter(self._path, letter)
