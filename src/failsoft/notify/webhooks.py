"""Webhook delivery: signed POSTs, retried with backoff, and a dead-letter log for the rest.

`send` only renders and enqueues, so the router's event subscribers can call it inline on
the loop thread. Each endpoint has its own worker and bounded queue: messages to one
endpoint arrive in order, and an endpoint that is down (retrying for minutes) delays nobody
else. Whatever cannot be delivered — attempts exhausted, refused with a 4xx, the queue
full, still queued at shutdown — goes to the dead-letter log, so nothing is lost silently.

With an `outbox` (notify/outbox.py), incident messages are also kept in the store from the
moment they are queued until they are delivered or dead-lettered, so that a process that
dies with them queued does not take them along; one still queued at shutdown stays there
(rather than being dead-lettered) for the next health leader to send.

This module is the sender's API (render, enqueue, resend, shut down); the endpoints, their
lanes and workers, retries and dead letters are notify/delivery.py.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from failsoft.clock import SYSTEM_CLOCK, Clock
from failsoft.events import BreakerChanged
from failsoft.health.types import ComponentHealth, Incident
from failsoft.notify.deadletter import DeadLetter, DeadLetterSink
from failsoft.notify.delivery import Delivery, Endpoint, Lane, Message, redact
from failsoft.notify.outbox import OutboxHook, Resent
from failsoft.notify.payloads import Format, Subject, breaker_event_type, render
from failsoft.notify.retry import RETRYABLE
from failsoft.notify.retry import retry_after as _retry_after  # noqa: F401  (tests import it here)
from failsoft.transport.http import Transport

__all__ = ["RETRYABLE", "DeadLetter", "DeadLetterSink", "Endpoint", "WebhookSender", "redact"]

log = logging.getLogger("failsoft.notify")


def message_id(subject: Subject) -> str:
    """The `webhook-id`. An incident event's is derived from the incident and its number of
    updates (each event adds one), so whichever process sends it, before or after a restart
    or a change of health leader, it is the same and receivers can drop the repeat."""
    if isinstance(subject, Incident):
        return f"msg_{subject.id}_{len(subject.updates)}"
    return f"msg_{uuid.uuid4().hex}"


class WebhookSender(Delivery):
    """Delivers notifications to every endpoint; `start()` in the loop, `close()` at the end.

    `dead_letter` receives what could not be delivered; by default a JSON line is appended
    to `dead_letter_path`, or, without a path, only an error is logged.
    """

    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        *,
        transport: Transport | None = None,
        page_url: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
        dead_letter: DeadLetterSink | None = None,
        dead_letter_path: str | Path | None = None,
        queue_size: int = 10_000,
        outbox: OutboxHook | None = None,
    ) -> None:
        self._lanes = [Lane(i, ep) for i, ep in enumerate(endpoints, 1)]
        self._own_transport = transport is None
        self._transport = transport or Transport(limit=16)
        self.page_url = page_url
        self._clock = clock
        self._rng = rng or random.Random()
        self._path = Path(dead_letter_path) if dead_letter_path is not None else None
        self._dead_letter = self._default_dead_letter if dead_letter is None else dead_letter
        self._queue_size = queue_size
        self._outbox = outbox
        self._dead_queue: deque[tuple[DeadLetter, bool]] = deque()
        self._dead_wake = asyncio.Event()
        self._dead_task: asyncio.Task[None] | None = None
        self._closing = False
        self._closed = False
        self._hurry = asyncio.Event()
        self._drain_until = float("inf")
        self.delivered = 0
        self.retried = 0
        self.dead = 0
        self.dropped = 0
        """Messages not even queued: the endpoint was disabled or the sender closed."""
        self.left = 0
        """Messages still queued at shutdown that stay in the outbox for the next leader."""

    @property
    def endpoint_urls(self) -> list[str]:
        return [lane.endpoint.url for lane in self._lanes]

    @property
    def disabled(self) -> frozenset[str]:
        """URLs of endpoints that answered 410 Gone (until the next restart)."""
        return frozenset(lane.endpoint.url for lane in self._lanes if lane.disabled)

    def start(self) -> None:
        """Start the workers; call on the running loop (messages sent before wait for it)."""
        if self._dead_task is not None or self._closed:
            return
        self._dead_task = asyncio.create_task(self._dead_worker(), name="webhooks-dead-letter")
        for lane in self._lanes:
            lane.task = asyncio.create_task(self._worker(lane), name=f"webhook {lane.name}")

    # ----------------------------------------------------------------------- enqueue

    def send(
        self,
        event_type: str,
        subject: Subject,
        *,
        components: Sequence[ComponentHealth] = (),
        at: datetime | None = None,
    ) -> str | None:
        """Queue a notification for every endpoint that wants `event_type`; never raises.

        Returns the message id (the `webhook-id` every endpoint sees), or None when no
        endpoint takes it or the sender is closed. Call from the loop thread only.
        """
        try:
            return self._send(event_type, subject, components, at)
        except Exception:
            log.exception("webhook notification %s could not be queued", event_type)
            return None

    def notify_breaker(self, event: BreakerChanged) -> None:
        """An `EventHub` subscriber: breaker opened/closed (half-open is not news; a change
        followed from another process is that process's to announce)."""
        if event.followed:
            return
        event_type = breaker_event_type(event)
        if event_type is not None:
            self.send(event_type, event)

    def _send(
        self,
        event_type: str,
        subject: Subject,
        components: Sequence[ComponentHealth],
        at: datetime | None,
    ) -> str | None:
        lanes = [lane for lane in self._lanes if lane.endpoint.wants(event_type)]
        if not lanes:
            return None
        if self._closing:
            self.dropped += len(lanes)
            log.error("webhook notification %s not sent: the sender is closed", event_type)
            return None
        msg_id = message_id(subject)
        wall = self._clock.wall()
        at = at or datetime.fromtimestamp(wall, UTC)
        keep = self._outbox is not None and isinstance(subject, Incident)
        bodies: dict[Format, bytes] = {}
        for lane in lanes:
            if lane.disabled:
                self.dropped += 1
                continue
            fmt = lane.endpoint.format
            if fmt not in bodies:
                payload = render(
                    fmt, event_type, subject, at=at, page_url=self.page_url, components=components
                )
                bodies[fmt] = orjson.dumps(payload)
            msg = Message(msg_id, event_type, bodies[fmt], wall, keep)
            self._enqueue(lane, msg)
            if keep and self._outbox is not None:
                when = datetime.fromtimestamp(wall, UTC)
                self._outbox.added(lane.endpoint.url, msg_id, event_type, msg.body, when)
        return msg_id

    def _enqueue(self, lane: Lane, msg: Message) -> None:
        """Behind the messages queued before it (in the order they were first queued)."""
        if len(lane.queue) >= self._queue_size:
            # Drop the oldest: the newest message describes the current state.
            old = lane.queue.popleft()
            self._bury(lane, old, f"queue full ({self._queue_size} messages)")
        if lane.queue and lane.queue[-1].at > msg.at:  # an older one, resent
            later = next(i for i, m in enumerate(lane.queue) if m.at > msg.at)
            lane.queue.insert(later, msg)
        else:
            lane.queue.append(msg)
        lane.wake.set()

    def resend(
        self, endpoint_url: str, msg_id: str, event_type: str, body: bytes, at: datetime
    ) -> Resent:
        """Queue again, with its own id and body, a message another process (the previous
        health leader) queued for `endpoint_url` and may not have delivered: the outbox's
        entries. Never raises; what became of it:

        - `queued` (it stays in the outbox until delivered or dead-lettered);
        - `queued already` in this process (nothing done);
        - `dead-lettered` instead: older than the endpoint's `horizon`, or the endpoint is
          disabled (410 Gone);
        - `not wanted`: no endpoint with that URL takes `event_type` any more;
        - `closed`: the sender is shutting down (it stays in the outbox).
        """
        lanes = [
            lane
            for lane in self._lanes
            if lane.endpoint.url == endpoint_url and lane.endpoint.wants(event_type)
        ]
        if not lanes:
            return "not wanted"
        if self._closing:
            return "closed"
        outcomes: set[Resent] = set()
        for lane in lanes:
            if any(m.id == msg_id for m in (lane.current, *lane.queue) if m is not None):
                outcomes.add("queued already")
                continue
            msg = Message(msg_id, event_type, body, at.timestamp(), kept=True)
            age = self._clock.wall() - msg.at
            if age > lane.endpoint.horizon:
                self._bury(lane, msg, f"left by another process {age:.0f}s ago: too old to send")
                outcomes.add("dead-lettered")
            elif lane.disabled:
                self._bury(lane, msg, "endpoint disabled after 410 Gone")
                outcomes.add("dead-lettered")
            else:
                self._enqueue(lane, msg)
                outcomes.add("queued")
        return next(o for o in ("queued", "dead-lettered", "queued already") if o in outcomes)

    # ----------------------------------------------------------------------- shutdown

    def hurry(self) -> None:
        """Stop delivering (a second Ctrl-C): `close()` dead-letters what is left at once."""
        self._hurry.set()
        self._drain_until = min(self._drain_until, self._clock.monotonic())

    async def _drain(
        self, tasks: list[asyncio.Task[None]], seconds: float
    ) -> set[asyncio.Task[None]]:
        """The workers still delivering after `seconds`, or at `hurry()`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        hurry = asyncio.ensure_future(self._hurry.wait())
        pending: set[asyncio.Future[Any]] = set(tasks)
        try:
            while pending and not hurry.done() and loop.time() < deadline:
                _, pending = await asyncio.wait(
                    {*pending, hurry},
                    timeout=deadline - loop.time(),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                pending.discard(hurry)
        finally:
            hurry.cancel()
        return {t for t in tasks if not t.done()}

    async def close(self, drain_seconds: float = 5.0) -> None:
        """Deliver what is queued for up to `drain_seconds`, dead-letter the rest, stop.

        Retries that would wait past the drain window are given up at once rather than
        waited for.
        """
        if self._closed:
            return
        self._closed = self._closing = True
        self._drain_until = self._clock.monotonic() + drain_seconds
        for lane in self._lanes:
            lane.wake.set()
        tasks = [lane.task for lane in self._lanes if lane.task is not None]
        if tasks:
            pending = await self._drain(tasks, drain_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for lane in self._lanes:
            left = [lane.current] if lane.current is not None else []
            left.extend(lane.queue)
            lane.current = None
            lane.queue.clear()
            for msg in left:
                why = f"{msg.last_error}; " if msg.last_error else ""
                self._leave(lane, msg, why + "shutting down before delivery")
        if self._dead_task is not None:
            self._dead_wake.set()
            await asyncio.wait({self._dead_task})  # (cancelled with the loop: see below)
        while self._dead_queue:  # never started, or stopped
            await self._record(*self._dead_queue.popleft())
        if self._own_transport:
            await self._transport.close()
