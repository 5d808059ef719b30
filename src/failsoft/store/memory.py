"""History kept in this process only: library mode's default, and tests'."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from failsoft.health.types import Incident, Transition
from failsoft.store.base import (
    DeadLetter,
    OutboxDone,
    OutboxEntry,
    ResponseDropped,
    StoredResponse,
    UsageRow,
)
from failsoft.store.keys import MAX_KEYS, KeyConflict, StoredKey


class MemoryStore:
    def __init__(self) -> None:
        self._incidents: dict[str, Incident] = {}
        self._transitions: dict[str, list[Transition]] = {}
        self._dead: list[DeadLetter] = []
        self._leases: dict[str, tuple[str, float]] = {}
        self._evidence: dict[str, tuple[float, str]] = {}
        self._outbox: dict[tuple[str, str], OutboxEntry] = {}
        self._responses: dict[str, StoredResponse] = {}
        self._keys: dict[str, StoredKey] = {}
        self._version = 0
        self._usage: dict[tuple[str, str, str, str], UsageRow] = {}

    def clear(self) -> None:
        self.__init__()  # type: ignore[misc]

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def save_incident(self, incident: Incident) -> None:
        old = self._incidents.get(incident.id)
        if old is not None and old.resolved_at is not None and incident.resolved_at is None:
            return  # a resolved incident stays resolved (as in `sql.SAVE_INCIDENT`)
        self._incidents[incident.id] = incident

    async def incidents(
        self, *, since: datetime | None = None, unresolved: bool = False, limit: int = 500
    ) -> list[Incident]:
        found = [
            i
            for i in self._incidents.values()
            if (i.resolved_at is None)
            or (
                not unresolved
                and (since is None or i.started_at >= since or i.resolved_at >= since)
            )
        ]
        found.sort(key=lambda i: i.started_at, reverse=True)
        return found[:limit]

    async def add_transition(self, transition: Transition) -> None:
        items = self._transitions.setdefault(transition.component, [])
        if transition not in items:  # idempotent, as in SQL (`sql.ADD_TRANSITION`)
            items.append(transition)

    async def transitions(self, since: datetime) -> dict[str, list[Transition]]:
        out: dict[str, list[Transition]] = {}
        for component, items in self._transitions.items():
            before = [t for t in items if t.at < since]
            after = [t for t in items if t.at >= since]
            out[component] = before[-1:] + after
        return {c: items for c, items in out.items() if items}

    async def add_dead_letter(self, letter: DeadLetter) -> None:
        if letter not in self._dead:
            self._dead.append(letter)

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        return list(reversed(self._dead))[:limit]

    async def add_outbox(self, entry: OutboxEntry) -> None:
        self._outbox.setdefault((entry.endpoint, entry.message_id), entry)

    async def drop_outbox(self, done: OutboxDone) -> None:
        self._outbox.pop((done.endpoint, done.message_id), None)

    async def outbox(self, limit: int = 10_000) -> list[OutboxEntry]:
        return sorted(self._outbox.values(), key=lambda e: (e.at, e.message_id))[:limit]

    async def save_response(self, record: StoredResponse) -> None:
        expired = [k for k, r in self._responses.items() if r.expires_at <= record.created_at]
        for key in expired:
            del self._responses[key]
        self._responses[record.id] = record

    async def drop_response(self, done: ResponseDropped) -> None:
        self._responses.pop(done.id, None)

    async def stored_response(self, ident: str, now: float) -> StoredResponse | None:
        found = self._responses.get(ident)
        return found if found is not None and found.expires_at > now else None

    async def try_lead(self, name: str, holder: str, ttl: float, now: float) -> bool:
        current = self._leases.get(name)
        if current is None or current[0] == holder or current[1] < now:
            self._leases[name] = (holder, now + ttl)
            return True
        return False

    async def put_evidence(self, holder: str, at: float, body: str) -> None:
        self._evidence[holder] = (at, body)

    async def evidence(self, since: float) -> list[tuple[str, float, str]]:
        return [(h, at, body) for h, (at, body) in self._evidence.items() if at >= since]

    async def drop_evidence(self, before: float) -> None:
        for holder in [h for h, (at, _) in self._evidence.items() if at < before]:
            del self._evidence[holder]

    async def add_key(self, key: StoredKey) -> None:
        live = [k for k in self._keys.values() if k.revoked_at is None]
        if any(k.name == key.name for k in live):
            raise KeyConflict(f"a key named {key.name!r} already exists")
        if len(live) >= MAX_KEYS:
            raise KeyConflict(f"the store already holds {MAX_KEYS} keys")
        self._keys[key.id] = replace(key, version=self._bump())

    async def rotate_key(
        self, ident: str, digest: str, at: float, previous: str | None, until: float | None
    ) -> bool:
        key = self._keys.get(ident)
        if key is None or key.revoked_at is not None:
            return False
        self._keys[ident] = replace(
            key,
            digest=digest,
            rotated_at=at,
            previous=previous,
            previous_until=until,
            version=self._bump(),
        )
        return True

    async def revoke_key(self, ident: str, at: float) -> bool:
        key = self._keys.get(ident)
        if key is None or key.revoked_at is not None:
            return False
        self._keys[ident] = replace(
            key, revoked_at=at, previous=None, previous_until=None, version=self._bump()
        )
        return True

    async def stored_keys(self) -> list[StoredKey]:
        return sorted(self._keys.values(), key=lambda k: (k.created_at, k.id))

    async def stored_key(self, ident: str) -> StoredKey | None:
        found = self._keys.get(ident)
        if found is not None:
            return found
        return next(
            (k for k in self._keys.values() if k.name == ident and k.revoked_at is None), None
        )

    async def keys_version(self) -> tuple[int, int, int]:
        versions = [k.version for k in self._keys.values()]
        return (len(versions), max(versions, default=0), sum(versions))

    def _bump(self) -> int:
        self._version += 1
        return self._version

    async def add_usage(self, rows: list[UsageRow]) -> None:
        for row in rows:
            at = (row.key, row.day, row.provider, row.model)
            old = self._usage.get(at)
            if old is not None:
                row = replace(
                    row,
                    requests=old.requests + row.requests,
                    input=old.input + row.input,
                    output=old.output + row.output,
                    cached=old.cached + row.cached,
                    estimated=old.estimated + row.estimated,
                    cost=old.cost + row.cost,
                )
            self._usage[at] = row

    async def usage(self, since: str, until: str, key: str | None = None) -> list[UsageRow]:
        rows = [
            r for r in self._usage.values() if since <= r.day <= until and (not key or r.key == key)
        ]
        return sorted(rows, key=lambda r: (r.day, r.key, r.provider, r.model))

    async def spend(self, since: str, until: str) -> list[tuple[str, str, float]]:
        totals: dict[tuple[str, str], float] = {}
        for r in self._usage.values():
            if since <= r.day <= until:
                totals[(r.key, r.day)] = totals.get((r.key, r.day), 0.0) + r.cost
        return [(k, d, c) for (k, d), c in totals.items()]

    def describe(self) -> dict[str, Any]:
        return {"backend": "memory"}
