"""History in a SQLite file (the default for `failsoft serve`), through aiosqlite."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import aiosqlite

from failsoft.health.types import Incident, Transition
from failsoft.store import keys as kq
from failsoft.store import sql
from failsoft.store.base import (
    DeadLetter,
    OutboxDone,
    OutboxEntry,
    ResponseDropped,
    StoredResponse,
    UsageRow,
)
from failsoft.store.keys import MAX_KEYS, KeyConflict, StoredKey


def _q(text: str) -> str:
    return sql.placeholders(text, "sqlite")


class SQLiteStore:
    def __init__(self, path: str, *, timeout: float = 5.0) -> None:
        self.path = path
        self.timeout = timeout
        """Seconds `close()` waits for aiosqlite's thread to finish what it is doing."""
        self._db: aiosqlite.Connection | None = None

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = aiosqlite.connect(self.path)
        # aiosqlite runs each connection in a non-daemon thread, which the interpreter
        # waits for at exit: a process stopped without `close()` (a second Ctrl-C) hung
        # for ever. As a daemon it cannot; SQLite's journal keeps the file consistent.
        thread = getattr(db, "_thread", None)
        if isinstance(thread, threading.Thread):
            thread.daemon = True
        await db
        try:
            # WAL lets several worker processes read while one writes; busy_timeout makes
            # a writer wait for another's short transaction instead of failing.
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA busy_timeout=5000")
            for statement in sql.SCHEMA:
                await db.execute(statement.replace("BYTEA", "BLOB"))
            await db.commit()
        except BaseException:
            db.stop()
            raise
        self._db = db

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("the store is not open")
        return self._db

    async def close(self) -> None:
        db, self._db = self._db, None
        if db is None:
            return
        try:
            await asyncio.wait_for(db.close(), self.timeout)
        except TimeoutError:
            db.stop()  # the thread ends after the statement it is stuck in
        except BaseException:  # cancelled: stopping in a hurry
            db.stop()
            raise

    async def save_incident(self, incident: Incident) -> None:
        await self.db.execute(_q(sql.SAVE_INCIDENT), sql.incident_row(incident))
        await self.db.commit()

    async def incidents(
        self, *, since: datetime | None = None, unresolved: bool = False, limit: int = 500
    ) -> list[Incident]:
        start = since.timestamp() if since else 0.0
        async with self.db.execute(
            _q(sql.INCIDENTS), (start, 1 if unresolved else 0, limit)
        ) as cursor:
            return sql.incidents_from(await cursor.fetchall())

    async def add_transition(self, transition: Transition) -> None:
        row = (transition.component, transition.state, transition.at.timestamp())
        await self.db.execute(_q(sql.ADD_TRANSITION), row)
        await self.db.commit()

    async def transitions(self, since: datetime) -> dict[str, list[Transition]]:
        async with self.db.execute(_q(sql.TRANSITIONS), (since.timestamp(),)) as cursor:
            return sql.transitions_from(await cursor.fetchall())

    async def add_dead_letter(self, letter: DeadLetter) -> None:
        await self.db.execute(_q(sql.ADD_DEAD), sql.dead_row(letter))
        await self.db.commit()

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        async with self.db.execute(_q(sql.DEAD), (limit,)) as cursor:
            return sql.dead_from(await cursor.fetchall())

    async def add_outbox(self, entry: OutboxEntry) -> None:
        await self.db.execute(_q(sql.ADD_OUTBOX), sql.outbox_row(entry))
        await self.db.commit()

    async def drop_outbox(self, done: OutboxDone) -> None:
        await self.db.execute(_q(sql.DROP_OUTBOX), (done.endpoint, done.message_id))
        await self.db.commit()

    async def outbox(self, limit: int = 10_000) -> list[OutboxEntry]:
        async with self.db.execute(_q(sql.OUTBOX), (limit,)) as cursor:
            return sql.outbox_from(await cursor.fetchall())

    async def save_response(self, record: StoredResponse) -> None:
        await self.db.execute(_q(sql.PURGE_RESPONSES), (record.created_at,))
        await self.db.execute(_q(sql.SAVE_RESPONSE), sql.response_row(record))
        await self.db.commit()

    async def drop_response(self, done: ResponseDropped) -> None:
        await self.db.execute(_q(sql.DROP_RESPONSE), (done.id,))
        await self.db.commit()

    async def stored_response(self, ident: str, now: float) -> StoredResponse | None:
        async with self.db.execute(_q(sql.RESPONSE), (ident, now)) as cursor:
            return sql.response_from(await cursor.fetchone())

    async def try_lead(self, name: str, holder: str, ttl: float, now: float) -> bool:
        await self.db.execute(_q(sql.LEAD), (name, holder, now + ttl, now))
        await self.db.commit()
        async with self.db.execute(_q(sql.HOLDER), (name,)) as cursor:
            row = await cursor.fetchone()
        return row is not None and row[0] == holder

    async def put_evidence(self, holder: str, at: float, body: str) -> None:
        await self.db.execute(_q(sql.PUT_EVIDENCE), (holder, at, body))
        await self.db.commit()

    async def evidence(self, since: float) -> list[tuple[str, float, str]]:
        async with self.db.execute(_q(sql.EVIDENCE), (since,)) as cursor:
            return [(str(h), float(at), str(body)) for h, at, body in await cursor.fetchall()]

    async def drop_evidence(self, before: float) -> None:
        await self.db.execute(_q(sql.DROP_EVIDENCE), (before,))
        await self.db.commit()

    async def add_key(self, key: StoredKey) -> None:
        async with self.db.execute(kq.LIVE_KEYS) as cursor:
            row = await cursor.fetchone()
        if row is not None and int(row[0]) >= MAX_KEYS:
            raise KeyConflict(f"the store already holds {MAX_KEYS} keys")
        try:
            await self.db.execute(_q(kq.ADD_KEY), kq.key_row(key))
            await self.db.commit()
        except sqlite3.IntegrityError:
            await self.db.rollback()
            raise KeyConflict(f"a key named {key.name!r} already exists") from None

    async def rotate_key(
        self, ident: str, digest: str, at: float, previous: str | None, until: float | None
    ) -> bool:
        cursor = await self.db.execute(_q(kq.ROTATE_KEY), (ident, digest, at, previous, until))
        await self.db.commit()
        return cursor.rowcount > 0

    async def revoke_key(self, ident: str, at: float) -> bool:
        cursor = await self.db.execute(_q(kq.REVOKE_KEY), (ident, at))
        await self.db.commit()
        return cursor.rowcount > 0

    async def stored_keys(self) -> list[StoredKey]:
        async with self.db.execute(kq.KEYS) as cursor:
            return kq.keys_from(await cursor.fetchall())

    async def stored_key(self, ident: str) -> StoredKey | None:
        async with self.db.execute(_q(kq.KEY), (ident,)) as cursor:
            rows = kq.keys_from(await cursor.fetchall())
        return next((k for k in rows if k.id == ident), rows[0] if rows else None)

    async def keys_version(self) -> tuple[int, int, int]:
        async with self.db.execute(kq.KEYS_VERSION) as cursor:
            return kq.fingerprint(await cursor.fetchone())

    async def add_usage(self, rows: list[UsageRow]) -> None:
        await self.db.executemany(_q(sql.ADD_USAGE), [sql.usage_row(r) for r in rows])
        await self.db.commit()

    async def usage(self, since: str, until: str, key: str | None = None) -> list[UsageRow]:
        async with self.db.execute(_q(sql.USAGE), (since, until, key or "")) as cursor:
            return sql.usage_from(await cursor.fetchall())

    async def spend(self, since: str, until: str) -> list[tuple[str, str, float]]:
        async with self.db.execute(_q(sql.SPEND), (since, until)) as cursor:
            return [(str(k), str(d), float(c)) for k, d, c in await cursor.fetchall()]

    def describe(self) -> dict[str, Any]:
        return {"backend": "sqlite", "path": self.path}
