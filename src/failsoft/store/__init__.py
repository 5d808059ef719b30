"""Where incident history, state changes, dead letters, the webhook outbox and leases are
kept."""

from __future__ import annotations

from failsoft.store.base import (
    DeadLetter,
    OutboxDone,
    OutboxEntry,
    ResponseDropped,
    Store,
    StoredResponse,
    StoreSetupError,
    StoreUnavailable,
)
from failsoft.store.memory import MemoryStore
from failsoft.store.queue import QueuedStore

__all__ = [
    "DeadLetter",
    "MemoryStore",
    "OutboxDone",
    "OutboxEntry",
    "QueuedStore",
    "ResponseDropped",
    "Store",
    "StoreSetupError",
    "StoreUnavailable",
    "StoredResponse",
    "open_store",
]


def open_store(url: str, *, timeout: float = 5.0) -> Store:
    """A store for `url` (not yet opened): `memory://`, `sqlite:///path` (relative paths
    from the working directory; `sqlite:///:memory:` too) or `postgresql://…`. `timeout`
    bounds connecting and each command where the driver can."""
    if url.startswith("memory://"):
        return MemoryStore()
    if url.startswith("sqlite://"):
        from failsoft.store.sqlite import SQLiteStore

        path = url[len("sqlite://") :]
        path = path[1:] if path.startswith("/") else path  # sqlite:///x.db → x.db
        return SQLiteStore(path or ":memory:", timeout=timeout)
    if url.startswith(("postgresql://", "postgres://")):
        from failsoft.store.postgres import PostgresStore

        return PostgresStore(url, timeout=timeout)
    raise ValueError(f"unsupported store URL {url!r}")
