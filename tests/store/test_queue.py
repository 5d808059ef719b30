"""`QueuedStore` in front of a backend that goes away: writes return at once and arrive in
order with their own times, reads are bounded, nothing is dropped silently, a restart with
a spool loses nothing."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from failsoft.assemble import Runtime
from failsoft.health.types import Incident, IncidentUpdate, Transition
from failsoft.store import (
    MemoryStore,
    OutboxDone,
    OutboxEntry,
    QueuedStore,
    ResponseDropped,
    StoredResponse,
    StoreSetupError,
    StoreUnavailable,
)
from failsoft.store.spool import Spool
from tests.conftest import make_config

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Flaky(MemoryStore):
    """A memory store that can refuse connections (`away`) or never answer (`hang`)."""

    def __init__(self) -> None:
        super().__init__()
        self.away = False
        self.hang = False
        self.opened = 0

    async def _gate(self) -> None:
        if self.hang:
            await asyncio.sleep(3600)
        if self.away:
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")

    async def open(self) -> None:
        await self._gate()
        self.opened += 1

    async def add_transition(self, transition: Transition) -> None:
        await self._gate()
        await super().add_transition(transition)

    async def save_incident(self, incident: Incident) -> None:
        await self._gate()
        await super().save_incident(incident)

    async def incidents(
        self, *, since: datetime | None = None, unresolved: bool = False, limit: int = 500
    ) -> list[Incident]:
        await self._gate()
        return await super().incidents(since=since, unresolved=unresolved, limit=limit)

    async def transitions(self, since: datetime) -> dict[str, list[Transition]]:
        await self._gate()
        return await super().transitions(since)

    async def add_outbox(self, entry: OutboxEntry) -> None:
        await self._gate()
        await super().add_outbox(entry)

    async def drop_outbox(self, done: OutboxDone) -> None:
        await self._gate()
        await super().drop_outbox(done)

    async def ping(self, word: str) -> str:
        """A method `QueuedStore` does not know: forwarded, bounded."""
        await self._gate()
        return word


def change(n: int, state: str = "major_outage") -> Transition:
    return Transition("openai/gpt-4o", state, T0 + timedelta(seconds=n))  # type: ignore[arg-type]


def incident(status: str = "investigating", failed_over: int = 0) -> Incident:
    return Incident(
        id="inc_1",
        title="Elevated errors on gpt-4o (529 overloaded)",
        status=status,  # type: ignore[arg-type]
        impact="major",
        started_at=T0,
        updated_at=T0,
        components=("openai/gpt-4o",),
        updates=(IncidentUpdate("investigating", "Errors", T0),),
        requests_failed_over=failed_over,
    )


async def settle(store: QueuedStore, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while (store.queued or not store.up) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert store.queued == 0 and store.up, "the queue did not drain"


@pytest.fixture
async def backend() -> Flaky:
    return Flaky()


@pytest.fixture
async def queued(backend: Flaky) -> AsyncIterator[QueuedStore]:
    store = QueuedStore(backend, timeout=0.3, retry_max=0.05)
    await store.open()
    yield store
    await store.close()


async def test_writes_wait_for_the_store_and_keep_their_order_and_times(
    backend: Flaky, queued: QueuedStore
) -> None:
    backend.away = True
    started = time.monotonic()
    for n in range(3):
        await queued.add_transition(change(n, "major_outage" if n % 2 else "operational"))
    await queued.save_incident(incident())
    assert time.monotonic() - started < 0.1  # enqueued, not written
    await asyncio.sleep(0.2)  # the writer fails and retries meanwhile
    assert queued.queued == 4 and not queued.up
    backend.away = False
    await settle(queued)
    stored = await queued.transitions(T0 - timedelta(days=1))
    assert [(t.state, t.at) for t in stored["openai/gpt-4o"]] == [
        ("operational", T0),
        ("major_outage", T0 + timedelta(seconds=1)),
        ("operational", T0 + timedelta(seconds=2)),
    ]
    assert await queued.incidents() == [incident()]


async def test_an_incident_saved_again_while_waiting_takes_one_place(
    backend: Flaky, queued: QueuedStore
) -> None:
    backend.away = True
    for count in range(50):  # an open incident's counters, saved every evaluation
        await queued.save_incident(incident(failed_over=count))
    await queued.add_transition(change(1))
    assert queued.queued == 2
    assert queued.pending_incidents() == [incident(failed_over=49)]
    backend.away = False
    await settle(queued)
    assert await queued.incidents() == [incident(failed_over=49)]


async def test_a_full_queue_drops_the_oldest_and_says_so(
    backend: Flaky, caplog: pytest.LogCaptureFixture
) -> None:
    store = QueuedStore(backend, timeout=0.3, retry_max=0.05, capacity=3)
    await store.open()
    backend.away = True
    with caplog.at_level(logging.ERROR, "failsoft.store"):
        for n in range(5):
            await store.add_transition(change(n))
    assert store.dropped == 2
    assert [t.at for t in store.pending_transitions()][-2:] == [
        T0 + timedelta(seconds=3),
        T0 + timedelta(seconds=4),
    ]
    (record,) = [r for r in caplog.records if "queue is full" in r.getMessage()]
    assert "store.queue: 3" in record.getMessage()
    backend.away = False
    await store.close()


async def test_reads_see_queued_writes_and_fail_fast_while_the_store_is_away(
    backend: Flaky, queued: QueuedStore
) -> None:
    await queued.add_transition(change(0, "operational"))
    assert list(await queued.transitions(T0)) == ["openai/gpt-4o"]  # read after the write
    backend.hang = True  # frozen: the first read waits out the timeout...
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match=r"no answer within 0\.3s"):
        await queued.incidents()
    assert time.monotonic() - started < 2.0
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await queued.ping("x")  # ...later ones fail at once, methods it forwards too
    assert time.monotonic() - started < 0.1
    backend.hang = False
    await asyncio.sleep(0.1)  # retry_max: the next call tries again
    assert await queued.ping("back") == "back"
    assert queued.up


async def test_an_unreachable_store_at_start_is_one_line_then_caught_up(
    backend: Flaky, caplog: pytest.LogCaptureFixture
) -> None:
    backend.away = True
    store = QueuedStore(backend, timeout=0.3, retry_max=0.05)
    loaded: list[list[Incident]] = []

    async def load() -> None:
        loaded.append(await store.incidents(unresolved=True))

    with caplog.at_level(logging.INFO, "failsoft.store"):
        await store.open()  # does not raise
        store.when_up(load)
        await store.save_incident(incident())
        await asyncio.sleep(0.3)
        assert not store.up and loaded == []
        backend.away = False
        await settle(store)
        for _ in range(100):
            if loaded:
                break
            await asyncio.sleep(0.01)
    assert loaded == [[incident()]]  # the hook ran after the queued writes
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert (
        warnings[0]
        .getMessage()
        .startswith(
            "store memory is unreachable (ConnectionRefusedError: [Errno 111] Connect call failed"
        )
    )
    assert warnings[0].exc_info is None
    assert any("answers again" in r.getMessage() for r in caplog.records)
    await store.close()


async def test_a_missing_driver_still_stops_the_start() -> None:
    class NoDriver(MemoryStore):
        async def open(self) -> None:
            raise StoreSetupError("asyncpg is not installed")

    with pytest.raises(StoreSetupError):
        await QueuedStore(NoDriver()).open()


async def test_the_spool_keeps_writes_across_a_restart(tmp_path: Path) -> None:
    backend = Flaky()
    backend.away = True
    first = QueuedStore(backend, timeout=0.2, retry_max=0.05, spool=tmp_path)
    await first.open()
    await first.add_transition(change(0, "operational"))
    await first.add_transition(change(60))
    await first.save_incident(incident())
    await first.save_incident(incident("monitoring"))
    await first.close()  # the store is still away: kept in the spool
    assert len(list(tmp_path.glob("*.jsonl"))) == 1
    backend.away = False
    second = QueuedStore(backend, timeout=0.2, retry_max=0.05, spool=tmp_path)
    await second.open()
    await settle(second)
    history = await second.transitions(T0 - timedelta(days=1))
    assert [(t.state, t.at) for t in history["openai/gpt-4o"]] == [
        ("operational", T0),
        ("major_outage", T0 + timedelta(seconds=60)),
    ]
    assert await second.incidents() == [incident("monitoring")]
    await second.close()
    assert list(tmp_path.glob("*.jsonl")) == []


async def test_outbox_changes_are_queued_and_spooled_in_order(tmp_path: Path) -> None:
    """A webhook's outbox entry and its removal, made while the store is away and the
    process then stops, reach the store in order at the next start."""
    backend = Flaky()
    backend.away = True
    first = QueuedStore(backend, timeout=0.2, retry_max=0.05, spool=tmp_path)
    await first.open()
    opened = OutboxEntry("sha256:a", "msg_inc_1_1", "incident.opened", b"\x00{}", T0)
    resolved = OutboxEntry("sha256:a", "msg_inc_1_2", "incident.resolved", b"{}", T0)
    started = time.monotonic()
    await first.add_outbox(opened)
    await first.add_outbox(resolved)
    await first.drop_outbox(OutboxDone("sha256:a", "msg_inc_1_1"))  # delivered
    assert time.monotonic() - started < 0.1 and first.queued == 3  # queued, not waited for
    with pytest.raises(StoreUnavailable):
        await first.outbox()
    await first.close()
    backend.away = False
    second = QueuedStore(backend, timeout=0.2, retry_max=0.05, spool=tmp_path)
    await second.open()
    await settle(second)
    assert await second.outbox() == [resolved]
    await second.close()


async def test_kept_responses_and_their_removal_are_spooled_in_order(tmp_path: Path) -> None:
    """Responses kept (`responses.store`) and deleted while the store is away reach it in
    order at the next start; what a read finds then is what the caller last asked for."""
    backend = Flaky()
    backend.away = True
    first = QueuedStore(backend, timeout=0.2, retry_max=0.05, spool=tmp_path)
    await first.open()
    now = T0.timestamp()
    kept = StoredResponse("resp_1", now, now + 60, '{"response": {}, "input": []}')
    gone = StoredResponse("resp_2", now, now + 60, '{"response": {}, "input": ["x"]}')
    await first.save_response(kept)
    await first.save_response(gone)
    await first.drop_response(ResponseDropped("resp_2"))
    assert first.queued == 3
    await first.close()
    backend.away = False
    second = QueuedStore(backend, timeout=0.2, retry_max=0.05, spool=tmp_path)
    await second.open()
    await settle(second)
    assert await second.stored_response("resp_1", now) == kept
    assert await second.stored_response("resp_2", now) is None
    assert await second.stored_response("resp_1", now + 61) is None  # expired
    await second.close()


async def test_a_live_process_keeps_its_spool(tmp_path: Path) -> None:
    mine = Spool(tmp_path)
    mine.write(1, "transition", change(0))
    other = Spool(tmp_path)
    assert other.adopt() == []  # locked by a process that is alive (here: `mine`)
    mine.close()
    assert [item for _, item in other.adopt()] == [change(0)]
    assert list(tmp_path.glob("*.jsonl")) == []


async def test_a_spooled_write_done_is_not_replayed(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.write(1, "transition", change(0))
    spool.write(2, "incident", incident())
    spool.write(2, "incident", incident("monitoring"))  # replaced while waiting
    spool.done(1)
    spool.close()
    assert Spool(tmp_path).adopt() == [("incident", incident("monitoring"))]


async def test_hurry_cuts_close_short(backend: Flaky, caplog: pytest.LogCaptureFixture) -> None:
    store = QueuedStore(backend, timeout=5.0, retry_max=0.05)
    await store.open()
    backend.hang = True  # frozen: a graceful close would wait 5 s to flush, 6 s to close
    await store.add_transition(change(0))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    store.hurry()
    with caplog.at_level(logging.ERROR, "failsoft.store"):
        await store.close()
    assert time.monotonic() - started < 3.0
    assert any("1 queued writes lost" in r.getMessage() for r in caplog.records)


async def test_writes_after_close_are_reported(
    queued: QueuedStore, caplog: pytest.LogCaptureFixture
) -> None:
    await queued.close()
    with caplog.at_level(logging.ERROR, "failsoft.store"):
        await queued.save_incident(dataclasses.replace(incident(), id="late"))
    assert "incident late (investigating) not written" in caplog.text


def test_the_runtime_bounds_and_queues_its_store() -> None:
    extra = 'store: {url: "postgresql://u:pw@db.internal:6432/hist", timeout: 2, queue: 50}'
    store = Runtime(make_config("http://127.0.0.1:9", extra)).store
    assert isinstance(store, QueuedStore) and store.timeout == 2
    assert store.name == "PostgreSQL db.internal:6432/hist"  # never the password
    assert store.spool_path is not None and store.spool_path.parent == Path("failsoft-spool")
    local = Runtime(make_config("http://127.0.0.1:9", "store: {url: 'memory://'}")).store
    assert local.spool_path is None  # local stores queue in memory only
