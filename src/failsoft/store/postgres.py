"""History in PostgreSQL (`store.url: postgresql://…`), through asyncpg.

For deployments that run several gateways and want one incident history; install with
`pip install 'failsoft[postgres]'`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from failsoft.health.types import Incident, Transition
from failsoft.store import sql
from failsoft.store.base import DeadLetter


def _q(text: str) -> str:
    return sql.placeholders(text, "postgres")


class PostgresStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self._pool: Any = None

    async def open(self) -> None:
        try:
            import asyncpg
        except ImportError:  # pragma: no cover - depends on the install
            raise RuntimeError(
                "store.url is PostgreSQL but asyncpg is not installed: "
                "pip install 'failsoft[postgres]'"
            ) from None
        self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=4)
        # Several gateways may start at once; the lock makes creating the schema safe.
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(4242001)")
            for statement in sql.SCHEMA:
                await conn.execute(statement)

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

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

    async def try_lead(self, name: str, holder: str, ttl: float, now: float) -> bool:
        async with self.pool.acquire() as conn:
            await conn.execute(_q(sql.LEAD), name, holder, now + ttl, now)
            found = await conn.fetchval(_q(sql.HOLDER), name)
        return bool(found == holder)

    def describe(self) -> dict[str, Any]:
        parts = urlsplit(self.url)
        return {"backend": "postgresql", "host": parts.hostname, "database": parts.path[1:]}
