"""Admission control: bounded work in flight, refused at once beyond the bound.

An overloaded gateway that queues without bound answers everything late, which is the
same as answering nothing. Beyond `max_in_flight` a request is refused at once (503/529
with Retry-After, so well-behaved clients back off), and beyond `per_target` a target is
skipped for the request, like an open breaker. Neither counts as a provider failure.
"""

from __future__ import annotations

from failsoft.config import Admission
from failsoft.types import Target


class Limits:
    __slots__ = ("_config", "_per_target", "in_flight")

    def __init__(self, config: Admission) -> None:
        self._config = config
        self.in_flight = 0
        self._per_target: dict[Target, int] = {}

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

    def enter_target(self, target: Target) -> bool:
        count = self._per_target.get(target, 0)
        if count >= self._config.per_target:
            return False
        self._per_target[target] = count + 1
        return True

    def leave_target(self, target: Target) -> None:
        count = self._per_target.get(target, 1) - 1
        if count:
            self._per_target[target] = count
        else:
            self._per_target.pop(target, None)

    def target_in_flight(self, target: Target) -> int:
        return self._per_target.get(target, 0)
