"""Where incident history, state changes, dead letters and leases are kept."""

from __future__ import annotations

from failsoft.store.base import DeadLetter, Store
from failsoft.store.memory import MemoryStore

__all__ = ["DeadLetter", "MemoryStore", "Store", "open_store"]


def open_store(url: str) -> Store:
    """A store for `url` (not yet opened): `memory://`, `sqlite:///path` (relative paths
    from the working directory; `sqlite:///:memory:` too) or `postgresql://…`."""
    if url.startswith("memory://"):
        return MemoryStore()
    if url.startswith("sqlite://"):
        from failsoft.store.sqlite import SQLiteStore

        path = url[len("sqlite://") :]
        path = path[1:] if path.startswith("/") else path  # sqlite:///x.db → x.db
        return SQLiteStore(path or ":memory:")
    if url.startswith(("postgresql://", "postgres://")):
        from failsoft.store.postgres import PostgresStore

        return PostgresStore(url)
    raise ValueError(f"unsupported store URL {url!r}")
