"""A state follows its last evidence, on the fake clock: a model that failed and then got no
more traffic (its breaker opened, its fallback answers) is operational again `recover_after`
after its last failure, its incident resolves `resolve_after` after it, and its history
counts only the time failures were seen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from failsoft.clock import FakeClock
from failsoft.config import parse_config
from failsoft.events import BreakerChanged, EventHub
from failsoft.health.incidents import Event
from failsoft.health.monitor import HealthMonitor
from failsoft.health.types import DeclaredComponent, ProviderStatus
from failsoft.router.state import RouterState
from failsoft.status.uptime import component_uptime
from failsoft.store import MemoryStore, Store

CONFIG = """
providers:
  anthropic:
    dialect: anthropic
    base_url: "http://127.0.0.1:9"
    api_key: k
{provider}
models:
  claude: [anthropic/claude-opus-4-7, anthropic/claude-sonnet-4-5]
health:
  open_after: 20
  recover_after: 60
  resolve_after: 300
  evaluate_every: 5
"""
OPUS = "anthropic/claude-opus-4-7"
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
START = 1000.0


def make_monitor(clock: FakeClock, store: Store | None = None, provider: str = "") -> HealthMonitor:
    """A monitor on its own (no gateway); `provider` adds to the provider's config."""
    config = parse_config(CONFIG.format(provider=provider))
    hub = EventHub()
    state = RouterState(config, clock, hub)
    return HealthMonitor(config, state, hub, store or MemoryStore(), clock)


class Timeline:
    """Seconds since `T0`, an evaluation every 5; while failing, 5 failures a second."""

    def __init__(self) -> None:
        self.clock = FakeClock(start=START, wall_start=T0.timestamp())
        self.monitor = make_monitor(self.clock)
        self.events: list[tuple[float, Event]] = []
        self.states: dict[float, str] = {}

    @property
    def t(self) -> float:
        return self.clock.monotonic() - START

    def record(self, t: float, outcome: str) -> None:
        self.monitor.passive.record(OPUS, START + t, outcome, 0.1)

    async def run(self, until: float, failing_until: float = -1.0) -> None:
        while self.t < until:
            self.clock.advance(1)
            if self.t <= failing_until:
                for _ in range(5):
                    self.record(self.t, "529")
            if self.t % 5 == 0:
                for event in await self.monitor.evaluate():
                    self.events.append((self.t, event))
                (opus,) = [c for c in self.monitor.health() if c.id == OPUS]
                self.states[self.t] = opus.state


async def test_a_quiet_model_recovers_from_its_last_failure() -> None:
    line = Timeline()
    await line.monitor.evaluate()
    await line.run(40, failing_until=40)  # fails from t = 1 s to t = 40 s...
    line.monitor.breakers[OPUS] = "open"  # ...then its breaker keeps traffic away
    await line.run(400)

    assert line.states[5] == line.states[95] == "major_outage"
    assert line.states[100] == "operational"  # 40 + recover_after
    assert [(t, kind, i.status) for t, (kind, i) in line.events] == [
        (25, "incident.opened", "investigating"),
        (100, "incident.updated", "monitoring"),
        (340, "incident.resolved", "resolved"),  # 40 + resolve_after
    ]
    history = await line.monitor.store.transitions(T0 - timedelta(days=1))
    assert [(t.state, t.at - T0) for t in history[OPUS]] == [
        ("operational", timedelta(0)),
        ("major_outage", timedelta(seconds=5)),
        ("operational", timedelta(seconds=40)),  # the last failure, not t = 100 s
    ]
    # Only the 35 s with evidence of failure are downtime, not the silence after them.
    uptime = component_uptime(history[OPUS], T0 + timedelta(seconds=400), 1)
    assert uptime.downtime_minutes == pytest.approx(35 / 60)
    assert uptime.known_minutes == pytest.approx(400 / 60)


async def test_an_open_breaker_counts_only_while_its_failure_is_recent() -> None:
    line = Timeline()
    await line.monitor.evaluate()
    line.record(1, "529")  # one failure: too few for a rate
    line.monitor.breakers[OPUS] = "open"
    await line.run(60)
    assert line.states[5] == line.states[60] == "partial_outage"
    await line.run(65)
    assert line.states[65] == "operational"  # 1 + 60 s, the breaker still open
    line.monitor.breakers[OPUS] = "half_open"
    (opus,) = [c for c in line.monitor.health() if c.id == OPUS]
    assert (opus.state, opus.breaker) == ("operational", "half_open")


async def test_a_refused_key_stands_while_its_breaker_is_open_for_long() -> None:
    """A breaker open for the long period (a refused key, a spent quota) keeps all traffic
    away, so no failure can renew the evidence; nothing has disproved it either. The
    incident stays open and the state bad until the breaker lets a probe through."""
    line = Timeline()
    await line.monitor.evaluate()
    await line.run(30, failing_until=30)
    opus = line.monitor.components[OPUS]
    line.monitor._breaker(BreakerChanged(opus, "open", "closed", "credentials", 600.0))
    await line.run(600)
    assert line.states[600] == "partial_outage"
    assert [i.status for _, (_, i) in line.events] == ["investigating"] * len(line.events)
    # The probe answers: the breaker closes, and the usual recovery follows.
    line.monitor._breaker(BreakerChanged(opus, "closed", "half_open", "probe succeeded"))
    await line.run(600 + 60)
    assert line.states[660] == "operational"
    await line.run(600 + 300)
    assert [kind for _, (kind, _) in line.events][-1] == "incident.resolved"


async def test_a_short_open_period_does_not_stand() -> None:
    line = Timeline()
    await line.monitor.evaluate()
    await line.run(30, failing_until=30)
    opus = line.monitor.components[OPUS]
    line.monitor._breaker(BreakerChanged(opus, "open", "closed", "5 failures", 2.0))
    await line.run(95)
    assert line.states[95] == "operational"  # 30 + recover_after, breaker still open


async def test_traffic_after_the_outage_does_not_delay_the_recovery() -> None:
    """Successes after the last failure are evidence too: the 1-minute window still holds
    the failures, but nothing has failed for `recover_after`."""
    line = Timeline()
    await line.monitor.evaluate()
    await line.run(30, failing_until=30)
    for t in range(31, 91):
        line.record(t, "200")
    await line.run(85)
    assert line.states[85] == "major_outage"
    await line.run(90)
    assert line.states[90] == "operational"


async def test_failures_that_go_on_keep_the_state() -> None:
    line = Timeline()
    await line.monitor.evaluate()
    await line.run(300, failing_until=300)
    assert set(line.states.values()) == {"major_outage"}
    ((_, (kind, incident)),) = line.events
    assert kind == "incident.opened" and incident.status == "investigating"


async def test_a_declared_outage_ends_when_the_provider_says_so_not_at_an_old_failure() -> None:
    """Other evidence keeps its own time: a model the provider declares down (too little
    traffic to judge) recovers `recover_after` after the last evaluation that still saw the
    declaration, not after its last failure long before."""
    line = Timeline()
    line.monitor = make_monitor(line.clock, provider=DECLARED)
    await line.monitor.evaluate()
    line.record(1, "529")  # one failure: too few to judge, the provider's word counts
    line.monitor.set_declared(page("major_outage"))
    await line.run(200)
    assert set(line.states.values()) == {"major_outage"}
    line.monitor.set_declared(page("operational"))
    await line.run(255)
    assert line.states[255] == "major_outage"
    await line.run(260)
    assert line.states[260] == "operational"  # 200 + recover_after
    history = await line.monitor.store.transitions(T0 - timedelta(days=1))
    assert [(t.state, t.at - T0) for t in history[OPUS]] == [
        ("operational", timedelta(0)),
        ("major_outage", timedelta(seconds=5)),
        ("operational", timedelta(seconds=200)),
    ]


DECLARED = """
    status_page: "http://127.0.0.1:9/status"
    status_components: {"API": ["*"]}
"""


def page(state: str) -> ProviderStatus:
    component = DeclaredComponent("api", "API", state)  # type: ignore[arg-type]
    return ProviderStatus(
        "anthropic", "http://127.0.0.1:9/status", "none", "", (component,), (), T0
    )
