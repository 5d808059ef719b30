"""Every store backend keeps incidents, state changes, dead letters and leases the same way."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from failsoft.health.types import Incident, IncidentUpdate, Transition
from failsoft.store import (
    DeadLetter,
    OutboxDone,
    OutboxEntry,
    ResponseDropped,
    Store,
    StoredResponse,
    open_store,
)
from tests.services import POSTGRES_URL, require

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "memory":
        url = "memory://"
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/state.db"
    else:
        require("PostgreSQL", "127.0.0.1", 5432)
        url = POSTGRES_URL
    backend = open_store(url)
    await backend.open()
    if request.param == "postgres":
        tables = (
            "incidents", "transitions", "dead_letters", "leases", "evidence", "outbox", "responses"
        )  # fmt: skip
        for table in tables:
            await backend.pool.execute(f"TRUNCATE failsoft_{table}")  # type: ignore[attr-defined]
    yield backend
    await backend.close()


def incident(n: int, start: datetime, resolved: datetime | None = None) -> Incident:
    return Incident(
        id=f"inc_{n}",
        title=f"Elevated errors on model-{n} (529 overloaded)",
        status="resolved" if resolved else "investigating",
        impact="major",
        started_at=start,
        updated_at=resolved or start,
        resolved_at=resolved,
        components=("anthropic/model", "anthropic/other"),
        updates=(IncidentUpdate("investigating", "Errors: 90 %", start, "major_outage"),),
        peak_error_rate=0.9,
        requests_failed_over=12,
        requests_lost=1,
    )


async def test_incidents_round_trip_and_filter(store: Store) -> None:
    old = incident(1, T0 - timedelta(days=100), T0 - timedelta(days=99))
    recent = incident(2, T0 - timedelta(hours=2), T0 - timedelta(hours=1))
    active = incident(3, T0 - timedelta(days=200))
    for item in (old, recent, active):
        await store.save_incident(item)
    assert await store.incidents(since=T0 - timedelta(days=90)) == [recent, active]
    assert await store.incidents(unresolved=True) == [active]
    resolved = Incident(**{**active.__dict__, "status": "resolved", "resolved_at": T0})
    await store.save_incident(resolved)  # replaces by id
    assert await store.incidents(unresolved=True) == []
    assert (await store.incidents(since=T0 - timedelta(days=1)))[1] == resolved


async def test_transitions_start_with_the_state_at_the_window_start(store: Store) -> None:
    a, b = "openai/gpt-4o", "anthropic/claude"
    for component, state, minutes in [
        (a, "major_outage", -300), (a, "operational", -200), (a, "partial_outage", -30),
        (b, "degraded_performance", -20), (a, "operational", -10),
    ]:  # fmt: skip
        await store.add_transition(Transition(component, state, T0 + timedelta(minutes=minutes)))  # type: ignore[arg-type]
    found = await store.transitions(T0 - timedelta(minutes=60))
    assert [(t.state, t.at) for t in found[a]] == [
        ("operational", T0 - timedelta(minutes=200)),
        ("partial_outage", T0 - timedelta(minutes=30)),
        ("operational", T0 - timedelta(minutes=10)),
    ]
    assert [t.state for t in found[b]] == ["degraded_performance"]


async def test_dead_letters_are_kept(store: Store) -> None:
    letter = DeadLetter(
        "http://127.0.0.1:9/hook", "msg_1", "incident.opened", b'{"a":1}', 8, "HTTP 500", T0
    )
    await store.add_dead_letter(letter)
    assert await store.dead_letters() == [letter]


async def test_writes_done_twice_are_stored_once(store: Store) -> None:
    """The queue writes again what timed out, which a frozen server may have done anyway."""
    change = Transition("openai/gpt-4o", "major_outage", T0)
    letter = DeadLetter("http://127.0.0.1:9/hook", "msg_1", "incident.opened", b"{}", 8, "", T0)
    for _ in range(2):
        await store.add_transition(change)
        await store.add_dead_letter(letter)
        await store.save_incident(incident(1, T0))
    assert (await store.transitions(T0 - timedelta(days=1)))["openai/gpt-4o"] == [change]
    assert await store.dead_letters() == [letter]
    assert await store.incidents() == [incident(1, T0)]


async def test_one_lease_holder_at_a_time(store: Store) -> None:
    now = T0.timestamp()
    assert await store.try_lead("probes", "a", 30, now)
    assert not await store.try_lead("probes", "b", 30, now + 1)
    assert await store.try_lead("probes", "a", 30, now + 20)  # renewal
    assert not await store.try_lead("probes", "b", 30, now + 40)
    assert await store.try_lead("probes", "b", 30, now + 51)  # a's lease ran out
    assert not await store.try_lead("probes", "a", 30, now + 52)


async def test_sqlite_history_survives_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/nested/state.db"
    first = open_store(url)
    await first.open()
    await first.save_incident(incident(7, T0))
    await first.close()
    second = open_store(url)
    await second.open()
    assert [i.id for i in await second.incidents()] == ["inc_7"]
    await second.close()


async def test_a_resolved_incident_is_never_unresolved_again(store: Store) -> None:
    """A process that has not heard of a resolution (made by hand elsewhere, or by the
    previous health leader) must not bring the incident back by saving its copy."""
    active = incident(4, T0)
    await store.save_incident(active)
    done = Incident(**{**active.__dict__, "status": "resolved", "resolved_at": T0})
    await store.save_incident(done)
    await store.save_incident(Incident(**{**active.__dict__, "requests_lost": 99}))
    assert await store.incidents(since=T0 - timedelta(days=1)) == [done]
    later = Incident(**{**done.__dict__, "status": "postmortem"})
    await store.save_incident(later)  # a resolved incident may still change
    assert await store.incidents(since=T0 - timedelta(days=1)) == [later]


async def test_evidence_rows_one_per_holder(store: Store) -> None:
    now = T0.timestamp()
    await store.put_evidence("a", now - 100, '{"old": true}')
    await store.put_evidence("b", now - 5, '{"b": 1}')
    await store.put_evidence("a", now, '{"a": 2}')  # replaces a's row
    assert sorted(await store.evidence(now - 10)) == [
        ("a", now, '{"a": 2}'),
        ("b", now - 5, '{"b": 1}'),
    ]
    assert await store.evidence(now - 1) == [("a", now, '{"a": 2}')]
    await store.drop_evidence(now - 1)
    assert await store.evidence(0.0) == [("a", now, '{"a": 2}')]


async def test_the_outbox_keeps_one_entry_per_endpoint_and_message(store: Store) -> None:
    def entry(endpoint: str, n: int, seconds: float) -> OutboxEntry:
        body = b'{"type":"incident.opened","n":%d}' % n
        return OutboxEntry(
            endpoint, f"msg_inc_{n}_1", "incident.opened", body, T0 + timedelta(seconds=seconds)
        )

    late, early, other = (
        entry("sha256:a", 1, 20),
        entry("sha256:a", 2, 10),
        entry("sha256:b", 1, 15),
    )
    for item in (late, early, other, late):  # added twice: kept once
        await store.add_outbox(item)
    assert await store.outbox() == [early, other, late]  # oldest first, every endpoint
    assert await store.outbox(limit=2) == [early, other]
    await store.drop_outbox(OutboxDone("sha256:a", late.message_id))
    await store.drop_outbox(OutboxDone("sha256:a", late.message_id))  # again: nothing
    await store.drop_outbox(OutboxDone("sha256:c", early.message_id))  # another endpoint's
    assert await store.outbox() == [early, other]


async def test_kept_responses_expire_are_purged_and_deleted(store: Store) -> None:
    """Read by id until they expire; a later write purges what has expired; a delete
    forgets one; a second save of an id replaces it."""
    now = T0.timestamp()
    old = StoredResponse("resp_old", now, now + 10, '{"n": 1}')
    new = StoredResponse("resp_new", now + 5, now + 100, '{"n": 2}')
    await store.save_response(old)
    await store.save_response(new)
    assert await store.stored_response("resp_old", now + 9) == old
    assert await store.stored_response("resp_old", now + 10) is None  # expired: not served
    assert await store.stored_response("resp_nope", now) is None
    later = StoredResponse("resp_later", now + 20, now + 200, '{"n": 3}')
    await store.save_response(later)  # purges resp_old, expired at its creation
    assert await store.stored_response("resp_old", now) is None
    again = StoredResponse("resp_new", now + 30, now + 300, '{"n": 4}')
    await store.save_response(again)
    assert await store.stored_response("resp_new", now + 31) == again
    await store.drop_response(ResponseDropped("resp_new"))
    await store.drop_response(ResponseDropped("resp_new"))  # idempotent
    assert await store.stored_response("resp_new", now + 31) is None
    assert await store.stored_response("resp_later", now + 31) == later
