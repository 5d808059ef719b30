"""Everything a running simulator knows: settings, faults, scenario clock, stats.

Tests drive the simulator from another thread than its event loop, so every mutation
and every fault decision happens under one lock. The hot path (no faults, no scenario)
takes only dictionary reads.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from failsoft.clock import Clock
from failsoft.sim.faults import Fault, FaultSlot, FaultTable, choose, seeded
from failsoft.sim.scenarios import Scenario, Timeline
from failsoft.sim.settings import ModelSettings, parse_overrides
from failsoft.sim.stats import Stats


class SimState:
    def __init__(
        self,
        *,
        clock: Clock,
        models: Iterable[str] = (),
        scenario: Scenario | None = None,
        api_key: str | None = None,
        defaults: Mapping[str, Any] | None = None,
        seed: int = 0,
    ) -> None:
        self.clock = clock
        self.api_key = api_key
        self.stats = Stats()
        self._lock = threading.Lock()
        self._base = ModelSettings().with_overrides(parse_overrides(defaults, "defaults"))
        self._seed = seed
        self._header_rng = seeded(seed, "header")
        self._ids = itertools.count(1)
        self._models: dict[str, None] = dict.fromkeys(models)
        self._overrides: dict[str, dict[str, Any]] = {}
        self._resolved: dict[str, ModelSettings] = {}
        self._scenario = Scenario(seed=seed)
        self.faults = FaultTable(seed)
        self.timeline = Timeline(clock)
        if scenario is not None:
            self.load_scenario(scenario)

    # ids -------------------------------------------------------------------------

    def next_id(self) -> int:
        return next(self._ids)

    # models and settings ---------------------------------------------------------

    def settings(self, model: str) -> ModelSettings:
        resolved = self._resolved.get(model)
        if resolved is None:
            with self._lock:
                self._models.setdefault(model, None)
                resolved = (
                    self._base.with_overrides(self._scenario.defaults)
                    .with_overrides(self._scenario.models.get(model, {}))
                    .with_overrides(self._overrides.get(model, {}))
                )
                self._resolved[model] = resolved
        return resolved

    def set_model(self, model: str, overrides: Mapping[str, Any]) -> None:
        parsed = parse_overrides(overrides, model)
        with self._lock:
            self._models.setdefault(model, None)
            self._overrides.setdefault(model, {}).update(parsed)
            self._resolved.clear()

    def model_names(self) -> list[str]:
        with self._lock:
            return list(self._models)

    # faults ----------------------------------------------------------------------

    def set_fault(self, model: str, fault: Fault | Mapping[str, Any]) -> Fault:
        fault = Fault.coerce(fault)
        with self._lock:
            self.faults.set(model, fault)
        return fault

    def clear_faults(self, model: str | None = None) -> None:
        with self._lock:
            self.faults.clear(model)

    def pick_fault(self, model: str, stream: bool, header: Fault | None = None) -> Fault | None:
        """Precedence: header, runtime[model], timeline[model], runtime["*"], timeline["*"]."""
        if header is None and not self.faults and not self.timeline:
            return None
        with self._lock:
            return choose(self._candidates(model, header), stream)

    def _candidates(self, model: str, header: Fault | None) -> Iterator[FaultSlot | None]:
        if header is not None:
            yield FaultSlot(header, self._header_rng)
        yield self.faults.get(model)
        yield from self.timeline.slots(model)
        yield self.faults.get("*")
        yield from self.timeline.slots("*")

    def fault_snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "runtime": self.faults.snapshot(),
                "timeline": self.timeline.active(),
                "elapsed": round(self.timeline.elapsed(), 3),
            }

    # scenario and reset ----------------------------------------------------------

    def load_scenario(self, scenario: Scenario) -> None:
        with self._lock:
            self._scenario = scenario
            self._models.update(dict.fromkeys(scenario.model_names()))
            self._resolved.clear()
            self._reseed(scenario.seed)
            self.timeline = Timeline(self.clock, scenario.timeline, scenario.seed)

    def reset(self) -> None:
        """Clear faults, stats and the log, and restart the scenario clock; settings stay."""
        with self._lock:
            self.faults.clear()
            self._reseed(self._scenario.seed)
            self.timeline.restart()
        self.stats.clear()

    def _reseed(self, seed: int) -> None:
        self.faults.seed = seed
        self._header_rng = seeded(seed, "header")
