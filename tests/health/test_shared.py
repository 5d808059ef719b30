"""Processes sharing a store judge together, on the fake clock: one outage seen by two
processes is one incident, opened and told once; the follower shows the leader's states
and incidents; requests it failed over reach the incident; when the leader goes, the other
takes over the incident and resolves it once. Real processes: tests/health/test_processes.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

from failsoft.clock import FakeClock
from failsoft.events import AttemptFinished, RequestFinished
from failsoft.health.incidents import Event
from failsoft.health.monitor import HealthMonitor
from failsoft.health.shared import Report, Seen, decode, encode, merged
from failsoft.health.windows import TargetStats
from failsoft.store import MemoryStore
from failsoft.types import Target
from tests.health.test_evidence import make_monitor

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
OPUS = Target("anthropic", "claude-opus-4-7")
SONNET = Target("anthropic", "claude-sonnet-4-5")


class Process:
    def __init__(self, clock: FakeClock, store: MemoryStore) -> None:
        self.monitor: HealthMonitor = make_monitor(clock, store)
        self.events: list[Event] = []
        self.monitor.listeners.append(lambda kind, i: self.events.append((kind, i)))
        self.requests = 0

    def failover(self, n: int) -> None:
        """`n` requests whose opus attempt failed (529) and sonnet answered."""
        hub = self.monitor.router_state.hub
        for _ in range(n):
            self.requests += 1
            rid = f"{id(self)}-{self.requests}"
            hub.emit(AttemptFinished(rid, "claude", OPUS, "529", False, 0.1, None))
            hub.emit(AttemptFinished(rid, "claude", SONNET, "200", True, 0.2, 0.1, "fallback"))
            hub.emit(RequestFinished(rid, "claude", "openai", False, True, 200, SONNET, 2, 0.3))

    def state(self, key: str = OPUS.label) -> str:
        return next(c.state for c in self.monitor.health() if c.id == key)

    @property
    def leading(self) -> bool:
        return self.monitor.shared.leading


async def test_two_processes_one_incident_then_a_takeover() -> None:
    clock = FakeClock(start=1000.0, wall_start=T0.timestamp())
    store = MemoryStore()
    a, b = Process(clock, store), Process(clock, store)
    for p in (a, b):
        await p.monitor.start(loop=False)
    assert (a.leading, b.leading) == (True, False)  # b learnt it at start

    async def tick(*processes: Process, failing: int = 0) -> None:
        for _ in range(5):
            clock.advance(1)
            for p in processes:
                p.failover(failing)
        for p in processes:
            await p.monitor.evaluate()

    for _ in range(6):  # 30 s of an outage that both processes see half of
        await tick(a, b, failing=2)
    events = a.events + b.events
    assert [(kind, i.status) for kind, i in events] == [("incident.opened", "investigating")]
    assert b.events == []  # only the leader tells
    (stored,) = await store.incidents()
    assert stored.components == (OPUS.label,)
    # The follower shows the leader's states, and the incident from the store.
    await tick(a, b, failing=2)
    assert a.state() == b.state() == "major_outage"
    assert list(b.monitor.keeper.active) == [stored.id]
    opus = next(c for c in b.monitor.health() if c.id == OPUS.label)
    # Both processes' attempts (2 a second each, for 35 s): its own up to now, the
    # other's as of its row, published one evaluation ago.
    assert opus.requests_1m == 70 + 60

    # The leader stops without a word (killed): once its lease runs out (3 evaluations),
    # b takes it, and leads from its next evaluation.
    for _ in range(4):
        await tick(b, failing=2)
    assert not b.leading
    await tick(b, failing=2)
    assert b.leading
    assert b.monitor.keeper.active.keys() == {stored.id}  # taken over, not reopened
    for _ in range(3):
        await tick(b)  # the outage is over: nothing fails
    failed_over = b.monitor.keeper.active[stored.id].requests_failed_over
    for _ in range(70):  # resolve_after (300 s) after the last failure
        await tick(b)
    assert [kind for kind, _ in b.events] == ["incident.updated", "incident.resolved"]
    (resolved,) = await store.incidents()
    assert resolved.resolved_at is not None
    assert resolved.requests_failed_over == failed_over > 0
    assert b.state() == "operational"


async def test_failed_over_requests_of_a_follower_reach_the_incident() -> None:
    clock = FakeClock(start=1000.0, wall_start=T0.timestamp())
    store = MemoryStore()
    a, b = Process(clock, store), Process(clock, store)
    for p in (a, b):
        await p.monitor.start(loop=False)
    for _ in range(6):
        clock.advance(5)
        a.failover(10)
        for p in (a, b):
            await p.monitor.evaluate()
    (incident,) = a.monitor.keeper.active.values()
    before = incident.requests_failed_over
    b.failover(7)  # only the follower sees these
    clock.advance(5)
    for _ in range(2):  # b publishes, then a reads and adds
        for p in (b, a):
            await p.monitor.evaluate()
    assert a.monitor.keeper.active[incident.id].requests_failed_over == before + 7
    (stored,) = await store.incidents()
    assert stored.requests_failed_over == before + 7


def test_a_report_survives_the_store() -> None:
    stats = TargetStats()
    for i in range(40):
        stats.record(10.0, "200" if i % 4 else "529", 0.01 * (i + 1), 0.005 * (i + 1))
    seen = Seen(stats.window(10.0, 60), stats.window(10.0, 300), "half_open", 1.8e9)
    report = Report(
        "h1", 1.8e9, True, {OPUS.label: seen}, {OPUS.label: (3, 1)},
        {"claude": {"requests": 4, "answered": 3, "rung1": 3}},
        {OPUS.label: ("partial_outage", 1.8e9 - 60)},
    )  # fmt: skip
    assert decode("h1", 1.8e9, encode(report)) == report
    # The windows merge into exact percentiles of the whole.
    other = Report("h2", 1.8e9, components={OPUS.label: seen})
    both = merged(OPUS.label, seen, [other])
    assert both.five.counts["ok"] == 60 and both.five.counts["server"] == 20
    assert both.five.latency_p95_ms == seen.five.latency_p95_ms
    assert both.breaker == "half_open" and both.last_failure == 1.8e9


async def test_a_leader_that_stops_hands_the_lease_over() -> None:
    clock = FakeClock(start=1000.0, wall_start=T0.timestamp())
    store = MemoryStore()
    a, b = Process(clock, store), Process(clock, store)
    for p in (a, b):
        await p.monitor.start(loop=False)
    await a.monitor.close()
    clock.advance(5)
    await b.monitor.evaluate()  # starts a round that finds the lease free...
    await b.monitor.evaluate()  # ...and this evaluation leads
    assert b.leading


async def test_callers_counts_add_up_across_processes() -> None:
    clock = FakeClock(start=1000.0, wall_start=T0.timestamp())
    store = MemoryStore()
    a, b = Process(clock, store), Process(clock, store)
    a.monitor.caller_summary = lambda: {"claude": {"requests": 3, "answered": 3, "rung2": 3}}
    b.monitor.caller_summary = lambda: {"claude": {"requests": 2, "answered": 1, "rung1": 1}}
    for p in (a, b):
        await p.monitor.start(loop=False)
    for _ in range(3):  # a round publishes, the next one reads, the next evaluation uses it
        clock.advance(5)
        for p in (a, b):
            await p.monitor.evaluate()
    merged_counts = {"claude": {"requests": 5, "answered": 4, "rung1": 1, "rung2": 3}}
    assert a.monitor.callers() == b.monitor.callers() == merged_counts
