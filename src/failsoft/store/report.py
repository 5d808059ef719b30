"""What the log and `/metrics` say about the store: which one (never its credentials), why
it is away (one line, not a traceback), and what waits for it."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from failsoft.health.types import Incident, Transition
from failsoft.store.base import (
    OutboxDone,
    OutboxEntry,
    ResponseDropped,
    StoredResponse,
    StoreUnavailable,
)

if TYPE_CHECKING:
    from failsoft.store.queue import QueuedStore
    from failsoft.store.spool import Item


def store_name(describe: dict[str, Any]) -> str:
    """`PostgreSQL 10.0.0.5:5432/failsoft`, `SQLite failsoft.db`, `memory`."""
    backend = describe.get("backend")
    if backend == "postgresql":
        where = f"{describe.get('host')}:{describe.get('port')}/{describe.get('database')}"
        return f"PostgreSQL {where}"
    if backend == "sqlite":
        return f"SQLite {describe.get('path')}"
    return str(backend or "?")


def one_line(exc: BaseException, timeout: float) -> str:
    """An error for the log: its type and the first line of its text."""
    if isinstance(exc, TimeoutError) and not str(exc):
        return f"no answer within {timeout:g}s"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def transient(exc: BaseException) -> bool:
    """Whether `exc` says the store is away (retry) rather than that the call is wrong."""
    if isinstance(exc, OSError | TimeoutError | sqlite3.OperationalError | StoreUnavailable):
        return True
    asyncpg = sys.modules.get("asyncpg")
    if asyncpg is None:
        return False
    errors = asyncpg.exceptions
    return isinstance(
        exc,
        errors.PostgresConnectionError
        | errors.InterfaceError
        | errors.OperatorInterventionError
        | errors.InsufficientResourcesError,
    )


def describe_item(item: Item) -> str:
    if isinstance(item, Transition):
        return f"state change {item.component} → {item.state} at {item.at.isoformat()}"
    if isinstance(item, Incident):
        return f"incident {item.id} ({item.status})"
    if isinstance(item, OutboxEntry):
        return f"outbox webhook {item.message_id} ({item.event_type})"
    if isinstance(item, OutboxDone):
        return f"outbox removal of webhook {item.message_id}"
    if isinstance(item, StoredResponse):
        return f"response {item.id}"
    if isinstance(item, ResponseDropped):
        return f"removal of response {item.id}"
    return f"dead letter {item.message_id} ({item.event_type})"


def store_metrics(store: QueuedStore) -> Iterator[Metric]:
    """Whether the store answers, what waits for it, and what it never got."""
    up = GaugeMetricFamily("failsoft_store_up", "1 when the history store answers, else 0.")
    up.add_metric([], 1.0 if store.up else 0.0)
    yield up
    queued = GaugeMetricFamily(
        "failsoft_store_queued",
        "State changes, incidents, dead letters, outbox changes and kept responses "
        "waiting for the store.",
    )
    queued.add_metric([], store.queued)
    yield queued
    yield CounterMetricFamily(
        "failsoft_store_dropped",
        "Writes the store never got: the queue was full, or the store kept refusing them.",
        value=store.dropped,
    )
    yield CounterMetricFamily(
        "failsoft_store_failures",
        "Store calls that failed or timed out.",
        value=store.failures,
    )
