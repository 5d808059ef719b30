"""Entries and Redis settings shared by the backend tests."""

from __future__ import annotations

import uuid

from failsoft.cache.entry import Entry
from failsoft.clock import FakeClock

REDIS_URL = "redis://127.0.0.1:6379/15"
"""Database 15, away from anything a developer keeps in 0; every test also has its own
prefix and removes its keys."""
DOWN_URL = "redis://127.0.0.1:1/0"
"""Nothing listens on port 1: connections are refused at once."""


def unique_prefix() -> str:
    return f"failsoft:test:{uuid.uuid4().hex}:"


def key_of(name: str) -> str:
    """A 64-character key, as `cache_key` makes, so sizes match real use."""
    return name.rjust(64, "0")


def make_entry(
    clock: FakeClock,
    name: str,
    *,
    size: int = 1000,
    ttl: float = 60.0,
    stale: float = 0.0,
    age: float = 0.0,
) -> Entry:
    return Entry(
        key=key_of(name),
        body=b'"' + name.encode() * (size // max(1, len(name))) + b'"',
        dialect="openai",
        model="gpt-4o",
        provider="openai",
        created_at=clock.wall() - age,
        ttl=ttl,
        stale_for=stale,
        headers={"request-id": f"req_{name}"},
    )
