"""The store away during a model's outage: nothing waits for it, nothing is lost.

A real gateway, the simulator and a webhook receiver; the store is PostgreSQL behind a
fault-injecting proxy (stopped: connections refused; frozen: bytes held) or a SQLite file
another connection holds locked. The health side runs on a fake clock the test advances,
so the outage lasts minutes on the status page and seconds of real time; what matters to
the store is real time, and its timeouts are short (`store.timeout: 1`), so a store away
for a few seconds behaves as one away for 60 s with the default timeouts would.

Afterwards the store holds the incident and every state change with their true times,
each webhook was delivered once, and uptime counts the outage.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import openai
import pytest

from failsoft.assemble import Runtime
from failsoft.clock import FakeClock
from failsoft.health.types import ComponentHealth, Incident, IncidentUpdate, Transition
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from failsoft.status.uptime import component_uptime
from failsoft.store import open_store
from tests.conftest import make_config
from tests.helpers import chat, request
from tests.services import POSTGRES_URL, scratch_database
from tests.store.faultproxy import FaultProxy
from tests.upstream import ScriptedUpstream

T0 = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
OPUS = "anthropic/claude-opus-4-7"
EXTRA = """
health: {{open_after: 20, resolve_after: 300, recover_after: 60, evaluate_every: 3600}}
breaker: {{failures: 100000, min_requests: 100000}}
store: {{url: "{url}", timeout: 1, retry_max: 0.2, spool: "{spool}"}}
webhooks:
  - {{url: "{hook}/hook", events: [incident.opened, incident.updated, incident.resolved]}}
admin: {{token: admin-token-for-outage-tests-0123456789}}
"""


@pytest.fixture
def receiver() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream().running() as server:
        yield server


@pytest.fixture
def database() -> Iterator[str]:
    """A scratch database on the shared PostgreSQL (dropped afterwards): its URL."""
    with scratch_database("failsoft_outage") as url:
        yield url


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    parts = urlsplit(POSTGRES_URL)
    with FaultProxy(parts.hostname or "127.0.0.1", parts.port or 5432).running() as p:
        yield p


def through(url: str, proxy: FaultProxy, password: str | None = None) -> str:
    """`url` with the proxy's port (and a password the logs must never show)."""
    parts = urlsplit(url)
    auth = parts.username or "postgres"
    if password:
        auth += f":{password}"
    return urlunsplit(parts._replace(netloc=f"{auth}@127.0.0.1:{proxy.port}"))


def read_store(url: str) -> tuple[list[Incident], dict[str, list[Transition]]]:
    """What the store holds, read with a connection of its own (not the gateway's)."""

    async def read() -> tuple[list[Incident], dict[str, list[Transition]]]:
        store = open_store(url)
        await store.open()
        try:
            return await store.incidents(), await store.transitions(T0 - timedelta(days=1))
        finally:
            await store.close()

    return asyncio.run(read())


@dataclass
class Away:
    """How the store goes away and comes back in one run."""

    during_open: Callable[[], None]
    """While the incident opens (PostgreSQL: stopped)."""
    during_recovery: Callable[[], None]
    """While the model recovers (PostgreSQL: frozen)."""
    back: Callable[[], None]


class World:
    def __init__(self, sim: SimServer, extra: str, clock: FakeClock) -> None:
        self.sim = sim
        self.clock = clock
        self.config = make_config(sim.url, extra)
        self.runtime = Runtime(self.config, health_clock=clock)
        self.gateway = GatewayThread(self.config, runtime=self.runtime).start()
        self.client = openai.OpenAI(base_url=self.gateway.url + "/v1", api_key="c", max_retries=0)
        self.events: list[tuple[str, Incident]] = []
        self.runtime.health.listeners.append(lambda kind, i: self.events.append((kind, i)))
        self.slowest = 0.0
        """The longest health evaluation seen (seconds)."""

    def traffic(self, n: int = 8) -> None:
        for _ in range(n):
            self.client.chat.completions.create(
                model="claude", messages=[{"role": "user", "content": "hi"}]
            )

    def evaluate(self) -> str:
        started = time.monotonic()
        self.gateway.call(self.runtime.health.evaluate())
        self.slowest = max(self.slowest, time.monotonic() - started)
        return self.opus().state

    def opus(self) -> ComponentHealth:
        return {h.id: h for h in self.runtime.health.health()}[OPUS]

    def until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert condition()

    def drained(self, timeout: float = 15.0) -> None:
        store = self.runtime.store
        deadline = time.monotonic() + timeout
        while (store.queued or not store.up) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store.queued == 0 and store.up, f"{store.queued} writes still queued"

    def close(self) -> None:
        self.client.close()
        self.gateway.stop()


def outage(
    world: World, away: Away, receiver: ScriptedUpstream
) -> tuple[datetime | None, datetime | None]:
    """Runs the outage with the store away from its start until after the recovery;
    returns (when the model went down, when it was back) as the health side saw them."""
    world.traffic()
    assert world.evaluate() == "operational"
    world.drained()  # every component's first state is stored: the store was there

    away.during_open()
    world.sim.set_fault("claude-opus-4-7", {"kind": "status", "status": 529})
    world.clock.advance(60)
    world.traffic()
    assert world.evaluate() == "major_outage"
    down_at = world.opus().since  # when the state began, as stored
    world.clock.advance(25)
    world.traffic()
    world.evaluate()
    assert [kind for kind, _ in world.events] == ["incident.opened"]
    deadline = time.monotonic() + 10
    while not receiver.requests and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(receiver.requests) == 1, "incident.opened was not sent while the store was away"
    world.until(lambda: not world.runtime.store.up)  # (a locked SQLite: after store.timeout)
    assert world.runtime.store.queued >= 2
    metrics = request(world.gateway.url + "/metrics", method="GET").body.decode()
    assert "failsoft_store_up 0.0" in metrics and "failsoft_store_dropped_total 0.0" in metrics
    page = request(world.gateway.url + "/status/api/v2/incidents/unresolved.json", method="GET")
    assert page.status == 200
    assert [i["name"] for i in page.json()["incidents"]] == [world.events[0][1].title]

    away.during_recovery()
    world.traffic(5)
    world.sim.clear_faults()
    back_at = None
    for _ in range(6):  # until the health side shows the model operational again
        world.clock.advance(35)
        world.traffic()
        if world.evaluate() == "operational":
            back_at = world.opus().since
            break
    assert back_at is not None, "the model never recovered"
    started = time.monotonic()
    page = request(world.gateway.url + "/status", method="GET", timeout=10)
    assert page.status == 200 and b"Elevated errors on claude-opus-4-7" in page.body
    assert time.monotonic() - started < 5.0  # bounded by store.timeout, not hung
    assert not world.runtime.store.up

    away.back()
    world.drained()
    world.clock.advance(301)
    world.evaluate()
    assert world.events[-1][0] == "incident.resolved"
    world.drained()
    # At most one store call of an evaluation waits out the timeout; the rest fail at once.
    assert world.slowest < 1.5, f"an evaluation took {world.slowest:.2f}s (store.timeout: 1)"
    return down_at, back_at


def check_history(
    world: World, stored: tuple[list[Incident], dict[str, list[Transition]]],
    down: datetime | None, back: datetime | None, receiver: ScriptedUpstream,
) -> None:  # fmt: skip
    incidents, history = stored
    resolved = world.events[-1][1]
    assert incidents == [resolved]
    assert resolved.started_at == T0 + timedelta(seconds=85)  # opened while the store was away
    assert down is not None and back is not None
    opus = [(t.state, t.at) for t in history[OPUS]]
    assert opus == [("operational", T0), ("major_outage", down), ("operational", back)]
    assert [t.state for t in history["anthropic/claude-sonnet-4-5"]] == ["operational"]
    now = world.runtime.health.now()
    uptime = component_uptime(history[OPUS], now, 90, incidents, OPUS)
    assert uptime.downtime_minutes == pytest.approx((back - down).total_seconds() / 60)
    assert uptime.percent < 100.0
    # Each incident event reached the receiver once, in order, with one id each.
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert len(ids) == len(set(ids)) == len(world.events)
    sent = [r.body for r in receiver.requests]
    assert [b'"type":"' + kind.encode() + b'"' in body for (kind, _), body in zip(
        world.events, sent, strict=True)] == [True] * len(sent)  # fmt: skip


def test_postgres_stopped_then_frozen_during_an_outage(
    sim: SimServer,
    receiver: ScriptedUpstream,
    database: str,
    proxy: FaultProxy,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = through(database, proxy)
    extra = EXTRA.format(url=url, spool=tmp_path / "spool", hook=receiver.url)
    world = World(sim, extra, FakeClock(start=1000.0, wall_start=T0.timestamp()))
    store = world.runtime.store

    def freeze() -> None:  # back, but never answering: calls time out
        failures = store.failures
        proxy.freeze()
        world.until(lambda: store.failures > failures and "no answer within 1s" in str(store.why))

    try:
        with caplog.at_level(logging.INFO, "failsoft.store"):
            down, back = outage(world, Away(proxy.stop, freeze, proxy.heal), receiver)
    finally:
        world.close()
    check_history(world, read_store(database), down, back, receiver)
    name = f"PostgreSQL 127.0.0.1:{proxy.port}/{urlsplit(database).path[1:]}"
    said = [r.getMessage() for r in caplog.records if r.name == "failsoft.store"]
    assert said[0].startswith(f"store {name} is unreachable (ConnectionRefusedError")
    assert said[1].startswith(f"store {name} answers again after")
    assert len(said) == 2  # one line when it goes, one when it is back
    assert any("answers again" in r.getMessage() for r in caplog.records)
    assert list((tmp_path / "spool").glob("*.jsonl")) == []  # written, so not kept


def test_sqlite_locked_during_an_outage(
    sim: SimServer, receiver: ScriptedUpstream, tmp_path: Path
) -> None:
    path = tmp_path / "failsoft.db"
    extra = EXTRA.format(url=f"sqlite:///{path}", spool=tmp_path / "spool", hook=receiver.url)
    world = World(sim, extra, FakeClock(start=1000.0, wall_start=T0.timestamp()))
    holder = sqlite3.connect(path, timeout=0, isolation_level=None)

    def lock() -> None:  # another process holding the write lock, for as long as it likes
        holder.execute("BEGIN EXCLUSIVE")

    try:
        down, back = outage(world, Away(lock, lambda: None, lambda: holder.execute("COMMIT")), receiver)  # fmt: skip
    finally:
        holder.close()
        world.close()
    check_history(world, read_store(f"sqlite:///{path}"), down, back, receiver)


def test_a_restart_while_postgres_is_away_loses_nothing(
    sim: SimServer, receiver: ScriptedUpstream, database: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    url = through(database, proxy)
    extra = EXTRA.format(url=url, spool=tmp_path / "spool", hook=receiver.url)
    first = World(sim, extra, FakeClock(start=1000.0, wall_start=T0.timestamp()))
    try:
        first.traffic()
        first.evaluate()
        first.drained()
        proxy.stop()
        sim.set_fault("claude-opus-4-7", {"kind": "status", "status": 529})
        first.clock.advance(60)
        first.traffic()
        assert first.evaluate() == "major_outage"
        first.clock.advance(25)
        first.traffic()
        first.evaluate()
        ((_, opened),) = first.events
    finally:
        first.close()  # the store is still away: what waits goes to the spool
    assert len(list((tmp_path / "spool").glob("*.jsonl"))) == 1
    proxy.heal()
    sim.clear_faults()
    second = World(sim, extra, FakeClock(start=5000.0, wall_start=T0.timestamp() + 120))
    try:
        second.drained()
        assert list(second.runtime.health.keeper.active) == [opened.id]  # loaded at start
    finally:
        second.close()
    incidents, history = read_store(database)
    assert [i.id for i in incidents] == [opened.id] and incidents[0].started_at == opened.started_at
    assert [(t.state, t.at) for t in history[OPUS]] == [
        ("operational", T0),
        ("major_outage", T0 + timedelta(seconds=60)),
    ]
    assert list((tmp_path / "spool").glob("*.jsonl")) == []


def test_the_gateway_starts_without_its_store_and_catches_up(
    sim: SimServer,
    receiver: ScriptedUpstream,
    database: str,
    proxy: FaultProxy,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    earlier = Incident(
        id="inc_before_restart",
        title="Elevated errors on gpt-4o (500 server errors)",
        status="investigating",
        impact="major",
        started_at=T0 - timedelta(hours=1),
        updated_at=T0 - timedelta(hours=1),
        components=("openai/gpt-4o",),
        updates=(IncidentUpdate("investigating", "Errors", T0 - timedelta(hours=1)),),
    )

    async def seed() -> None:
        store = open_store(database)
        await store.open()
        await store.save_incident(earlier)
        await store.close()

    asyncio.run(seed())
    proxy.stop()
    url = through(database, proxy, password="hunter2-secret")
    extra = EXTRA.format(url=url, spool=tmp_path / "spool", hook=receiver.url)
    with caplog.at_level(logging.DEBUG):
        world = World(sim, extra, FakeClock(start=1000.0, wall_start=T0.timestamp()))
        try:
            assert (
                request(world.gateway.url + "/v1/chat/completions", body=chat("gpt")).status == 200
            )
            assert request(world.gateway.url + "/status", method="GET").status == 200
            admin = request(
                world.gateway.url + "/admin/dead-letters",
                method="GET",
                headers={"authorization": "Bearer admin-token-for-outage-tests-0123456789"},
            )
            assert admin.status == 503 and "is not open" in admin.json()["error"]["message"]
            world.traffic()
            world.evaluate()  # first states: queued
            assert world.runtime.store.queued > 0
            assert not world.runtime.health.keeper.active
            proxy.heal()
            world.drained()
            deadline = time.monotonic() + 10
            while not world.runtime.health.keeper.active and time.monotonic() < deadline:
                time.sleep(0.05)
            assert list(world.runtime.health.keeper.active) == [earlier.id]  # caught up
        finally:
            world.close()
    said = [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("failsoft") and r.levelno >= logging.WARNING
    ]
    name = f"PostgreSQL 127.0.0.1:{proxy.port}/{urlsplit(database).path[1:]}"
    assert len(said) == 1 and said[0].startswith(f"store {name} is unreachable ("), said
    assert all(r.exc_info is None for r in caplog.records if r.name.startswith("failsoft"))
    assert "hunter2-secret" not in caplog.text
    _, history = read_store(database)
    assert [t.state for t in history[OPUS]] == ["operational"]


def test_a_frozen_postgres_holds_up_nothing(
    sim: SimServer, receiver: ScriptedUpstream, database: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    """Frozen with connections open (the case that hung evaluation for 25 s): evaluation
    and the page wait at most `store.timeout` once, then go on without the store."""
    url = through(database, proxy)
    extra = EXTRA.format(url=url, spool=tmp_path / "spool", hook=receiver.url)
    world = World(sim, extra, FakeClock(start=1000.0, wall_start=T0.timestamp()))
    try:
        world.traffic()
        world.evaluate()
        world.drained()
        proxy.freeze()
        sim.set_fault("claude-opus-4-7", {"kind": "status", "status": 529})
        world.clock.advance(60)
        world.traffic()
        timings = []
        for _ in range(3):
            started = time.monotonic()
            world.evaluate()
            timings.append(time.monotonic() - started)
            world.clock.advance(15)
        started = time.monotonic()
        assert request(world.gateway.url + "/status", method="GET").status == 200
        page = time.monotonic() - started
        assert world.opus().state == "major_outage" and [k for k, _ in world.events] == [
            "incident.opened"
        ]
        assert max(timings) < 1.5 and page < 1.5, (timings, page)  # store.timeout: 1
        proxy.heal()
        world.drained()
    finally:
        world.close()
    incidents, history = read_store(database)
    assert [i.id for i in incidents] == [world.events[0][1].id]
    assert [t.state for t in history[OPUS]] == ["operational", "major_outage"]
