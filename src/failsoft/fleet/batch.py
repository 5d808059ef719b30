"""What one process saw since its last publish, and the message that carries it.

The request path only appends here (no I/O, no await); the link's publisher takes the
batch every `publish_every` seconds and sends it as one pub/sub message:

    {"o": origin, "t": wall time sent,
     "f": {"provider/model": [age of each failed attempt's start, s], ...},
     "s": {"provider/model": [successes, age of the latest one's start]},
     "w": {"provider/model": extra attempts taken from the retry budget},
     "b": {"provider/model": ["open", seconds left, open period, reason] | ["closed", reason]}}

Times travel as ages ("began 0.03 s before sending") because monotonic clocks differ
between processes; the receiver subtracts them (and the transit time) from its own clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from failsoft.types import Target

MAX_TARGETS = 1024
"""Targets one batch speaks of at most (callers can name `provider/model` targets)."""
MAX_FAILURES = 256
"""Failures per target one batch carries at most (a row opens a breaker long before)."""
MAX_MESSAGE = 1 << 20
"""Bytes of a received message read at most; larger is not ours."""


@dataclass(slots=True)
class Opened:
    until: float
    """When (this clock) the open period ends."""
    open_for: float
    reason: str


@dataclass(slots=True)
class Closed:
    reason: str
    at: float
    """When (this clock) it closed."""


@dataclass(slots=True)
class Batch:
    failed: dict[Target, list[float]] = field(default_factory=dict)
    succeeded: dict[Target, list[float]] = field(default_factory=dict)
    """Per target: [count, latest start]."""
    spent: dict[Target, int] = field(default_factory=dict)
    changes: dict[Target, Opened | Closed] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.failed or self.succeeded or self.spent or self.changes)

    def _room(self, target: Target, where: dict[Target, Any]) -> bool:
        return target in where or len(where) < MAX_TARGETS

    def add_failure(self, target: Target, started: float) -> None:
        if self._room(target, self.failed):
            starts = self.failed.setdefault(target, [])
            if len(starts) < MAX_FAILURES:
                starts.append(started)

    def add_success(self, target: Target, started: float) -> None:
        seen = self.succeeded.get(target)
        if seen is not None:
            seen[0] += 1
            seen[1] = max(seen[1], started)
        elif len(self.succeeded) < MAX_TARGETS:
            self.succeeded[target] = [1, started]

    def add_spent(self, target: Target) -> None:
        if self._room(target, self.spent):
            self.spent[target] = self.spent.get(target, 0) + 1

    def add_change(self, target: Target, change: Opened | Closed) -> None:
        if self._room(target, self.changes):
            self.changes[target] = change

    def encode(self, origin: str, now: float, wall: float) -> bytes:
        def age(at: float) -> float:
            return round(max(0.0, now - at), 4)

        breakers: dict[str, list[Any]] = {}
        for target, change in self.changes.items():
            if isinstance(change, Opened):
                left = round(max(0.0, change.until - now), 4)
                breakers[target.label] = ["open", left, change.open_for, change.reason]
            else:
                breakers[target.label] = ["closed", change.reason, age(change.at)]
        return orjson.dumps(
            {
                "o": origin,
                "t": wall,
                "f": {t.label: [age(at) for at in starts] for t, starts in self.failed.items()},
                "s": {t.label: [int(n), age(at)] for t, (n, at) in self.succeeded.items()},
                "w": {t.label: n for t, n in self.spent.items()},
                "b": breakers,
            }
        )


@dataclass(slots=True)
class Heard:
    """A message from another process, in this process's terms (times on its clock)."""

    origin: str
    failed: dict[Target, list[float]] = field(default_factory=dict)
    succeeded: dict[Target, tuple[int, float]] = field(default_factory=dict)
    spent: dict[Target, int] = field(default_factory=dict)
    changes: dict[Target, Opened | Closed] = field(default_factory=dict)


def parse_label(label: Any) -> Target | None:
    if not isinstance(label, str):
        return None
    provider, sep, model = label.partition("/")
    return Target(provider, model) if sep and provider and model else None


def decode(data: bytes, now: float, wall: float, known: Callable[[Target], bool]) -> Heard | None:
    """A received message (None: unreadable, or too big). Only targets `known` here are
    kept: another process's config may name targets this one never routes to."""
    if len(data) > MAX_MESSAGE:
        return None
    try:
        raw = orjson.loads(data)
        origin = str(raw["o"])
        transit = min(max(0.0, wall - float(raw["t"])), 1.0)  # (hosts' clocks differ a bit)
        heard = Heard(origin)
        base = now - transit
        for label, ages in (raw.get("f") or {}).items():
            target = parse_label(label)
            if target is not None and known(target):
                heard.failed[target] = [base - float(a) for a in ages[:MAX_FAILURES]]
        for label, (count, latest) in (raw.get("s") or {}).items():
            target = parse_label(label)
            if target is not None and known(target):
                heard.succeeded[target] = (max(0, int(count)), base - float(latest))
        for label, count in (raw.get("w") or {}).items():
            target = parse_label(label)
            if target is not None and known(target):
                heard.spent[target] = max(0, int(count))
        for label, change in (raw.get("b") or {}).items():
            target = parse_label(label)
            if target is None or not known(target):
                continue
            if change[0] == "open":
                until = base + float(change[1])
                heard.changes[target] = Opened(until, float(change[2]), str(change[3])[:200])
            elif change[0] == "closed":
                heard.changes[target] = Closed(str(change[1])[:200], base - float(change[2]))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None
    return heard
