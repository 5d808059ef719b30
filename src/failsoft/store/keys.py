"""Caller keys kept in the store (`failsoft keys`, `/admin/keys`): the record, and the SQL
both relational backends share.

Only the SHA-256 digest of a key is kept, never the key: keys are random (≥ 256 bits), so
an unkeyed digest cannot be reversed, and every process and instance computes the same one
(the ring of each looks keys up by it). `version` grows with every change to any key, so a
process learns that something changed from one small query (`KEYS_VERSION`) without
reading the table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

MAX_KEYS = 10_000
"""Live (not revoked) keys a store holds at most: the ring of every process keeps them all."""


class KeyConflict(Exception):
    """A live key already has this name (or the store already holds `MAX_KEYS`)."""


@dataclass(frozen=True)
class StoredKey:
    """One key as the store keeps it: everything but the secret."""

    id: str
    """Short, random, not secret: names the key in URLs and the CLI."""
    name: str
    """Unique among live keys; the answer cache's namespace (kept across rotations)."""
    digest: str
    """Hex SHA-256 of the secret."""
    created_at: float
    expires_at: float | None = None
    models: tuple[str, ...] | None = None
    limits: dict[str, Any] = field(default_factory=dict)
    """`KeyLimits` fields that are set (empty: `auth.limits`)."""
    metadata: dict[str, str] = field(default_factory=dict)
    revoked_at: float | None = None
    rotated_at: float | None = None
    previous: str | None = None
    """The digest of the secret a rotation replaced, still accepted until `previous_until`
    (`--grace`); None once rotated without grace."""
    previous_until: float | None = None
    version: int = 0
    """Set by the store on every write."""


KEYS_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS failsoft_keys (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, digest TEXT NOT NULL UNIQUE,
        created_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION,
        body TEXT NOT NULL, revoked_at DOUBLE PRECISION, rotated_at DOUBLE PRECISION,
        previous TEXT, previous_until DOUBLE PRECISION, version BIGINT NOT NULL)""",
    """CREATE UNIQUE INDEX IF NOT EXISTS failsoft_keys_live_name
        ON failsoft_keys (name) WHERE revoked_at IS NULL""",
)
"""`body` holds the grants, limits and metadata as JSON (read only when the ring loads)."""

_NEXT = "(SELECT COALESCE(MAX(version), 0) + 1 FROM failsoft_keys)"
ADD_KEY = f"""INSERT INTO failsoft_keys (id, name, digest, created_at, expires_at, body,
    revoked_at, rotated_at, previous, previous_until, version)
    VALUES ({{0}}, {{1}}, {{2}}, {{3}}, {{4}}, {{5}}, NULL, NULL, NULL, NULL, {_NEXT})"""
ROTATE_KEY = f"""UPDATE failsoft_keys SET digest = {{1}}, rotated_at = {{2}}, previous = {{3}},
    previous_until = {{4}}, version = {_NEXT} WHERE id = {{0}} AND revoked_at IS NULL"""
REVOKE_KEY = f"""UPDATE failsoft_keys SET revoked_at = {{1}}, previous = NULL,
    previous_until = NULL, version = {_NEXT} WHERE id = {{0}} AND revoked_at IS NULL"""
LIVE_KEYS = "SELECT COUNT(*) FROM failsoft_keys WHERE revoked_at IS NULL"
_COLUMNS = """id, name, digest, created_at, expires_at, body, revoked_at, rotated_at,
    previous, previous_until, version"""
KEYS = f"SELECT {_COLUMNS} FROM failsoft_keys ORDER BY created_at, id"
KEY = f"""SELECT {_COLUMNS} FROM failsoft_keys WHERE id = {{0}}
    OR (name = {{0}} AND revoked_at IS NULL)"""
KEYS_VERSION = """SELECT COUNT(*), COALESCE(MAX(version), 0), COALESCE(SUM(version), 0)
    FROM failsoft_keys"""
"""The fingerprint polled by every process: any write changes it (a row's new version is
above every version before; the sum moves even if two writers picked the same number)."""


def key_row(key: StoredKey) -> tuple[str, str, str, float, float | None, str]:
    body = {"models": key.models, "limits": key.limits, "metadata": key.metadata}
    return (key.id, key.name, key.digest, key.created_at, key.expires_at, _dumps(body))


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def key_from(row: Any) -> StoredKey:
    body = orjson.loads(row[5])
    models = body.get("models")
    return StoredKey(
        id=str(row[0]),
        name=str(row[1]),
        digest=str(row[2]),
        created_at=float(row[3]),
        expires_at=None if row[4] is None else float(row[4]),
        models=None if models is None else tuple(models),
        limits=dict(body.get("limits") or {}),
        metadata=dict(body.get("metadata") or {}),
        revoked_at=None if row[6] is None else float(row[6]),
        rotated_at=None if row[7] is None else float(row[7]),
        previous=None if row[8] is None else str(row[8]),
        previous_until=None if row[9] is None else float(row[9]),
        version=int(row[10]),
    )


def keys_from(rows: Iterable[Any]) -> list[StoredKey]:
    return [key_from(row) for row in rows]


def fingerprint(row: Any) -> tuple[int, int, int]:
    return (int(row[0]), int(row[1]), int(row[2]))
