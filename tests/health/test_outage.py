"""The acceptance scenario: an outage of one model seen through real traffic opens an
incident naming that model, leaves the others operational, is monitored once the model
recovers, resolves after the quiet period, and the state history matches the outage.

The gateway and the simulator run for real; the health side has a fake clock the test
advances, so minutes of incident life take milliseconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import openai
import pytest

from failsoft.assemble import Runtime
from failsoft.clock import FakeClock
from failsoft.config import Config
from failsoft.health.types import Incident
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from failsoft.status.uptime import component_uptime
from failsoft.types import Target
from tests.conftest import make_config
from tests.helpers import request

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
EXTRA = """
health: {open_after: 20, resolve_after: 300, recover_after: 60, evaluate_every: 3600}
breaker: {failures: 100000, min_requests: 100000}
"""


class World:
    def __init__(self, config: Config, clock: FakeClock) -> None:
        self.clock = clock
        self.runtime = Runtime(config, health_clock=clock)
        self.gateway = GatewayThread(config, runtime=self.runtime).start()
        self.client = openai.OpenAI(base_url=self.gateway.url + "/v1", api_key="c", max_retries=0)
        self.events: list[tuple[str, Incident]] = []
        self.runtime.health.listeners.append(lambda kind, i: self.events.append((kind, i)))

    def traffic(self, n: int = 8) -> None:
        for _ in range(n):
            for model in ("claude", "gpt"):
                self.client.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": "hi"}]
                )

    def evaluate(self) -> None:
        self.gateway.call(self.runtime.health.evaluate())

    def states(self) -> dict[str, str]:
        return {h.id: h.state for h in self.runtime.health.health()}

    def close(self) -> None:
        self.client.close()
        self.gateway.stop()


@pytest.fixture
def world(sim: SimServer) -> Iterator[World]:
    clock = FakeClock(start=1000.0, wall_start=T0.timestamp())
    w = World(make_config(sim.url, EXTRA), clock)
    yield w
    w.close()


def test_an_outage_opens_and_resolves_one_incident(world: World, sim: SimServer) -> None:
    world.traffic()
    world.evaluate()
    assert set(world.states().values()) == {"operational"}
    assert world.events == []

    sim.set_fault("claude-opus-4-7", {"kind": "status", "status": 529})
    world.clock.advance(60)  # t = +60 s: the outage starts
    world.traffic()
    world.evaluate()
    states = world.states()
    assert states["anthropic/claude-opus-4-7"] == "major_outage"
    assert world.events == []  # not yet: it must last `open_after`

    world.clock.advance(25)
    world.traffic()
    world.evaluate()
    ((kind, incident),) = world.events
    assert kind == "incident.opened"
    assert incident.components == ("anthropic/claude-opus-4-7",)
    assert incident.title == "Elevated errors on claude-opus-4-7 (529 overloaded)"
    assert incident.impact == "critical"
    assert incident.peak_error_rate == 1.0
    others = {k: v for k, v in world.states().items() if k != "anthropic/claude-opus-4-7"}
    assert set(others.values()) == {"operational"}

    world.traffic(5)  # while it is open: every claude request fails over
    sim.clear_faults()
    world.clock.advance(30)  # t = +115 s: the last failure (t = +85 s) is still evidence
    world.traffic()
    world.evaluate()
    assert world.states()["anthropic/claude-opus-4-7"] == "major_outage"  # hysteresis
    world.clock.advance(31)  # t = +146 s: `recover_after` since the last failure
    world.traffic()
    world.evaluate()
    assert world.states()["anthropic/claude-opus-4-7"] == "operational"
    kind, monitoring = world.events[-1]
    assert (kind, monitoring.status) == ("incident.updated", "monitoring")

    world.clock.advance(238)  # t = +384 s: 299 s since the last failure
    world.evaluate()
    assert world.events[-1][0] == "incident.updated"
    world.clock.advance(1)
    world.evaluate()
    kind, resolved = world.events[-1]
    assert kind == "incident.resolved"
    assert resolved.resolved_at == T0 + timedelta(seconds=85 + 300)
    assert resolved.requests_failed_over == 5
    assert resolved.requests_lost == 0
    assert [u.status for u in resolved.updates] == ["resolved", "monitoring", "investigating"]

    stored = world.gateway.call(world.runtime.store.incidents())
    assert [i.id for i in stored] == [resolved.id] and stored[0] == resolved
    history = world.gateway.call(world.runtime.store.transitions(T0 - timedelta(days=1)))
    opus = [(t.state, t.at - T0) for t in history["anthropic/claude-opus-4-7"]]
    # The way back is dated from the last failure: the outage's evidence ended there.
    assert opus == [
        ("operational", timedelta(0)),
        ("major_outage", timedelta(seconds=60)),
        ("operational", timedelta(seconds=85)),
    ]
    assert [t.state for t in history["openai/gpt-4o"]] == ["operational"]
    # Uptime from those transitions: the outage (60 s → 85 s, 25 s of major outage)
    # over the time observed so far (385 s), by the documented formula.
    now = T0 + timedelta(seconds=85 + 300)
    uptime = component_uptime(
        history["anthropic/claude-opus-4-7"], now, 90, stored, "anthropic/claude-opus-4-7"
    )
    assert uptime.known_minutes == pytest.approx(385 / 60)
    assert uptime.downtime_minutes == pytest.approx(25 / 60)
    assert uptime.percent == pytest.approx((385 - 25) / 385 * 100)
    assert uptime.incidents == (resolved.id,)
    gpt = component_uptime(history["openai/gpt-4o"], now, 90)
    assert gpt.percent == 100.0
    summary = request(world.gateway.url + "/status/api/v2/summary.json", method="GET").json()
    assert summary["status"]["indicator"] == "none"
    page = request(world.gateway.url + "/status", method="GET").body.decode()
    assert "Elevated errors on claude-opus-4-7 (529 overloaded)" in page  # in the history


QUIET = """
health: {open_after: 0.3, recover_after: 1.5, resolve_after: 3, evaluate_every: 0.1}
breaker: {failures: 3, open_for: 60, max_open_for: 60}
"""


def test_a_quiet_recovery_on_the_real_clock(sim: SimServer) -> None:
    """The primary fails, its breaker opens (for a minute: no probe here) and it gets no
    more traffic; the backup answers everyone. The page says operational `recover_after`
    after the primary's last failure, and the incident resolves `resolve_after` after it,
    though the primary's breaker is still open and nothing reached it since."""
    config = make_config(sim.url, QUIET)
    runtime = Runtime(config)
    key = "anthropic/claude-opus-4-7"
    sim.set_fault("claude-opus-4-7", {"kind": "status", "status": 529})
    seen: dict[str, float] = {}

    def incident(kind: str, _: Incident) -> None:
        seen.setdefault(kind, time.monotonic())

    runtime.health.listeners.append(incident)
    with (
        GatewayThread(config, runtime=runtime).running() as gw,
        openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client,
    ):

        def ask() -> None:
            answer = client.chat.completions.with_raw_response.create(
                model="claude", messages=[{"role": "user", "content": "hi"}]
            )
            assert answer.headers["x-failsoft-model"] == "claude-sonnet-4-5"

        def opus() -> dict[str, str]:
            summary = request(gw.url + "/status/api/v2/summary.json", method="GET").json()
            (found,) = [
                c for c in summary["components"] if c["name"] == "anthropic / claude-opus-4-7"
            ]
            return {"status": found["status"], "indicator": summary["status"]["indicator"]}

        deadline = time.monotonic() + 10
        while "incident.opened" not in seen and time.monotonic() < deadline:
            ask()
            time.sleep(0.02)
        assert "incident.opened" in seen
        # 3 failures are too few for an error rate: the open breaker makes it an outage.
        assert opus()["status"] == "partial_outage"
        attempts = sim.attempts("claude-opus-4-7")
        assert (
            runtime.router.state.breakers[Target("anthropic", "claude-opus-4-7")].state.value
            == "open"
        )
        last_failure = runtime.health.passive.stats(key).last_failure
        assert last_failure is not None
        operational = None
        while "incident.resolved" not in seen and time.monotonic() < deadline + 10:
            ask()  # the backup answers; nothing reaches the primary
            shown = {c.id: c.state for c in runtime.health.health()}
            if operational is None and shown[key] == "operational":
                operational = time.monotonic()
            time.sleep(0.05)
        assert sim.attempts("claude-opus-4-7") == attempts
        assert operational is not None and "incident.resolved" in seen
        # Within an evaluation (0.1 s) of each threshold; the margin is for a busy machine.
        assert 1.5 <= operational - last_failure < 1.5 + 1.0
        assert 3.0 <= seen["incident.resolved"] - last_failure < 3.0 + 1.0
        # The page and its JSON say so too (a snapshot is cached for 2 s: it was taken
        # after `operational`).
        assert opus() == {"status": "operational", "indicator": "none"}
        health = {c.id: c for c in runtime.health.health()}
        assert health[key].breaker == "open"  # still: nothing asked it since
