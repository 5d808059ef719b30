"""What failsoft keeps across restarts: incidents, component state changes, dead letters,
and leases (so that one process of several runs the probes and the status-page polls).

Writes are rare (a state change, an incident update), so every backend is a plain
implementation of this protocol; none is on the request path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from failsoft.health.types import Incident, Transition


@dataclass(frozen=True)
class DeadLetter:
    """A notification that could not be delivered, kept so that nothing is lost (with
    enough to replay it by hand)."""

    endpoint_url: str
    message_id: str
    event_type: str
    body: bytes
    attempts: int
    last_error: str
    at: datetime


class Store(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def save_incident(self, incident: Incident) -> None:
        """Insert or replace by id."""

    async def incidents(
        self, *, since: datetime | None = None, unresolved: bool = False, limit: int = 500
    ) -> list[Incident]:
        """Newest first: unresolved ones, or those started or resolved after `since`."""
        ...

    async def add_transition(self, transition: Transition) -> None: ...

    async def transitions(self, since: datetime) -> dict[str, list[Transition]]:
        """Per component, oldest first: the last change before `since` (the state the
        component was in when the window opened), then every change after it."""
        ...

    async def add_dead_letter(self, letter: DeadLetter) -> None: ...

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]: ...

    async def try_lead(self, name: str, holder: str, ttl: float, now: float) -> bool:
        """Hold (or renew) the lease `name` for `ttl` seconds if it is free, expired or
        already ours."""
        ...

    def describe(self) -> dict[str, Any]:
        """For logs and check-config: the backend and where (never credentials)."""
        ...
