"""Readiness: whether this process should be sent new requests (`GET /readyz`).

Liveness (`/healthz`) says the process serves at all; readiness says a load balancer should
route to it now. A process is not ready while it starts, once it is draining for shutdown,
or while something it depends on says so. Each dependency registers a check; a check is
called at every `/readyz` (a load balancer asks every few seconds), so it must answer from
what is already known, never by waiting on the dependency.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str = ""
    required: bool = True
    """A failing required check makes the process not ready; an optional one (a shared
    view lost, say, which costs no request) is reported but leaves it ready."""


CheckFn = Callable[[], Check]


class Readiness:
    def __init__(self) -> None:
        self.started = False
        self.draining = False
        """Set when shutdown begins (SIGTERM): from then on `/readyz` answers 503 so the
        load balancer stops sending new requests while open ones finish."""
        self._checks: list[CheckFn] = []

    def add(self, check: CheckFn) -> None:
        self._checks.append(check)

    def checks(self) -> list[Check]:
        found = [
            Check("started", self.started, "" if self.started else "starting"),
            Check("draining", not self.draining, "shutting down" if self.draining else ""),
        ]
        found += [check() for check in self._checks]
        return found

    def ready(self) -> tuple[bool, list[Check]]:
        found = self.checks()
        return all(c.ok or not c.required for c in found), found
