"""Passive health: what real traffic says about each provider×model, over sliding windows.

The router reports every attempt through events; this module turns them into counts per
outcome class in 10-second buckets (an hour of them per target), plus log-scale latency
and time-to-first-token histograms. Recording is a few integer increments under no lock
(the event loop is single-threaded); windows (1 min, 5 min, 1 h) and percentiles are
computed only when someone reads them (the status page, the admin API, the health model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

BUCKET_SECONDS = 10.0
BUCKETS = 360  # one hour
WINDOWS = {"1m": 60.0, "5m": 300.0, "1h": 3600.0}

CLASSES = ("ok", "rate_limit", "server", "timeout", "connection", "auth", "client")
"""Outcome classes. `client` (the caller's own fault) is neither success nor failure of the
target and is left out of error rates; every other non-`ok` class is a failure."""
FAILURES = ("rate_limit", "server", "timeout", "connection", "auth")

_TIMEOUTS = frozenset(
    {"connect_timeout", "first_byte_timeout", "first_token_timeout", "idle_timeout", "deadline"}
)
_CONNECTION = frozenset(
    {"reset", "connect", "truncated", "stream_error", "malformed", "bad_response", "cut"}
)
_IGNORED = frozenset({"cancelled", "untranslatable", "open", "budget", "busy", "skipped"})

# Latency histogram: bucket i holds values in [2^(i/4) ms, 2^((i+1)/4) ms); 0 also holds
# anything under 1 ms. 80 buckets reach ~1,000 s.
_HIST = 80
SLOTS = _HIST
"""Slots in a latency histogram."""
_CLASS_INDEX = {name: i for i, name in enumerate(CLASSES)}
_TOP = _HIST - 1
_log2 = math.log2


def classify(outcome: str) -> str | None:
    """The class of a trail outcome, or None for outcomes that say nothing about the target
    (a hedge that lost, a target skipped without an attempt)."""
    if outcome == "200":
        return "ok"
    if outcome in _IGNORED:
        return None
    if outcome in _TIMEOUTS:
        return "timeout"
    if outcome in _CONNECTION:
        return "connection"
    if outcome.isdigit():
        status = int(outcome)
        if status == 429:
            return "rate_limit"
        if status >= 500 or status in (408, 409):
            return "server"
        if status in (401, 402, 403):
            return "auth"
        return "client"
    return "connection"


def _slot(ms: float) -> int:
    if ms < 1.0:
        return 0
    return min(_HIST - 1, int(math.log2(ms) * 4))


def _slot_value(slot: int) -> float:
    """The middle of a histogram slot, in milliseconds."""
    return float(2 ** ((slot + 0.5) / 4))


class _Bucket:
    __slots__ = ("counts", "latency", "start", "ttft", "worst")

    def __init__(self) -> None:
        self.start = -1
        self.counts = [0] * len(CLASSES)
        self.latency = [0] * _HIST
        self.ttft = [0] * _HIST
        self.worst: dict[str, int] = {}

    def reset(self, start: int) -> None:
        self.start = start
        self.counts = [0] * len(CLASSES)
        self.latency = [0] * _HIST
        self.ttft = [0] * _HIST
        self.worst = {}


@dataclass(frozen=True)
class Window:
    """Counts and percentiles over one window."""

    seconds: float
    counts: dict[str, int]
    outcomes: dict[str, int]
    """Failures by trail outcome (`529`, `first_token_timeout`, ...), for incident titles."""
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None
    latency_histogram: tuple[int, ...] = ()
    ttft_histogram: tuple[int, ...] = ()
    """The histograms the percentiles come from, so that windows of several processes can
    be merged (`merge`) into exact percentiles of the whole."""

    @property
    def requests(self) -> int:
        """Attempts that say something about the target (client faults excluded)."""
        return sum(n for c, n in self.counts.items() if c != "client")

    @property
    def failures(self) -> int:
        return sum(self.counts.get(c, 0) for c in FAILURES)

    @property
    def error_rate(self) -> float:
        requests = self.requests
        return self.failures / requests if requests else 0.0

    def top_outcome(self) -> str | None:
        if not self.outcomes:
            return None
        return max(self.outcomes.items(), key=lambda item: (item[1], item[0]))[0]


class TargetStats:
    """One target's ring of buckets."""

    __slots__ = ("_buckets", "last_failure", "last_seen", "totals")

    def __init__(self) -> None:
        self._buckets = [_Bucket() for _ in range(BUCKETS)]
        self.last_seen: float | None = None
        self.last_failure: float | None = None
        """When the last failed attempt ended: how long failures stay evidence runs from
        here (`failsoft.health.model`)."""
        self.totals: dict[str, int] = dict.fromkeys(CLASSES, 0)
        """Running totals since start, for monotonic metrics counters (a stream that broke
        after it committed counts once as `ok` and once as `connection`)."""

    def _bucket(self, now: float) -> _Bucket:
        number = int(now // BUCKET_SECONDS)
        bucket = self._buckets[number % BUCKETS]
        if bucket.start != number:
            bucket.reset(number)
        return bucket

    def record(
        self, now: float, outcome: str, duration: float | None, first_token: float | None
    ) -> None:
        # Runs for every attempt: the common success takes the shortest path.
        if outcome == "200":
            kind = "ok"
        else:
            found = classify(outcome)
            if found is None:
                return
            kind = found
        number = int(now // BUCKET_SECONDS)
        bucket = self._buckets[number % BUCKETS]
        if bucket.start != number:
            bucket.reset(number)
        bucket.counts[_CLASS_INDEX[kind]] += 1
        self.totals[kind] += 1
        self.last_seen = now
        if kind == "ok":
            # `_slot` inlined: this line runs for nearly every attempt.
            if duration is not None and duration > 0.001:
                bucket.latency[min(_TOP, int(_log2(duration * 1000.0) * 4))] += 1
            elif duration is not None:
                bucket.latency[0] += 1
            if first_token is not None and first_token > 0.001:
                bucket.ttft[min(_TOP, int(_log2(first_token * 1000.0) * 4))] += 1
            elif first_token is not None:
                bucket.ttft[0] += 1
        elif kind != "client":
            bucket.worst[outcome] = bucket.worst.get(outcome, 0) + 1
            self.last_failure = now

    def record_cut(self, now: float) -> None:
        """A stream that had committed (counted `ok`) broke later: count it as a failure."""
        bucket = self._bucket(now)
        ok = _CLASS_INDEX["ok"]
        if bucket.counts[ok] > 0:
            bucket.counts[ok] -= 1
        bucket.counts[_CLASS_INDEX["connection"]] += 1
        self.totals["connection"] += 1
        bucket.worst["cut"] = bucket.worst.get("cut", 0) + 1
        self.last_seen = self.last_failure = now

    def window(self, now: float, seconds: float) -> Window:
        newest = int(now // BUCKET_SECONDS)
        oldest = newest - max(1, int(seconds // BUCKET_SECONDS)) + 1
        counts = [0] * len(CLASSES)
        latency = [0] * _HIST
        ttft = [0] * _HIST
        outcomes: dict[str, int] = {}
        for bucket in self._buckets:
            if oldest <= bucket.start <= newest:
                for i, n in enumerate(bucket.counts):
                    counts[i] += n
                for i, n in enumerate(bucket.latency):
                    latency[i] += n
                for i, n in enumerate(bucket.ttft):
                    ttft[i] += n
                for outcome, n in bucket.worst.items():
                    outcomes[outcome] = outcomes.get(outcome, 0) + n
        return window_of(seconds, dict(zip(CLASSES, counts, strict=True)), outcomes, latency, ttft)


def merge(windows: list[Window]) -> Window:
    """One window from the same window of several processes: counts add up, and the
    percentiles are those of the summed histograms."""
    if len(windows) == 1:
        return windows[0]
    counts: dict[str, int] = {}
    outcomes: dict[str, int] = {}
    latency = [0] * _HIST
    ttft = [0] * _HIST
    for window in windows:
        for name, n in window.counts.items():
            counts[name] = counts.get(name, 0) + n
        for outcome, n in window.outcomes.items():
            outcomes[outcome] = outcomes.get(outcome, 0) + n
        for i, n in enumerate(window.latency_histogram[:_HIST]):
            latency[i] += n
        for i, n in enumerate(window.ttft_histogram[:_HIST]):
            ttft[i] += n
    return window_of(windows[0].seconds, counts, outcomes, latency, ttft)


def window_of(
    seconds: float,
    counts: dict[str, int],
    outcomes: dict[str, int],
    latency: list[int],
    ttft: list[int],
) -> Window:
    """A window from its counts and histograms (another process's, read from the store)."""
    return Window(
        seconds=seconds,
        counts={name: counts.get(name, 0) for name in CLASSES},
        outcomes=outcomes,
        latency_p50_ms=_percentile(latency, 0.5),
        latency_p95_ms=_percentile(latency, 0.95),
        ttft_p50_ms=_percentile(ttft, 0.5),
        ttft_p95_ms=_percentile(ttft, 0.95),
        latency_histogram=tuple(latency),
        ttft_histogram=tuple(ttft),
    )


def _percentile(histogram: list[int], q: float) -> float | None:
    total = sum(histogram)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for slot, n in enumerate(histogram):
        seen += n
        if seen >= rank:
            return round(_slot_value(slot), 1)
    return round(_slot_value(len(histogram) - 1), 1)


class PassiveHealth:
    """Every target's stats, keyed by `provider/model`."""

    def __init__(self) -> None:
        self.targets: dict[str, TargetStats] = {}

    def stats(self, key: str) -> TargetStats:
        found = self.targets.get(key)
        if found is None:
            found = self.targets[key] = TargetStats()
        return found

    def record(
        self,
        key: str,
        now: float,
        outcome: str,
        duration: float | None = None,
        first_token: float | None = None,
    ) -> None:
        self.stats(key).record(now, outcome, duration, first_token)

    def window(self, key: str, now: float, name: str) -> Window:
        return self.stats(key).window(now, WINDOWS[name])
