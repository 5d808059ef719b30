"""The outbox: incident webhooks kept in the store from the moment they are queued until
they are delivered or dead-lettered.

Only the health leader sends incident webhooks, and it queues them in memory (one lane per
endpoint, retried with backoff for minutes while a receiver is down). A leader that dies
— killed, crashed, its machine gone — took what was still queued along, and no other
process would send it: the outage's `incident.opened` was never heard. With the outbox,
the process that next becomes the leader (at start, or taking over once the dead leader's
lease ran out) reads what is left and sends it again, with the same `webhook-id` and body.

At least once, not exactly once: a leader that lost the lease while alive (its store
was slow) still delivers what it queued, and the new leader may send the same messages;
a receiver can also get a message whose delivery succeeded just before the sender died,
before its entry was removed. Receivers drop repeats by `webhook-id`, which is stable per
incident event (`notify.webhooks.message_id`).

Breaker events are not kept: they are one process's news about its own breakers.

The store keeps a hash of each endpoint's URL, never the URL (a Slack webhook's path, a
token in the query string: the URL can be the credential); a new leader matches entries
to its configured endpoints by that hash. The outbox is bounded as the sender's queues are:
a full lane dead-letters its oldest message, which removes its entry.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import Counter
from collections.abc import Coroutine
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from failsoft.clock import SYSTEM_CLOCK, Clock
from failsoft.store.base import OutboxDone, OutboxEntry, Store

if TYPE_CHECKING:
    from failsoft.notify.webhooks import WebhookSender

log = logging.getLogger("failsoft.notify")

FOREIGN_KEEP = 86_400.0
"""Seconds an entry for an endpoint this process does not know is left alone (another
process sharing the store may have a newer config with it) before it is dropped."""


Resent = Literal["queued", "queued already", "dead-lettered", "not wanted", "closed"]
"""What became of an entry a new leader found (`WebhookSender.resend`)."""


class OutboxHook(Protocol):
    """What `WebhookSender` tells its outbox: an incident message was queued for an
    endpoint; it is done with (delivered, or its dead letter recorded)."""

    def added(
        self, endpoint_url: str, message_id: str, event_type: str, body: bytes, at: datetime
    ) -> None: ...

    def done(self, endpoint_url: str, message_id: str) -> None: ...


def endpoint_key(url: str) -> str:
    """What the store keeps instead of an endpoint's URL."""
    return "sha256:" + hashlib.sha256(url.encode()).hexdigest()


class Outbox:
    """The `OutboxHook` of the gateway's sender, over a store whose writes are queued
    (`QueuedStore`): nothing here waits for the store."""

    def __init__(self, store: Store, *, limit: int = 10_000, clock: Clock = SYSTEM_CLOCK) -> None:
        self.store = store
        self.clock = clock
        self.limit = limit
        """Entries read at most when taking over (oldest first)."""
        self._writes: set[asyncio.Task[None]] = set()
        self.resent: Counter[str] = Counter()
        """Entries found on becoming the leader, by what became of them."""

    def added(
        self, endpoint_url: str, message_id: str, event_type: str, body: bytes, at: datetime
    ) -> None:
        entry = OutboxEntry(endpoint_key(endpoint_url), message_id, event_type, body, at)
        self._write(self.store.add_outbox(entry))

    def done(self, endpoint_url: str, message_id: str) -> None:
        self._write(self.store.drop_outbox(OutboxDone(endpoint_key(endpoint_url), message_id)))

    def _write(self, write: Coroutine[Any, Any, None]) -> None:
        # Tasks take their first step in the order they are created, and `QueuedStore`
        # queues a write in its first step: an entry's addition is written before its
        # removal.
        task = asyncio.create_task(write, name="webhook-outbox")
        self._writes.add(task)
        task.add_done_callback(self._written)

    def _written(self, task: asyncio.Task[None]) -> None:
        self._writes.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("webhook outbox: %s", exc)

    async def settle(self) -> None:
        """Until the additions and removals asked for so far are handed to the store (before
        it closes)."""
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    async def recover(self, sender: WebhookSender) -> None:
        """This process has just become the health leader: send what the previous one (or
        this gateway, before a restart) left in the outbox. Raises `StoreUnavailable` when
        the store does not answer (the caller retries once it does)."""
        entries = await self.store.outbox(self.limit)
        if not entries:
            return
        urls = {endpoint_key(url): url for url in sender.endpoint_urls}
        found: Counter[str] = Counter()
        now = self.clock.wall()
        for entry in entries:
            url = urls.get(entry.endpoint)
            if url is None:
                if now - entry.at.timestamp() < FOREIGN_KEEP:
                    found["not configured here"] += 1
                    continue
                log.error(
                    "webhook outbox: %s (%s) for endpoint %s…, not configured for a day: dropped",
                    entry.message_id,
                    entry.event_type,
                    entry.endpoint[:15],
                )
                outcome = "dropped"
            else:
                outcome = sender.resend(
                    url, entry.message_id, entry.event_type, entry.body, entry.at
                )
            found[outcome] += 1
            if outcome in ("not wanted", "dropped"):
                await self.store.drop_outbox(OutboxDone(entry.endpoint, entry.message_id))
        self.resent.update(found)
        log.warning(
            "webhook outbox: %d incident message(s) left by an earlier health leader: %s",
            len(entries),
            ", ".join(f"{n} {what}" for what, n in sorted(found.items())),
        )
        if len(entries) >= self.limit:
            log.error(
                "webhook outbox: %d entries read, the most at once; the rest are sent at the "
                "next change of leader",
                len(entries),
            )
