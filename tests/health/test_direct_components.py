"""Health components for targets no plan names (`provider/model` asked directly): one
exists only once its target answered, their number is bounded (least recently seen
forgotten first), and an evaluation survives requests adding components while it awaits
the store (it iterated over the live dict: "dictionary changed size during iteration")."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from failsoft.clock import FakeClock
from failsoft.config import parse_config
from failsoft.events import AttemptFinished, BreakerChanged, EventHub, RequestFinished
from failsoft.health.direct import MAX_REQUEST_SERIES, OTHER_MODELS
from failsoft.health.monitor import HealthMonitor
from failsoft.health.types import Transition
from failsoft.router.state import RouterState
from failsoft.store import MemoryStore, Store
from failsoft.types import Target

CONFIG = """
providers:
  openai: {dialect: openai, base_url: "http://127.0.0.1:9/v1", api_key: k, direct: ["*"]}
models:
  gpt: [openai/gpt-4o]
health: {max_direct_components: 8}
"""
PLANNED = {"openai/gpt-4o"}


def make(store: Store | None = None) -> tuple[HealthMonitor, EventHub, FakeClock]:
    clock = FakeClock(start=1000.0, wall_start=datetime(2026, 12, 5, tzinfo=UTC).timestamp())
    config = parse_config(CONFIG)
    hub = EventHub()
    monitor = HealthMonitor(
        config, RouterState(config, clock, hub), hub, store or MemoryStore(), clock
    )
    return monitor, hub, clock


def attempt(model: str, ok: bool = True, n: int = 0) -> AttemptFinished:
    outcome = "200" if ok else "404"
    return AttemptFinished(
        f"r{n}", f"openai/{model}", Target("openai", model), outcome, ok, 0.1, None
    )


def test_a_direct_target_becomes_a_component_only_once_it_answered() -> None:
    monitor, hub, _ = make()
    for n in range(50):
        hub.emit(attempt(f"x-{n}", ok=False, n=n))
        hub.emit(BreakerChanged(Target("openai", f"x-{n}"), "open", "closed", "404"))
    assert set(monitor.components) == PLANNED
    assert set(monitor.passive.targets) <= PLANNED
    assert not monitor.breakers
    hub.emit(attempt("gpt-5"))
    assert set(monitor.components) == PLANNED | {"openai/gpt-5"}


def test_direct_components_are_bounded_least_recently_seen_first() -> None:
    monitor, hub, _ = make()
    for n in range(40):
        hub.emit(attempt(f"m-{n}", n=n))
        hub.emit(attempt("kept", n=n))  # seen all along: never the least recent
    direct = set(monitor.components) - PLANNED
    assert len(direct) == 8
    assert "openai/kept" in direct
    assert {f"openai/m-{n}" for n in range(33, 40)} <= direct
    assert len(monitor.passive.targets) <= 9  # forgotten with their component


def test_request_counts_fold_made_up_names() -> None:
    monitor, hub, _ = make()
    monitor.config = parse_config(CONFIG.replace('direct: ["*"]', "direct: []"))
    for n in range(MAX_REQUEST_SERIES + 100):
        hub.emit(
            RequestFinished(f"r{n}", f"openai/x-{n}", "openai", False, False, 404, None, 0, 0.0)
        )
    hub.emit(
        RequestFinished("ok", "gpt", "openai", False, True, 200, Target("openai", "gpt-4o"), 1, 0.1)
    )
    assert monitor.requests == {(OTHER_MODELS, 404): MAX_REQUEST_SERIES + 100, ("gpt", 200): 1}


class SlowStore(MemoryStore):
    """Yields at each transition written; meanwhile, requests reach new direct targets."""

    def __init__(self) -> None:
        super().__init__()
        self.during: list[AttemptFinished] = []
        self.hub: EventHub | None = None

    async def add_transition(self, transition: Transition) -> None:
        await asyncio.sleep(0)
        if self.hub is not None and self.during:
            self.hub.emit(self.during.pop())
        await super().add_transition(transition)


async def test_an_evaluation_survives_components_added_while_it_awaits() -> None:
    store = SlowStore()
    monitor, hub, clock = make(store)
    await monitor.start(loop=False)
    for n in range(3):
        hub.emit(attempt(f"first-{n}", n=n))
    store.hub = hub
    store.during = [attempt(f"later-{n}", n=n) for n in range(20)]
    await monitor.evaluate()  # raised RuntimeError: dictionary changed size during iteration
    assert len(store.during) < 20  # components were added during the evaluation
    clock.advance(5)
    await monitor.evaluate()
    assert len(set(monitor.components) - PLANNED) <= 8
    stored = await store.transitions(datetime(2026, 1, 1, tzinfo=UTC))
    assert set(stored) <= set(monitor.components) | {f"openai/first-{n}" for n in range(3)}
    await monitor.close()
