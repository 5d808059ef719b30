"""What callers got: per virtual model, the requests of the last few minutes that were
answered, and by which rung, so the page's headline tells an absorbed outage from a real one.

A provider × model's state says how that upstream behaves; with fallbacks configured it says
little about callers, who may all have been answered by the next target. `CallerTally`
counts finished caller requests (from `RequestFinished`, plus the cache layer's answers) in
fixed time buckets: O(1) per request, memory bounded by the number of model names kept.

What counts (`counted`):

* answered: the caller got a whole answer (`ok`), from target n of the model's plan
  (`rung1` is the primary, `rung2` the first fallback, ...), or from the cache: `cache` (a
  fresh stored answer), `stale`, `lighter` or `static` (the degradation ladder, after every
  target failed);
* not answered: exhaustion (503 / 529), failsoft's own load shedding, a stream that broke
  after it started and was not resumed, and refusals that are not the caller's doing
  (401/402/403: failsoft's key or account; 408/409/429 relayed);
* not counted: the caller went away first (499), and the caller's own mistakes (other
  4xx: a malformed request, an unknown model, a context too long for every target).

The summary is a plain `dict[str, dict[str, int]]` so processes can ship it through the
store and `merge` theirs; `assess` and `headline` are pure functions of merged data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from failsoft.clock import Clock
from failsoft.config import Config
from failsoft.config.health import CallersConfig
from failsoft.events import RequestFinished
from failsoft.health.types import DESCRIPTIONS, SEVERITY, Indicator, State, worst
from failsoft.types import Target

Summary = dict[str, dict[str, int]]
"""Virtual model → counts: `requests`, `answered`, `rung1`, `rung2`, ..., `cache`, `stale`,
`lighter`, `static`, `other` (answered by a target outside the plan)."""

BUCKETS = 30
"""Buckets per window (10 s each for the default 5 minutes)."""
MAX_DIRECT = 64
"""Direct `provider/model` names kept apart beyond the configured models; further names are
counted together under `OTHER`, because callers choose these names."""
OTHER = "(other models)"
CLIENT_CLOSED = 499
NOT_CALLERS_FAULT = frozenset({401, 402, 403, 408, 409, 429})
"""4xx statuses a caller can do nothing about: they count as not answered."""
LADDER = ("cache", "stale", "lighter", "static")
"""Answers that came from the cache layer, not from a target (`cache` is a fresh hit)."""

_ORDER: dict[Indicator, int] = {"none": 0, "maintenance": 0, "minor": 1, "major": 2, "critical": 3}
_STATE: dict[Indicator, State] = {
    "none": "operational",
    "maintenance": "under_maintenance",
    "minor": "degraded_performance",
    "major": "partial_outage",
    "critical": "major_outage",
}
_LEVEL: dict[State, Indicator] = {
    "operational": "none",
    "under_maintenance": "none",
    "degraded_performance": "minor",
    "partial_outage": "major",
    "major_outage": "critical",
}


def counted(event: RequestFinished) -> bool | None:
    """Whether the request was answered; None when it does not count at all."""
    if event.ok:
        return True
    status = event.status
    if status == CLIENT_CLOSED:
        return None
    if event.shed or status < 400 or status >= 500 or status in NOT_CALLERS_FAULT:
        return False
    return None  # the caller's own mistake


class _Tally:
    """Counts by key over the last `len(epochs)` buckets."""

    __slots__ = ("counts", "epochs")

    def __init__(self) -> None:
        self.epochs = [-1] * BUCKETS
        self.counts: list[dict[str, int]] = [{} for _ in range(BUCKETS)]

    def add(self, epoch: int, keys: tuple[str, ...]) -> None:
        slot = epoch % BUCKETS
        if self.epochs[slot] != epoch:
            self.epochs[slot] = epoch
            self.counts[slot] = {}
        counts = self.counts[slot]
        for key in keys:
            counts[key] = counts.get(key, 0) + 1

    def total(self, epoch: int) -> dict[str, int]:
        oldest = epoch - BUCKETS + 1
        out: dict[str, int] = {}
        for at, counts in zip(self.epochs, self.counts, strict=True):
            if at >= oldest:
                for key, n in counts.items():
                    out[key] = out.get(key, 0) + n
        return out


class CallerTally:
    """The sliding count of what callers got, per virtual model."""

    def __init__(self, config: Config, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._width = config.status.callers.window / BUCKETS
        self._tallies: dict[str, _Tally] = {}
        self._rungs: dict[str, dict[Target, str]] = {}
        self._direct = 0
        for name in config.models:
            self._known(name)

    def _known(self, model: str, answered: bool = True) -> tuple[_Tally, dict[Target, str]] | None:
        """The tally and rungs `model` counts in. A direct name gets a tally of its own only
        from a request that was answered (and at most MAX_DIRECT of them): a name nothing
        answered stays off the page."""
        tally = self._tallies.get(model)
        if tally is not None:
            return tally, self._rungs[model]
        plan = self._config.resolve(model)
        if plan is None:
            return None  # the caller's 404 (or a shed request for a name that isn't one)
        if plan.name != model and plan.name in self._config.models:
            return self._known(plan.name)  # an alias or a pattern: counted for its model
        # (reversed: a target listed twice keeps its first place)
        rungs = {t: f"rung{n}" for n, t in reversed(list(enumerate(plan.targets, 1)))}
        if model not in self._config.models:
            if self._direct >= MAX_DIRECT or not answered:
                other = self._tallies.get(OTHER)
                if other is None:
                    other = self._tallies[OTHER] = _Tally()
                    self._rungs[OTHER] = {}
                return other, rungs
            self._direct += 1
        self._tallies[model] = tally = _Tally()
        self._rungs[model] = rungs
        return tally, rungs

    def _epoch(self) -> int:
        return int(self._clock.monotonic() / self._width)

    def request_finished(self, event: RequestFinished) -> None:
        """`RequestFinished` subscriber (hot path: a few dict operations)."""
        answered = counted(event)
        if answered is None:
            return
        found = self._known(event.virtual_model, answered)
        if found is None:
            return
        tally, rungs = found
        if not answered:
            tally.add(self._epoch(), ("requests",))
            return
        target = event.target
        rung = rungs.get(target, "other") if target is not None else "other"
        tally.add(self._epoch(), ("requests", "answered", rung))

    def served(self, model: str, rung: str) -> None:
        """The cache layer answered (`rung` in `LADDER`). A fresh hit never reached the
        router, so it is a request of its own; a ladder answer comes after the router
        reported the request unanswered, and turns it into an answered one."""
        found = self._known(model)
        if found is None:
            return
        keys = ("requests", "answered", rung) if rung == "cache" else ("answered", rung)
        found[0].add(self._epoch(), keys)

    def summary(self) -> Summary:
        epoch = self._epoch()
        out: Summary = {}
        for model, tally in self._tallies.items():
            counts = tally.total(epoch)
            if counts.get("requests"):
                # A ladder answer can outlive the failure it repaired by one bucket.
                counts["answered"] = min(counts.get("answered", 0), counts["requests"])
                out[model] = counts
        return out

    def reconfigure(self, config: Config) -> None:
        """A reloaded config: counts are kept (those of a model no longer configured age
        out of the window), each model's rungs follow its new target list. A new window
        starts the counts afresh (their buckets measured another span)."""
        width = config.status.callers.window / BUCKETS
        self._config = config
        if width != self._width:
            self._width = width
            self.clear()
            return
        for name in config.models:
            self._rungs.pop(name, None)
            tally = self._tallies.pop(name, None)
            found = self._known(name)
            if found is not None and tally is not None:
                self._tallies[name] = tally

    def clear(self) -> None:
        """Forget every request (tests that share one gateway start clean)."""
        self._tallies.clear()
        self._rungs.clear()
        self._direct = 0
        for name in self._config.models:
            self._known(name)


def merge(summaries: Iterable[Mapping[str, Mapping[str, int]]]) -> Summary:
    """Several processes' summaries as one (counts add up)."""
    out: Summary = {}
    for summary in summaries:
        for model, counts in summary.items():
            mine = out.setdefault(model, {})
            for key, n in counts.items():
                mine[key] = mine.get(key, 0) + n
    return out


# --------------------------------------------------------------------------- reading


def level(requests: int, answered: int, config: CallersConfig) -> Indicator:
    """The indicator for a share of requests answered (thresholds in `status.callers`)."""
    if requests <= 0:
        return "none"
    share = min(answered, requests) / requests
    if requests < config.min_requests:
        return "none" if answered >= requests else "minor"
    if share >= config.none:
        return "none"
    if share >= config.minor:
        return "minor"
    return "major" if share >= config.major else "critical"


def worse(a: Indicator, b: Indicator) -> Indicator:
    return b if _ORDER[b] > _ORDER[a] else a


@dataclass(frozen=True)
class ModelService:
    """One virtual model as the page shows it: what its callers got."""

    name: str
    targets: tuple[str, ...]
    """Its plan's component ids, in order (rung n is `targets[n - 1]`)."""
    requests: int
    answered: int
    by: tuple[tuple[str, int], ...]
    """(rung, answers): `rung1`, `rung2`, ..., then the cache layer's, largest share first
    within each kind."""
    indicator: Indicator
    state: State
    """Its component status: from the share answered; with no requests in the window,
    from its best target's state (what a caller would get)."""
    since: datetime | None = None
    """When `state` began, as far as this page has seen (set by the status service)."""
    first_seen: datetime | None = None

    @property
    def fallback(self) -> int:
        """Answers that did not come from the primary or a fresh cache hit."""
        return sum(n for rung, n in self.by if rung not in ("rung1", "cache"))


def _by(counts: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    rungs = sorted(
        ((k, n) for k, n in counts.items() if k.startswith("rung") and n > 0),
        key=lambda kn: int(kn[0][4:]),
    )
    rest = [(k, counts[k]) for k in (*LADDER, "other") if counts.get(k, 0) > 0]
    return (*rungs, *rest)


def assess(
    summary: Mapping[str, Mapping[str, int]],
    plans: Mapping[str, Sequence[str]],
    states: Mapping[str, State],
    config: CallersConfig,
) -> tuple[ModelService, ...]:
    """Every planned model (config order), then any other model with requests."""
    names = list(plans) + sorted(n for n in summary if n not in plans and n != OTHER)
    if OTHER in summary:
        names.append(OTHER)
    out = []
    for name in names:
        counts = summary.get(name, {})
        targets = tuple(plans.get(name, (name,) if "/" in name else ()))
        requests = max(0, counts.get("requests", 0))
        answered = min(max(0, counts.get("answered", 0)), requests)
        if requests:
            indicator = level(requests, answered, config)
            state = _STATE[indicator]
        else:
            found = [states[t] for t in targets if t in states]
            best = min(found, key=lambda s: SEVERITY[s]) if found else "operational"
            state = best
            indicator = _LEVEL[best]
        out.append(ModelService(name, targets, requests, answered, _by(counts), indicator, state))
    return tuple(out)


def percent(part: int, whole: int) -> str:
    """Truncated, so 99.96 % is never shown as 100 %."""
    if whole <= 0:
        return "0%"
    if part >= whole:
        return "100%"
    tenths = part * 1000 // whole
    return f"{tenths // 10}.{tenths % 10}%" if tenths % 10 else f"{tenths // 10}%"


def span(window: float) -> str:
    """`300` → "5 minutes"; `90` → "90 seconds"."""
    if window % 60 == 0:
        minutes = int(window // 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{window:g} seconds"


def served_text(m: ModelService, window: float) -> str:
    """A virtual model's `description`, e.g. "100% of 172 requests answered in the last 5
    minutes (42% by a fallback)"."""
    if not m.requests:
        return f"No requests in the last {span(window)}"
    text = f"{percent(m.answered, m.requests)} of {m.requests:,} requests answered in the last "
    text += span(window)
    if m.fallback and m.answered:
        text += f" ({percent(m.fallback, m.answered)} by a fallback)"
    return text


def _names(ids: list[str], limit: int = 3) -> str:
    shown = ", ".join(ids[:limit])
    return shown if len(ids) <= limit else f"{shown} and {len(ids) - limit} more"


def headline(
    models: Sequence[ModelService], states: Mapping[str, State], window: float
) -> tuple[Indicator, str]:
    """The page's indicator and description: the worst of the models callers used, by the
    share of their requests answered. Components' own states only word it: an outage every
    caller was spared says so, instead of "Major System Outage"."""
    used = [m for m in models if m.requests]
    indicator: Indicator = "none"
    for m in used:
        indicator = worse(indicator, m.indicator)
    if indicator != "none":
        return indicator, DESCRIPTIONS[indicator]
    failing = [cid for cid, s in states.items() if SEVERITY[s] > 0]
    if not failing:
        if worst(list(states.values())) == "under_maintenance":
            return "maintenance", "Service Under Maintenance"
        return "none", "All Systems Operational"
    word = "failing" if any(SEVERITY[states[c]] >= 2 for c in failing) else "degraded"
    if not used:
        return "none", f"No requests in the last {span(window)} — {_names(failing)} {word}"
    fallback = sum(m.fallback for m in used)
    served = ", served by fallbacks" if fallback else ""
    return "none", f"All requests answered — {_names(failing)} {word}{served}"
