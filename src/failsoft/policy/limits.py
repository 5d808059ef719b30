"""Admission control: bounded work in flight, refused at once beyond the bound.

An overloaded gateway that queues without bound answers everything late, which is the
same as answering nothing. Beyond `max_in_flight` a request is refused at once (503/529
with Retry-After, so well-behaved clients back off), and beyond `per_target` a target is
skipped for the request, like an open breaker. Neither counts as a provider failure.
"""

from __future__ import annotations

from failsoft.config import Admission
from failsoft.types import Target

MAX_IDLE = 4096
"""Targets with nothing in flight whose count is kept at most (beyond, those are dropped)."""


class InFlight:
    """One target's attempts in flight. An attempt holds its target's (`Limits.take`) and
    gives its place back through it (`leave`): no lookup by target either way."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def leave(self) -> None:
        self.count -= 1


class Limits:
    __slots__ = ("_config", "_per_target", "in_flight")

    def __init__(self, config: Admission) -> None:
        self._config = config
        self.in_flight = 0
        self._per_target: dict[Target, InFlight] = {}

    def reconfigure(self, config: Admission) -> None:
        """New bounds (a config reload); what is in flight stays counted."""
        self._config = config

    @property
    def retry_after(self) -> float:
        return self._config.retry_after

    def enter(self) -> bool:
        if self.in_flight >= self._config.max_in_flight:
            return False
        self.in_flight += 1
        return True

    def leave(self) -> None:
        self.in_flight -= 1

    def take(self, target: Target) -> InFlight | None:
        """A place among `target`'s attempts in flight, to `leave` when the attempt ends
        (None: the target is at its `per_target` cap)."""
        place = self._per_target.get(target)
        if place is None:
            place = self._add(target)
        if place.count >= self._config.per_target:
            return None
        place.count += 1
        return place

    def _add(self, target: Target) -> InFlight:
        counts = self._per_target
        if len(counts) >= MAX_IDLE:  # (targets named once and never again: forget them)
            counts = self._per_target = {t: c for t, c in counts.items() if c.count > 0}
        place = counts[target] = InFlight()
        return place

    def enter_target(self, target: Target) -> bool:
        return self.take(target) is not None

    def leave_target(self, target: Target) -> None:
        place = self._per_target.get(target)
        if place is not None and place.count > 0:
            place.count -= 1

    def target_in_flight(self, target: Target) -> int:
        place = self._per_target.get(target)
        return 0 if place is None else place.count
