"""What failsoft keeps across restarts: incidents, component state changes, dead letters,
incident webhooks not yet delivered (the outbox), and leases (so that one process of
several runs the probes and judges health).

Writes are rare (a state change, an incident update), so every backend is a plain
implementation of this protocol; none is on the request path. The gateway never calls a
backend directly: `QueuedStore` (store/queue.py) queues the writes and bounds every call
with `store.timeout`, so a store that is away delays nothing and loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from failsoft.health.types import Incident, Transition
from failsoft.store.keys import StoredKey


@dataclass(frozen=True)
class DeadLetter:
    """A notification that could not be delivered, kept so that nothing is lost (with
    enough to replay it by hand)."""

    endpoint_url: str
    message_id: str
    event_type: str
    body: bytes
    attempts: int
    last_error: str
    at: datetime


@dataclass(frozen=True)
class OutboxEntry:
    """An incident webhook queued for one endpoint and not yet delivered nor dead-lettered,
    kept so that the next health leader sends it if this process dies
    (`failsoft.notify.outbox`)."""

    endpoint: str
    """The endpoint's key: a hash of its URL (`notify.outbox.endpoint_key`), never the URL,
    which can hold a credential."""
    message_id: str
    event_type: str
    body: bytes
    at: datetime
    """When it was first queued (a new leader dead-letters what is too old to send)."""


@dataclass(frozen=True)
class OutboxDone:
    """An outbox entry to forget: delivered, or dead-lettered."""

    endpoint: str
    message_id: str


@dataclass(frozen=True)
class StoredResponse:
    """A Responses API answer kept for `previous_response_id` and `GET /v1/responses/{id}`
    (`responses.store`): opaque JSON to the store (failsoft/conversations.py writes it)."""

    id: str
    created_at: float
    expires_at: float
    """Wall-clock seconds after which it is neither served nor kept."""
    body: str


@dataclass(frozen=True)
class ResponseDropped:
    """A kept response to forget (`DELETE /v1/responses/{id}`)."""

    id: str


@dataclass(frozen=True)
class UsageRow:
    """Usage of one caller key on one model on one UTC day (failsoft/usage/ledger.py). A
    write adds to the row already there: each process writes what it counted since its
    last write."""

    key: str
    """The caller key's name (never the key)."""
    provider: str
    model: str
    """The upstream model that answered (or was billed), not the virtual one."""
    day: str
    """`YYYY-MM-DD`, UTC."""
    requests: int
    """Billed upstream requests (attempts): a fallback or a hedge counts each one."""
    input: int
    output: int
    cached: int
    """Input tokens read from the provider's prompt cache (part of `input`)."""
    estimated: int
    """Tokens (input and output) of attempts whose usage failsoft had to estimate."""
    cost: float
    """US dollars."""


class StoreUnavailable(Exception):
    """The store did not answer within `store.timeout`, is unreachable, or is not open yet.
    Raised by the reads of a `QueuedStore`: the caller carries on with what it knows."""


class StoreSetupError(RuntimeError):
    """The store cannot work in this installation (its driver is missing): waiting will not
    help, so failsoft refuses to start rather than retry."""


class Store(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def save_incident(self, incident: Incident) -> None:
        """Insert or replace by id."""

    async def incidents(
        self, *, since: datetime | None = None, unresolved: bool = False, limit: int = 500
    ) -> list[Incident]:
        """Newest first: unresolved ones, or those started or resolved after `since`."""
        ...

    async def add_transition(self, transition: Transition) -> None: ...

    async def transitions(self, since: datetime) -> dict[str, list[Transition]]:
        """Per component, oldest first: the last change before `since` (the state the
        component was in when the window opened), then every change after it."""
        ...

    async def add_dead_letter(self, letter: DeadLetter) -> None: ...

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]: ...

    async def add_outbox(self, entry: OutboxEntry) -> None:
        """Keep `entry` (a second add of the same endpoint and message id does nothing)."""

    async def drop_outbox(self, done: OutboxDone) -> None:
        """Forget one entry (nothing if it is not there)."""

    async def outbox(self, limit: int = 10_000) -> list[OutboxEntry]:
        """Every endpoint's entries, oldest first, at most `limit`."""
        ...

    async def save_response(self, record: StoredResponse) -> None:
        """Insert or replace by id, and forget every response expired at its
        `created_at` (retention is enforced as responses are written)."""

    async def drop_response(self, done: ResponseDropped) -> None:
        """Forget one response (nothing if it is not there)."""

    async def stored_response(self, ident: str, now: float) -> StoredResponse | None:
        """The response `ident` unless it is unknown or expired at `now`."""
        ...

    async def try_lead(self, name: str, holder: str, ttl: float, now: float) -> bool:
        """Hold (or renew) the lease `name` for `ttl` seconds if it is free, expired or
        already ours."""
        ...

    async def put_evidence(self, holder: str, at: float, body: str) -> None:
        """Replace what process `holder` last observed (`failsoft.health.shared`)."""

    async def evidence(self, since: float) -> list[tuple[str, float, str]]:
        """(holder, at, body) of every process that published at or after `since`."""
        ...

    async def drop_evidence(self, before: float) -> None:
        """Forget what processes that stopped publishing before `before` observed."""

    async def add_key(self, key: StoredKey) -> None:
        """Keep a new caller key; `KeyConflict` when a live key has its name or the store
        holds `MAX_KEYS` live keys (store/keys.py)."""

    async def rotate_key(
        self, ident: str, digest: str, at: float, previous: str | None, until: float | None
    ) -> bool:
        """Give live key `ident` (its id) a new digest; `previous` (the old digest) stays
        valid until `until`. False when there is no such live key."""
        ...

    async def revoke_key(self, ident: str, at: float) -> bool:
        """Mark live key `ident` (its id) revoked. False when there is no such live key."""
        ...

    async def stored_keys(self) -> list[StoredKey]:
        """Every key, revoked ones too, oldest first."""
        ...

    async def stored_key(self, ident: str) -> StoredKey | None:
        """The key whose id is `ident`, else the live key named `ident`."""
        ...

    async def keys_version(self) -> tuple[int, int, int]:
        """A fingerprint that changes with every key write (polled by every process)."""
        ...

    async def add_usage(self, rows: list[UsageRow]) -> None:
        """Add each row's counts to the stored row of the same key, provider, model and day
        (not idempotent: a write that timed out but was done is counted again, bounded by
        one flush of one process)."""

    async def usage(self, since: str, until: str, key: str | None = None) -> list[UsageRow]:
        """The rows of days `since` to `until` (inclusive, `YYYY-MM-DD`), of one key or all."""
        ...

    async def spend(self, since: str, until: str) -> list[tuple[str, str, float]]:
        """(key, day, US dollars) of every key on each day `since` to `until` (what the
        budgets read every few seconds: one row per key and day)."""
        ...

    def describe(self) -> dict[str, Any]:
        """For logs and check-config: the backend and where (never credentials)."""
        ...
