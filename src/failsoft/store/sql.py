"""The SQL both relational backends share; only placeholders and types differ."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson

from failsoft.health.codec import incident_from_json, incident_to_json, transition_from_row
from failsoft.health.types import Incident, Transition
from failsoft.store.base import DeadLetter, OutboxEntry, StoredResponse, UsageRow
from failsoft.store.keys import KEYS_SCHEMA

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS failsoft_incidents (
        id TEXT PRIMARY KEY, started_at DOUBLE PRECISION NOT NULL,
        resolved_at DOUBLE PRECISION, body TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS failsoft_transitions (
        component TEXT NOT NULL, state TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)""",
    """CREATE INDEX IF NOT EXISTS failsoft_transitions_by_component
        ON failsoft_transitions (component, at)""",
    """CREATE TABLE IF NOT EXISTS failsoft_dead_letters (
        endpoint TEXT NOT NULL, message_id TEXT NOT NULL, event_type TEXT NOT NULL,
        body BYTEA NOT NULL, attempts INTEGER NOT NULL, last_error TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS failsoft_leases (
        name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS failsoft_evidence (
        holder TEXT PRIMARY KEY, at DOUBLE PRECISION NOT NULL, body TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS failsoft_outbox (
        endpoint TEXT NOT NULL, message_id TEXT NOT NULL, event_type TEXT NOT NULL,
        body BYTEA NOT NULL, at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (endpoint, message_id))""",
    """CREATE TABLE IF NOT EXISTS failsoft_responses (
        id TEXT PRIMARY KEY, created_at DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL, body TEXT NOT NULL)""",
    """CREATE INDEX IF NOT EXISTS failsoft_responses_by_expiry
        ON failsoft_responses (expires_at)""",
    *KEYS_SCHEMA,
    """CREATE TABLE IF NOT EXISTS failsoft_usage (
        key_name TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL,
        day TEXT NOT NULL, requests BIGINT NOT NULL, input_tokens BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL, cached_tokens BIGINT NOT NULL,
        estimated_tokens BIGINT NOT NULL, cost DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (key_name, day, provider, model))""",
)

SAVE_INCIDENT = """INSERT INTO failsoft_incidents (id, started_at, resolved_at, body)
    VALUES ({0}, {1}, {2}, {3})
    ON CONFLICT (id) DO UPDATE SET started_at = excluded.started_at,
        resolved_at = excluded.resolved_at, body = excluded.body
    WHERE failsoft_incidents.resolved_at IS NULL OR excluded.resolved_at IS NOT NULL"""
"""Insert or replace by id, except that a resolved incident is never made unresolved again:
the copy of a process that has not yet heard of the resolution (made by hand elsewhere, or
by the previous health leader) must not bring it back."""
INCIDENTS = """SELECT body FROM failsoft_incidents
    WHERE resolved_at IS NULL OR ({1} = 0 AND (started_at >= {0} OR resolved_at >= {0}))
    ORDER BY started_at DESC LIMIT {2}"""
ADD_TRANSITION = """INSERT INTO failsoft_transitions (component, state, at)
    SELECT {0}, {1}, {2} WHERE NOT EXISTS (SELECT 1 FROM failsoft_transitions
        WHERE component = {0} AND at = {2} AND state = {1})"""
"""Idempotent, like every write: a write that timed out may still have been done (a frozen
server that wakes up), and the queue writes it again."""
TRANSITIONS = """SELECT component, state, at FROM failsoft_transitions WHERE at >= {0}
    UNION ALL
    SELECT t.component, t.state, t.at FROM failsoft_transitions t
    WHERE t.at = (SELECT MAX(u.at) FROM failsoft_transitions u
                  WHERE u.component = t.component AND u.at < {0})
    ORDER BY 1, 3"""
ADD_DEAD = """INSERT INTO failsoft_dead_letters
    (endpoint, message_id, event_type, body, attempts, last_error, at)
    SELECT {0}, {1}, {2}, {3}, {4}, {5}, {6} WHERE NOT EXISTS (SELECT 1
        FROM failsoft_dead_letters WHERE message_id = {1} AND endpoint = {0} AND at = {6})"""
DEAD = """SELECT endpoint, message_id, event_type, body, attempts, last_error, at
    FROM failsoft_dead_letters ORDER BY at DESC LIMIT {0}"""
LEAD = """INSERT INTO failsoft_leases (name, holder, expires) VALUES ({0}, {1}, {2})
    ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires
    WHERE failsoft_leases.holder = excluded.holder OR failsoft_leases.expires < {3}"""
HOLDER = "SELECT holder FROM failsoft_leases WHERE name = {0}"
PUT_EVIDENCE = """INSERT INTO failsoft_evidence (holder, at, body) VALUES ({0}, {1}, {2})
    ON CONFLICT (holder) DO UPDATE SET at = excluded.at, body = excluded.body"""
EVIDENCE = "SELECT holder, at, body FROM failsoft_evidence WHERE at >= {0}"
DROP_EVIDENCE = "DELETE FROM failsoft_evidence WHERE at < {0}"
ADD_OUTBOX = """INSERT INTO failsoft_outbox (endpoint, message_id, event_type, body, at)
    VALUES ({0}, {1}, {2}, {3}, {4}) ON CONFLICT (endpoint, message_id) DO NOTHING"""
DROP_OUTBOX = "DELETE FROM failsoft_outbox WHERE endpoint = {0} AND message_id = {1}"
OUTBOX = """SELECT endpoint, message_id, event_type, body, at FROM failsoft_outbox
    ORDER BY at, message_id LIMIT {0}"""

SAVE_RESPONSE = """INSERT INTO failsoft_responses (id, created_at, expires_at, body)
    VALUES ({0}, {1}, {2}, {3})
    ON CONFLICT (id) DO UPDATE SET created_at = excluded.created_at,
        expires_at = excluded.expires_at, body = excluded.body"""
PURGE_RESPONSES = "DELETE FROM failsoft_responses WHERE expires_at <= {0}"
DROP_RESPONSE = "DELETE FROM failsoft_responses WHERE id = {0}"
RESPONSE = """SELECT id, created_at, expires_at, body FROM failsoft_responses
    WHERE id = {0} AND expires_at > {1}"""


ADD_USAGE = """INSERT INTO failsoft_usage (key_name, provider, model, day, requests,
        input_tokens, output_tokens, cached_tokens, estimated_tokens, cost)
    VALUES ({0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}, {9})
    ON CONFLICT (key_name, day, provider, model) DO UPDATE SET
        requests = failsoft_usage.requests + excluded.requests,
        input_tokens = failsoft_usage.input_tokens + excluded.input_tokens,
        output_tokens = failsoft_usage.output_tokens + excluded.output_tokens,
        cached_tokens = failsoft_usage.cached_tokens + excluded.cached_tokens,
        estimated_tokens = failsoft_usage.estimated_tokens + excluded.estimated_tokens,
        cost = failsoft_usage.cost + excluded.cost"""
USAGE = """SELECT key_name, provider, model, day, requests, input_tokens, output_tokens,
        cached_tokens, estimated_tokens, cost FROM failsoft_usage
    WHERE day >= {0} AND day <= {1} AND ({2} = '' OR key_name = {2})
    ORDER BY day, key_name, provider, model"""

SPEND = """SELECT key_name, day, SUM(cost) FROM failsoft_usage
    WHERE day >= {0} AND day <= {1} GROUP BY key_name, day"""


def usage_row(row: UsageRow) -> tuple[Any, ...]:
    return (
        row.key, row.provider, row.model, row.day, row.requests, row.input, row.output,
        row.cached, row.estimated, row.cost,
    )  # fmt: skip


def usage_from(rows: Iterable[Any]) -> list[UsageRow]:
    return [
        UsageRow(str(k), str(p), str(m), str(d), int(r), int(i), int(o), int(c), int(e), float(x))
        for k, p, m, d, r, i, o, c, e, x in rows
    ]


def placeholders(sql: str, style: str) -> str:
    """`{0}`, `{1}` … as `?1`, `?2` … (SQLite) or `$1`, `$2` … (PostgreSQL); numbered in
    both, so a parameter can be used twice."""
    count = 1 + max(int(n) for n in re.findall(r"\{(\d+)\}", sql))
    mark = "?" if style == "sqlite" else "$"
    return sql.format(*[f"{mark}{i + 1}" for i in range(count)])


def incident_row(incident: Incident) -> tuple[str, float, float | None, str]:
    resolved = incident.resolved_at.timestamp() if incident.resolved_at else None
    body = orjson.dumps(incident_to_json(incident)).decode()
    return (incident.id, incident.started_at.timestamp(), resolved, body)


def incidents_from(rows: Iterable[Any]) -> list[Incident]:
    return [incident_from_json(orjson.loads(row[0])) for row in rows]


def transitions_from(rows: Iterable[Any]) -> dict[str, list[Transition]]:
    out: dict[str, list[Transition]] = {}
    for component, state, at in rows:
        out.setdefault(component, []).append(transition_from_row(component, state, at))
    return out


def dead_row(letter: DeadLetter) -> tuple[str, str, str, bytes, int, str, float]:
    return (
        letter.endpoint_url,
        letter.message_id,
        letter.event_type,
        letter.body,
        letter.attempts,
        letter.last_error,
        letter.at.timestamp(),
    )


def dead_from(rows: Iterable[Any]) -> list[DeadLetter]:
    return [
        DeadLetter(r[0], r[1], r[2], bytes(r[3]), r[4], r[5], datetime.fromtimestamp(r[6], UTC))
        for r in rows
    ]


def outbox_row(entry: OutboxEntry) -> tuple[str, str, str, bytes, float]:
    return (entry.endpoint, entry.message_id, entry.event_type, entry.body, entry.at.timestamp())


def outbox_from(rows: Iterable[Any]) -> list[OutboxEntry]:
    return [
        OutboxEntry(r[0], r[1], r[2], bytes(r[3]), datetime.fromtimestamp(r[4], UTC)) for r in rows
    ]


def response_row(record: StoredResponse) -> tuple[str, float, float, str]:
    return (record.id, record.created_at, record.expires_at, record.body)


def response_from(row: Any) -> StoredResponse | None:
    if row is None:
        return None
    return StoredResponse(str(row[0]), float(row[1]), float(row[2]), str(row[3]))
