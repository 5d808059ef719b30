"""Scenarios: scripted outages as a timeline of faults, plus model settings.

A timeline lets the demo and the benchmark replay the same outage every run (primary
model erroring, then flaky, then a cut stream, then recovery). Time comes from an
injected `Clock`, so activation windows are unit-tested without sleeping.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

from failsoft.clock import Clock
from failsoft.sim import spec
from failsoft.sim.faults import Fault, FaultSlot, seeded
from failsoft.sim.settings import parse_overrides
from failsoft.sim.spec import SpecError

_TOP_KEYS = ("defaults", "description", "models", "seed", "timeline")
_ENTRY_KEYS = ("at", "fault", "model", "until")


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """`fault` applies to `model` (or "*") from `at` to `until` seconds after scenario start.

    Without `until`, the entry lasts until the next entry for the same model starts
    or its `count` runs out.
    """

    at: float
    model: str
    fault: Fault
    until: float | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    seed: int = 0
    defaults: Mapping[str, Any] = field(default_factory=dict)
    """Partial model settings applied to every model."""
    models: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Per-model partial settings; these models are also listed by /v1/models."""
    timeline: tuple[TimelineEntry, ...] = ()
    description: str = ""

    @classmethod
    def from_dict(cls, value: object) -> Scenario:
        raw = spec.mapping(value, "scenario")
        spec.known_keys(raw, _TOP_KEYS, "", "scenario key")
        seed = spec.integer(raw.get("seed", 0), "seed", minimum=-(2**63))
        description = raw.get("description") or ""
        if not isinstance(description, str):
            raise SpecError("description", f"expected a string, got {spec.type_name(description)}")
        defaults = parse_overrides(raw.get("defaults"), "defaults")
        models = {
            spec.text(name, "models"): parse_overrides(item, f"models.{name}")
            for name, item in spec.mapping(raw.get("models") or {}, "models").items()
        }
        timeline = raw.get("timeline") or []
        if not isinstance(timeline, list):
            raise SpecError("timeline", f"expected a list, got {spec.type_name(timeline)}")
        entries = tuple(_entry(item, f"timeline[{index}]") for index, item in enumerate(timeline))
        return cls(
            seed=seed, defaults=defaults, models=models, timeline=entries, description=description
        )

    @classmethod
    def from_text(cls, text: str | bytes, source: str = "scenario") -> Scenario:
        """Parse JSON or YAML; errors are prefixed with `source` (usually the file name)."""
        try:
            try:
                data = orjson.loads(text)
            except orjson.JSONDecodeError:
                data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SpecError(source, f"not valid YAML or JSON: {exc}") from None
        try:
            return cls.from_dict(data)
        except SpecError as exc:
            raise SpecError(f"{source}: {exc.path}", exc.problem) from None

    @classmethod
    def from_file(cls, path: str | Path) -> Scenario:
        return cls.from_text(Path(path).read_bytes(), str(path))

    def model_names(self) -> list[str]:
        names = dict.fromkeys(self.models)
        names.update(dict.fromkeys(e.model for e in self.timeline if e.model != "*"))
        return list(names)


def _entry(value: object, where: str) -> TimelineEntry:
    raw = spec.mapping(value, where)
    spec.known_keys(raw, _ENTRY_KEYS, where, "timeline key")
    for key in ("at", "model", "fault"):
        if key not in raw:
            raise SpecError(spec.join(where, key), "required")
    at = spec.number(raw["at"], spec.join(where, "at"), maximum=1e9)
    until = None
    if raw.get("until") is not None:
        until = spec.number(raw["until"], spec.join(where, "until"), maximum=1e9)
        if until <= at:
            raise SpecError(
                spec.join(where, "until"), f"must be after 'at' ({at:g}), got {until:g}"
            )
    model = spec.text(raw["model"], spec.join(where, "model"))
    fault = Fault.from_dict(raw["fault"], spec.join(where, "fault"))
    return TimelineEntry(at=at, until=until, model=model, fault=fault)


@dataclass(slots=True)
class _Live:
    at: float
    end: float
    slot: FaultSlot


class Timeline:
    """The scenario's faults with their live state, measured from the last (re)start."""

    def __init__(self, clock: Clock, entries: Sequence[TimelineEntry] = (), seed: int = 0) -> None:
        self._clock = clock
        self._entries = tuple(entries)
        self._seed = seed
        self._by_model: dict[str, list[_Live]] = {}
        self.start = clock.monotonic()
        self.restart()

    def __bool__(self) -> bool:
        return bool(self._entries)

    def restart(self) -> None:
        """Time zero is now; counts and dice start over."""
        self.start = self._clock.monotonic()
        ordered = sorted(enumerate(self._entries), key=lambda pair: (pair[1].at, pair[0]))
        by_model: dict[str, list[_Live]] = {}
        for index, entry in ordered:
            live = by_model.setdefault(entry.model, [])
            if live and math.isinf(live[-1].end):
                live[-1].end = entry.at
            end = math.inf if entry.until is None else entry.until
            rng = seeded(self._seed, "timeline", str(index))
            live.append(_Live(at=entry.at, end=end, slot=FaultSlot(entry.fault, rng)))
        self._by_model = by_model

    def elapsed(self) -> float:
        return self._clock.monotonic() - self.start

    def slots(self, model: str, elapsed: float | None = None) -> Iterator[FaultSlot]:
        """Live slots for exactly this key (no wildcard expansion), newest entry first."""
        live = self._by_model.get(model)
        if not live:
            return
        now = self.elapsed() if elapsed is None else elapsed
        for item in reversed(live):
            if item.at <= now < item.end and not item.slot.expired:
                yield item.slot

    def active(self) -> dict[str, list[dict[str, Any]]]:
        now = self.elapsed()
        result: dict[str, list[dict[str, Any]]] = {}
        for model in self._by_model:
            faults = [
                {"fault": slot.fault.to_dict(), "remaining": slot.remaining}
                for slot in self.slots(model, now)
            ]
            if faults:
                result[model] = faults
        return result
