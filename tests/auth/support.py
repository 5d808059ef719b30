"""Helpers for the key tests: a scratch PostgreSQL database, and polling."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

from tests.services import POSTGRES_URL, require


@contextmanager
def scratch_database() -> Iterator[str]:
    """A database of this test's own on the shared PostgreSQL (dropped afterwards)."""
    require("PostgreSQL", "127.0.0.1", 5432)
    name = f"failsoft_keys_{uuid.uuid4().hex[:10]}"

    async def run(sql: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(POSTGRES_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield urlunsplit(urlsplit(POSTGRES_URL)._replace(path=f"/{name}"))
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def until(condition: Callable[[], bool], timeout: float = 20.0, what: str = "") -> float:
    """Poll `condition` until it holds; the seconds it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.01)
    return time.monotonic() - started
