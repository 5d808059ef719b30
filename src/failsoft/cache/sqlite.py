"""Answers in a SQLite file: they survive restarts, and processes on one host can share them.

One table; each row is an `Entry.to_bytes()` blob with the columns eviction needs beside it:
`purge_at` (the end of the stale window, `created_at + ttl + stale_for`: the row is useless
from then on; indexed) and `accessed_at` (for least-recently-used eviction; indexed).

The byte budget is approximate on purpose: the running totals are this process's view,
re-counted from the table at open, whenever the budget is exceeded and every `recount_every`
seconds, so other processes writing the same file are noticed without a `SUM` per request.
Reads refresh `accessed_at` at most once per `touch_every` seconds, so a hot key does not
turn every hit into a write transaction.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import aiosqlite

from failsoft.cache.base import DEFAULT_MAX_BYTES, Counters, WarnLimiter
from failsoft.cache.entry import Entry
from failsoft.clock import SYSTEM_CLOCK, Clock

__all__ = ["SQLiteCache"]

TABLE = "failsoft_cache"
_SCHEMA = (
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        key TEXT PRIMARY KEY,
        blob BLOB NOT NULL,
        size INTEGER NOT NULL,
        purge_at REAL NOT NULL,
        accessed_at REAL NOT NULL
    )""",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_purge_at ON {TABLE} (purge_at)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_accessed_at ON {TABLE} (accessed_at)",
)
_GET = f"SELECT blob, purge_at, accessed_at FROM {TABLE} WHERE key = ?"
_SIZE = f"SELECT size FROM {TABLE} WHERE key = ?"
_PUT = (
    f"INSERT OR REPLACE INTO {TABLE} (key, blob, size, purge_at, accessed_at)"
    " VALUES (?, ?, ?, ?, ?)"
)
_TOUCH = f"UPDATE {TABLE} SET accessed_at = ? WHERE key = ?"
_DELETE = f"DELETE FROM {TABLE} WHERE key = ?"
_PURGE = f"DELETE FROM {TABLE} WHERE purge_at <= ?"
_COUNT = f"SELECT COUNT(*), COALESCE(SUM(size), 0) FROM {TABLE}"
# rowid breaks ties in the order rows were written (INSERT OR REPLACE gives a new rowid).
_OLDEST = f"SELECT key, size FROM {TABLE} ORDER BY accessed_at, rowid LIMIT ?"


class SQLiteCache:
    def __init__(
        self,
        path: str,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Clock = SYSTEM_CLOCK,
        *,
        touch_every: float = 1.0,
        recount_every: float = 60.0,
    ) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.path = path
        self.max_bytes = max_bytes
        self.clock = clock
        self.touch_every = touch_every
        self.recount_every = recount_every
        self.counters = Counters()
        self._warn = WarnLimiter(clock)
        self._db: aiosqlite.Connection | None = None
        self._entries = 0
        self._bytes = 0
        self._next_recount = 0.0

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("the SQLite cache is not open")
        return self._db

    async def open(self) -> None:
        if self._db is not None:
            return
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # Autocommit: every statement is its own short transaction, so no path can leave one
        # open and block other processes' writers.
        db = await aiosqlite.connect(self.path, isolation_level=None)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")  # losing the last answers is fine
            await db.execute("PRAGMA busy_timeout=2000")
            for statement in _SCHEMA:
                await db.execute(statement)
        except BaseException:
            await db.close()
            raise
        self._db = db
        await self._recount(self.clock.wall())

    async def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            await db.close()

    async def get(self, key: str) -> Entry | None:
        db = self.db
        now = self.clock.wall()
        try:
            async with db.execute(_GET, (key,)) as cursor:
                row = await cursor.fetchone()
            if row is None:
                self.counters.misses += 1
                return None
            blob, purge_at, accessed_at = row
            if purge_at <= now:
                await self._delete(key)
                self.counters.expired += 1
                self.counters.misses += 1
                return None
            try:
                entry = Entry.from_bytes(blob)
                if entry.key != key:
                    raise ValueError("entry stored under another key")
            except ValueError as exc:
                self._warn.warn(f"dropping unreadable cache entry {key[:16]}", exc)
                await self._delete(key)
                self.counters.errors += 1
                self.counters.misses += 1
                return None
            if now - accessed_at >= self.touch_every:
                await db.execute(_TOUCH, (now, key))
        except sqlite3.Error as exc:
            self._fault("cache read failed", exc)
            self.counters.misses += 1
            return None
        self.counters.hits += 1
        return entry

    async def put(self, entry: Entry) -> None:
        db = self.db
        now = self.clock.wall()
        blob = entry.to_bytes()
        try:
            if len(blob) > self.max_bytes or not entry.usable_stale(now):
                await self._delete(entry.key)
                self.counters.rejected += 1
                return
            async with db.execute(_SIZE, (entry.key,)) as cursor:
                old = await cursor.fetchone()
            await db.execute(_PUT, (entry.key, blob, len(blob), entry.stale_until, now))
            self.counters.puts += 1
            self._entries += 0 if old else 1
            self._bytes += len(blob) - (old[0] if old else 0)
            if self._bytes > self.max_bytes or now >= self._next_recount:
                await self._enforce(now)
        except sqlite3.Error as exc:
            self._fault("cache write skipped", exc)

    async def delete(self, key: str) -> None:
        try:
            await self._delete(key)
        except sqlite3.Error as exc:
            self._fault("cache delete failed", exc)

    async def clear(self) -> None:
        await self.db.execute(f"DELETE FROM {TABLE}")
        self._entries = self._bytes = 0

    def stats(self) -> dict[str, int | float]:
        return {
            **self.counters.as_dict(),
            "entries": self._entries,
            "bytes": self._bytes,
            "max_bytes": self.max_bytes,
        }

    def describe(self) -> dict[str, Any]:
        return {"backend": "sqlite", "path": self.path, "max_bytes": self.max_bytes}

    async def _delete(self, key: str) -> None:
        async with self.db.execute(_SIZE, (key,)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return
        await self.db.execute(_DELETE, (key,))
        self._entries -= 1
        self._bytes -= row[0]

    async def _recount(self, now: float) -> None:
        async with self.db.execute(_COUNT) as cursor:
            row = await cursor.fetchone()
        self._entries, self._bytes = (row[0], row[1]) if row else (0, 0)
        self._next_recount = now + self.recount_every

    async def _enforce(self, now: float) -> None:
        """Drop expired rows, re-count, then the least recently used rows while over budget."""
        cursor = await self.db.execute(_PURGE, (now,))
        self.counters.expired += max(0, cursor.rowcount)
        await cursor.close()
        await self._recount(now)
        while self._bytes > self.max_bytes:
            async with self.db.execute(_OLDEST, (256,)) as cursor:
                rows = list(await cursor.fetchall())
            if not rows:
                break
            victims: list[str] = []
            for key, size in rows:
                if self._bytes <= self.max_bytes:
                    break
                victims.append(key)
                self._bytes -= size
                self._entries -= 1
            marks = ",".join("?" * len(victims))
            await self.db.execute(f"DELETE FROM {TABLE} WHERE key IN ({marks})", victims)
            self.counters.evictions += len(victims)

    def _fault(self, message: str, exc: BaseException) -> None:
        self.counters.errors += 1
        self._warn.warn(f"{message} ({self.path})", exc)
