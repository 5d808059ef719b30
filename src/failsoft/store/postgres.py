"""History in PostgreSQL (`store.url: postgresql://…`), through asyncpg.

For deployments that run several gateways and want one incident history; install with
`pip install 'failsoft[postgres]'`.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from failsoft.health.types import Incident, Transition
from failsoft.store import keys as kq
from failsoft.store import sql
from failsoft.store.base import (
    DeadLetter,
    OutboxDone,
    OutboxEntry,
    ResponseDropped,
    StoredResponse,
    StoreSetupError,
    UsageRow,
)
from failsoft.store.keys import MAX_KEYS, KeyConflict, StoredKey


def _q(text: str) -> str:
    return sql.placeholders(text, "postgres")


class PostgresStore:
    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout
        """Seconds to connect, and for each command (asyncpg's own limits; the queue in
        front bounds whole calls too)."""
        self._pool: Any = None

    async def open(self) -> None:
        try:
            import asyncpg
        except ImportError:  # pragma: no cover - depends on the install
            raise StoreSetupError(
                "store.url is PostgreSQL but asyncpg is not installed: "
                "pip install 'failsoft[postgres]'"
            ) from None
        # No connection floor: asyncpg would keep reconnecting a lost one in the background
        # and log a traceback each time, while the queue in front already retries.
        pool = await asyncpg.create_pool(
            self.url,
            min_size=0,
            max_size=4,
            timeout=self.timeout,
            command_timeout=self.timeout,
        )
        try:
            # Several gateways may start at once; the lock makes creating the schema safe.
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(4242001)")
                for statement in sql.SCHEMA:
                    await conn.execute(statement)
        except BaseException:
            pool.terminate()
            raise
        self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            # A graceful close waits for connections in use; a frozen server never frees them.
            await asyncio.wait_for(pool.close(), self.timeout)
        except (TimeoutError, OSError):
            pool.terminate()
        except BaseException:  # cancelled: stopping in a hurry
            pool.terminate()
            raise

    @property
    def pool(self) -> Any:
        if self._pool is None:
            raise RuntimeError("the store is not open")
        return self._pool

    async def save_incident(self, incident: Incident) -> None:
        await self.pool.execute(_q(sql.SAVE_INCIDENT), *sql.incident_row(incident))

    async def incidents(
        self, *, since: datetime | None = None, unresolved: bool = False, limit: int = 500
    ) -> list[Incident]:
        start = since.timestamp() if since else 0.0
        rows = await self.pool.fetch(_q(sql.INCIDENTS), start, 1 if unresolved else 0, limit)
        return sql.incidents_from(rows)

    async def add_transition(self, transition: Transition) -> None:
        row = (transition.component, transition.state, transition.at.timestamp())
        await self.pool.execute(_q(sql.ADD_TRANSITION), *row)

    async def transitions(self, since: datetime) -> dict[str, list[Transition]]:
        rows = await self.pool.fetch(_q(sql.TRANSITIONS), since.timestamp())
        return sql.transitions_from(rows)

    async def add_dead_letter(self, letter: DeadLetter) -> None:
        await self.pool.execute(_q(sql.ADD_DEAD), *sql.dead_row(letter))

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        return sql.dead_from(await self.pool.fetch(_q(sql.DEAD), limit))

    async def add_outbox(self, entry: OutboxEntry) -> None:
        await self.pool.execute(_q(sql.ADD_OUTBOX), *sql.outbox_row(entry))

    async def drop_outbox(self, done: OutboxDone) -> None:
        await self.pool.execute(_q(sql.DROP_OUTBOX), done.endpoint, done.message_id)

    async def outbox(self, limit: int = 10_000) -> list[OutboxEntry]:
        return sql.outbox_from(await self.pool.fetch(_q(sql.OUTBOX), limit))

    async def save_response(self, record: StoredResponse) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(_q(sql.PURGE_RESPONSES), record.created_at)
            await conn.execute(_q(sql.SAVE_RESPONSE), *sql.response_row(record))

    async def drop_response(self, done: ResponseDropped) -> None:
        await self.pool.execute(_q(sql.DROP_RESPONSE), done.id)

    async def stored_response(self, ident: str, now: float) -> StoredResponse | None:
        return sql.response_from(await self.pool.fetchrow(_q(sql.RESPONSE), ident, now))

    async def try_lead(self, name: str, holder: str, ttl: float, now: float) -> bool:
        async with self.pool.acquire() as conn:
            await conn.execute(_q(sql.LEAD), name, holder, now + ttl, now)
            found = await conn.fetchval(_q(sql.HOLDER), name)
        return bool(found == holder)

    async def put_evidence(self, holder: str, at: float, body: str) -> None:
        await self.pool.execute(_q(sql.PUT_EVIDENCE), holder, at, body)

    async def evidence(self, since: float) -> list[tuple[str, float, str]]:
        rows = await self.pool.fetch(_q(sql.EVIDENCE), since)
        return [(str(h), float(at), str(body)) for h, at, body in rows]

    async def drop_evidence(self, before: float) -> None:
        await self.pool.execute(_q(sql.DROP_EVIDENCE), before)

    async def add_key(self, key: StoredKey) -> None:
        import asyncpg

        async with self.pool.acquire() as conn, conn.transaction():
            # One writer of keys at a time, so the count below holds until the insert.
            await conn.execute("SELECT pg_advisory_xact_lock(4242002)")
            if int(await conn.fetchval(kq.LIVE_KEYS)) >= MAX_KEYS:
                raise KeyConflict(f"the store already holds {MAX_KEYS} keys")
            try:
                await conn.execute(_q(kq.ADD_KEY), *kq.key_row(key))
            except asyncpg.UniqueViolationError:
                raise KeyConflict(f"a key named {key.name!r} already exists") from None

    async def rotate_key(
        self, ident: str, digest: str, at: float, previous: str | None, until: float | None
    ) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(4242002)")
            done = await conn.execute(_q(kq.ROTATE_KEY), ident, digest, at, previous, until)
        return bool(done.endswith(" 1"))

    async def revoke_key(self, ident: str, at: float) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(4242002)")
            done = await conn.execute(_q(kq.REVOKE_KEY), ident, at)
        return bool(done.endswith(" 1"))

    async def stored_keys(self) -> list[StoredKey]:
        return kq.keys_from(await self.pool.fetch(kq.KEYS))

    async def stored_key(self, ident: str) -> StoredKey | None:
        rows = kq.keys_from(await self.pool.fetch(_q(kq.KEY), ident))
        return next((k for k in rows if k.id == ident), rows[0] if rows else None)

    async def keys_version(self) -> tuple[int, int, int]:
        return kq.fingerprint(await self.pool.fetchrow(kq.KEYS_VERSION))

    async def add_usage(self, rows: list[UsageRow]) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.executemany(_q(sql.ADD_USAGE), [sql.usage_row(r) for r in rows])

    async def usage(self, since: str, until: str, key: str | None = None) -> list[UsageRow]:
        return sql.usage_from(await self.pool.fetch(_q(sql.USAGE), since, until, key or ""))

    async def spend(self, since: str, until: str) -> list[tuple[str, str, float]]:
        rows = await self.pool.fetch(_q(sql.SPEND), since, until)
        return [(str(k), str(d), float(c)) for k, d, c in rows]

    def describe(self) -> dict[str, Any]:
        parts = urlsplit(self.url)
        return {
            "backend": "postgresql",
            "host": parts.hostname,
            "port": parts.port or 5432,
            "database": parts.path[1:],
        }
