"""The page's view of what callers got: the banner's two lines (callers served, providers
failing) and the "What callers got" table, from `StatusSnapshot.callers`.

Kept apart from `views` so the headline's wording lives in one small place; `views` passes
in its state words and CSS classes so both parts of the page use the same ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from failsoft.health.callers import ModelService, percent, span
from failsoft.health.types import SEVERITY, State
from failsoft.status.model import StatusSnapshot
from failsoft.status.statuspage_json import model_code

_LADDER_WORD = {
    "cache": "cache",
    "stale": "stale cache",
    "lighter": "lighter model",
    "static": "fixed answer",
    "other": "other",
}


@dataclass(frozen=True, slots=True)
class CallerRow:
    """One virtual model in "What callers got"."""

    name: str
    code: str
    state: State
    word: str
    cls: str
    answered: str
    by: tuple[tuple[str, str, str], ...]
    """(rung word, the target it names or "", share of the answers)."""


def _row(m: ModelService, words: Mapping[State, str], classes: Mapping[State, str]) -> CallerRow:
    by = []
    for rung, n in m.by:
        if rung.startswith("rung"):
            number = int(rung[4:])
            label = "primary" if number == 1 else f"fallback {number - 1}"
            what = m.targets[number - 1] if number <= len(m.targets) else ""
        else:
            label, what = _LADDER_WORD.get(rung, rung), ""
        by.append((label, what, percent(n, m.answered)))
    return CallerRow(
        name=m.name,
        code=model_code(m.name),
        state=m.state,
        word=words[m.state],
        cls=classes[m.state],
        answered=f"{percent(m.answered, m.requests)} of {m.requests:,}"
        if m.requests
        else "no requests",
        by=tuple(by),
    )


def served_line(snap: StatusSnapshot) -> str:
    """The banner's line on callers, e.g. "Callers served: 100% of 172 requests in the last
    5 minutes (42% by a fallback)"."""
    window = span(snap.callers_window)
    requests = sum(m.requests for m in snap.callers)
    if not requests:
        return f"No requests in the last {window}"
    answered = sum(m.answered for m in snap.callers)
    line = f"Callers served: {percent(answered, requests)} of {requests:,} requests in the last "
    line += window
    fallback = sum(m.fallback for m in snap.callers)
    if fallback and answered:
        line += f" ({percent(fallback, answered)} by a fallback)"
    return line


def providers_line(snap: StatusSnapshot, words: Mapping[State, str], limit: int = 4) -> str | None:
    """The banner's line on upstreams when any is not operational, e.g. "Providers:
    anthropic/claude-opus-4-7 major outage"."""
    bad = sorted(
        (c for c in snap.components if c.state != "operational"), key=lambda c: -SEVERITY[c.state]
    )
    if not bad:
        return None
    parts = [f"{c.id} {words[c.state].lower()}" for c in bad[:limit]]
    if len(bad) > limit:
        parts.append(f"{len(bad) - limit} more")
    return "Providers: " + ", ".join(parts)


def callers_context(
    snap: StatusSnapshot, words: Mapping[State, str], classes: Mapping[State, str]
) -> dict[str, Any]:
    """The template's variables for the callers' part (all empty without caller figures)."""
    if not snap.callers:
        return {"callers": (), "callers_window": "", "served": None, "upstream": None}
    return {
        "callers": tuple(_row(m, words, classes) for m in snap.callers),
        "callers_window": span(snap.callers_window),
        "served": served_line(snap),
        "upstream": providers_line(snap, words),
    }
