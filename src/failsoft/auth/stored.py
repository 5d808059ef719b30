"""The keys kept in the store, as the request path sees them: a dict from digest to
`Caller`, replaced whole (one assignment) each time the store says something changed.

A lookup never awaits the store: `KeyWatch` (auth/watch.py) refreshes this in the
background. Digests here are unkeyed SHA-256 (see store/keys.py for why that is enough for
random keys), the same in every process, so the store can hold them.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterable
from dataclasses import fields

from failsoft.auth.keys import Caller
from failsoft.config.auth import KeyLimits
from failsoft.store.keys import StoredKey

PREFIX = "fs-"
"""What every key made by failsoft starts with, so a leaked one is recognisable (secret
scanners, log greps) and easy to tell from a provider's key."""
_LIMIT_FIELDS = frozenset(f.name for f in fields(KeyLimits))


def new_secret() -> str:
    """A new caller key: `fs-` and 256 random bits (43 URL-safe characters)."""
    return PREFIX + secrets.token_urlsafe(32)


def new_id() -> str:
    """A key's id: short and random, not secret (it names the key in URLs and logs)."""
    return "key_" + secrets.token_hex(6)


def digest(raw: bytes) -> bytes:
    return hashlib.sha256(raw).digest()


def limits_of(values: dict[str, object], default: KeyLimits) -> KeyLimits:
    """A stored key's limits (validated when it was created); none given: `default`
    (`auth.limits`), as for a config key without `limits`."""
    if not values:
        return default
    given = {k: v for k, v in values.items() if k in _LIMIT_FIELDS and v is not None}
    return KeyLimits(**given)  # type: ignore[arg-type]


class StoredKeys:
    """Digest → Caller for the store's live keys, as last loaded."""

    __slots__ = ("_default", "_rows", "by_digest", "loaded")

    def __init__(self) -> None:
        self.by_digest: dict[bytes, Caller] = {}
        self._rows: list[StoredKey] = []
        self._default = KeyLimits()
        self.loaded = False
        """Whether the store has answered once (until then no stored key is known)."""

    def load(self, rows: Iterable[StoredKey], now: float | None = None) -> None:
        """The store's keys (revoked ones are left out)."""
        self._rows = [r for r in rows if r.revoked_at is None]
        self.loaded = True
        self._build(time.time() if now is None else now)

    def defaults(self, limits: KeyLimits) -> None:
        """`auth.limits` of a (reloaded) config: the limits of keys that set none."""
        if limits != self._default:
            self._default = limits
            self._build(time.time())

    def _build(self, now: float) -> None:
        table: dict[bytes, Caller] = {}
        for row in self._rows:
            caller = Caller(
                row.name,
                row.expires_at,
                row.models,
                dict(row.metadata),
                limits_of(row.limits, self._default),
            )
            table[bytes.fromhex(row.digest)] = caller
            until = row.previous_until
            if row.previous is not None and until is not None and until > now:
                ends = until if row.expires_at is None else min(until, row.expires_at)
                grace = Caller(caller.name, ends, caller.models, caller.metadata, caller.limits)
                table[bytes.fromhex(row.previous)] = grace
        self.by_digest = table  # one assignment: a lookup sees the old table or the new

    def find(self, raw: bytes) -> Caller | None:
        return self.by_digest.get(digest(raw)) if self.by_digest else None

    def names(self) -> list[str]:
        return [r.name for r in self._rows]

    def __len__(self) -> int:
        return len(self._rows)
