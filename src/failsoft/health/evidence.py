"""One process's evidence as it is shared through the store: what a row holds (`Seen`,
`Report`) and how it is written and read (`encode`, `decode`).

Apart from the exchange (health/shared.py: the lease, publishing, reading, merging) because
the row's format is a contract of its own between the processes sharing a store, and the
only part of the sharing that is pure data: JSON in and out, no store, no asyncio. Windows
travel as counts by class, outcomes and sparse histograms; `decode` drops states it does not
know, and a row it cannot read is skipped by the reader (`Exchange.read`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from failsoft.health.callers import Summary
from failsoft.health.types import STATES, State
from failsoft.health.windows import CLASSES, SLOTS, Window, window_of


@dataclass(frozen=True)
class Seen:
    """One component as one process saw it."""

    minute: Window
    five: Window
    breaker: str = "closed"
    last_failure: float | None = None
    """Wall-clock time of its last failed attempt."""


@dataclass(frozen=True)
class Report:
    """One process's row."""

    holder: str
    at: float
    leader: bool = False
    components: dict[str, Seen] = field(default_factory=dict)
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Per component, the requests failed over and lost since the process started."""
    callers: Summary = field(default_factory=dict)
    states: dict[str, tuple[State, float]] = field(default_factory=dict)
    """The leader's shown states, each with since when (wall clock)."""


def encode(report: Report) -> str:
    return orjson.dumps(
        {
            "leader": report.leader,
            "components": {
                key: {
                    "minute": _window(seen.minute),
                    "five": _window(seen.five),
                    "breaker": seen.breaker,
                    "last_failure": seen.last_failure,
                }
                for key, seen in report.components.items()
            },
            "counts": {key: list(n) for key, n in report.counts.items()},
            "callers": report.callers,
            "states": {key: [state, at] for key, (state, at) in report.states.items()},
        }
    ).decode()


def decode(holder: str, at: float, body: str) -> Report:
    obj = orjson.loads(body)
    components = {
        str(key): Seen(
            _unwindow(60.0, c["minute"]),
            _unwindow(300.0, c["five"]),
            str(c.get("breaker") or "closed"),
            None if c.get("last_failure") is None else float(c["last_failure"]),
        )
        for key, c in (obj.get("components") or {}).items()
    }
    states: dict[str, tuple[State, float]] = {
        str(key): (state, float(since))
        for key, (state, since) in (obj.get("states") or {}).items()
        if state in STATES
    }
    return Report(
        holder=holder,
        at=at,
        leader=bool(obj.get("leader")),
        components=components,
        counts={str(k): (int(n[0]), int(n[1])) for k, n in (obj.get("counts") or {}).items()},
        callers={
            str(m): {str(k): int(n) for k, n in counts.items()}
            for m, counts in (obj.get("callers") or {}).items()
        },
        states=states,
    )


def _window(window: Window) -> dict[str, Any]:
    return {
        "counts": [window.counts.get(name, 0) for name in CLASSES],
        "outcomes": window.outcomes,
        "latency": _sparse(window.latency_histogram),
        "ttft": _sparse(window.ttft_histogram),
    }


def _unwindow(seconds: float, obj: dict[str, Any]) -> Window:
    counts = dict(zip(CLASSES, (int(n) for n in obj["counts"]), strict=False))
    outcomes = {str(k): int(n) for k, n in (obj.get("outcomes") or {}).items()}
    return window_of(seconds, counts, outcomes, _dense(obj["latency"]), _dense(obj["ttft"]))


def _sparse(histogram: tuple[int, ...]) -> list[list[int]]:
    return [[i, n] for i, n in enumerate(histogram) if n]


def _dense(pairs: list[list[int]]) -> list[int]:
    out = [0] * SLOTS
    for i, n in pairs:
        if 0 <= int(i) < SLOTS:
            out[int(i)] = int(n)
    return out
