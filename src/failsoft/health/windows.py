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
_CLIENT = _CLASS_INDEX["client"]
_FAILING = tuple(_CLASS_INDEX[c] for c in FAILURES)
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
    """Ten seconds of one target: counts by class, failures by outcome, and the latency
    histograms (allocated with the first success: most buckets of a failing or quiet
    target never need them)."""

    __slots__ = ("counts", "latency", "start", "ttft", "worst")

    def __init__(self, start: int) -> None:
        self.start = start
        self.counts = [0] * len(CLASSES)
        self.latency: list[int] | None = None
        self.ttft: list[int] | None = None
        self.worst: dict[str, int] = {}


def _add(
    bucket: _Bucket, latency: list[int], ttft: list[int], outcomes: dict[str, int]
) -> tuple[list[int], list[int]]:
    """`bucket`'s histograms added to `latency` and `ttft` (new lists; the given ones may be
    a running total's, never changed here), and its failures added to `outcomes` in place."""
    if bucket.latency is not None:
        latency = [a + b for a, b in zip(latency, bucket.latency, strict=True)]
    if bucket.ttft is not None:
        ttft = [a + b for a, b in zip(ttft, bucket.ttft, strict=True)]
    for outcome, n in bucket.worst.items():
        outcomes[outcome] = outcomes.get(outcome, 0) + n
    return latency, ttft


class _Sum:
    """Running totals over the last `length` buckets but the newest: a bucket is added in
    once it is complete (the next one started, or a read came later) and taken out as it
    ages out, so reading a window costs the same whatever the traffic (rendering /metrics
    for hundreds of targets used to add up an hour of buckets for each), and recording
    an attempt touches its bucket only."""

    __slots__ = ("counts", "latency", "length", "tail", "ttft", "worst")

    def __init__(self, length: int) -> None:
        self.length = length
        self.tail = -1
        """The number of the oldest bucket still counted in."""
        self.counts = [0] * len(CLASSES)
        self.latency = [0] * _HIST
        self.ttft = [0] * _HIST
        self.worst: dict[str, int] = {}

    def clear(self) -> None:
        self.counts = [0] * len(CLASSES)
        self.latency = [0] * _HIST
        self.ttft = [0] * _HIST
        self.worst = {}

    def add(self, bucket: _Bucket) -> None:
        self.counts = [a + b for a, b in zip(self.counts, bucket.counts, strict=True)]
        if bucket.latency is not None:
            self.latency = [a + b for a, b in zip(self.latency, bucket.latency, strict=True)]
        if bucket.ttft is not None:
            self.ttft = [a + b for a, b in zip(self.ttft, bucket.ttft, strict=True)]
        worst = self.worst
        for outcome, n in bucket.worst.items():
            worst[outcome] = worst.get(outcome, 0) + n

    def drop(self, bucket: _Bucket) -> None:
        self.counts = [a - b for a, b in zip(self.counts, bucket.counts, strict=True)]
        if bucket.latency is not None:
            self.latency = [a - b for a, b in zip(self.latency, bucket.latency, strict=True)]
        if bucket.ttft is not None:
            self.ttft = [a - b for a, b in zip(self.ttft, bucket.ttft, strict=True)]
        worst = self.worst
        for outcome, n in bucket.worst.items():
            left = worst.get(outcome, 0) - n
            if left > 0:
                worst[outcome] = left
            else:
                worst.pop(outcome, None)


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
    """One target's ring of buckets, and running totals for the 1 min, 5 min and 1 h
    windows."""

    __slots__ = (
        "_buckets",
        "_current",
        "_folded",
        "_sums",
        "last_failure",
        "last_seen",
        "totals",
    )

    def __init__(self) -> None:
        self._buckets: list[_Bucket | None] = [None] * BUCKETS
        self._current: _Bucket | None = None
        self._folded = False
        """Whether `_current` is in the running totals already (a read came after it)."""
        lengths = {max(1, int(seconds // BUCKET_SECONDS)) for seconds in WINDOWS.values()}
        self._sums = {length: _Sum(length) for length in sorted(lengths)}
        self.last_seen: float | None = None
        self.last_failure: float | None = None
        """When the last failed attempt ended: how long failures stay evidence runs from
        here (`failsoft.health.model`)."""
        self.totals: dict[str, int] = dict.fromkeys(CLASSES, 0)
        """Running totals since start, for monotonic metrics counters (a stream that broke
        after it committed counts once as `ok` and once as `connection`)."""

    def _bucket(self, now: float) -> _Bucket:
        number = int(now // BUCKET_SECONDS)
        current = self._current
        if current is not None and number <= current.start:
            return current  # (a reading from before the newest bucket counts in it)
        self._advance(number)
        bucket = self._buckets[number % BUCKETS] = self._current = _Bucket(number)
        self._folded = False
        return bucket

    def _advance(self, newest: int) -> None:
        """Time is at bucket `newest`: the current bucket, if older, goes into the running
        totals, and each total lets go of the buckets older than its window."""
        current = self._current
        if current is not None and not self._folded and current.start < newest:
            for total in self._sums.values():
                if current.start >= total.tail:
                    total.add(current)
            self._folded = True
        buckets = self._buckets
        for total in self._sums.values():
            first = newest - total.length + 1
            if total.tail >= first:
                continue
            if first - total.tail >= total.length:
                total.clear()  # everything it held is out of the window
            else:
                for number in range(total.tail, first):
                    bucket = buckets[number % BUCKETS]
                    if bucket is not None and bucket.start == number:
                        total.drop(bucket)
            total.tail = first

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
        bucket = self._current
        if bucket is None or number > bucket.start:
            bucket = self._bucket(now)
        bucket.counts[_CLASS_INDEX[kind]] += 1
        self.totals[kind] += 1
        self.last_seen = now
        if kind == "ok":
            # `_slot` inlined: these lines run for nearly every attempt.
            if duration is not None:
                if bucket.latency is None:
                    bucket.latency = [0] * _HIST
                if duration > 0.001:
                    bucket.latency[min(_TOP, int(_log2(duration * 1000.0) * 4))] += 1
                else:
                    bucket.latency[0] += 1
            if first_token is not None:
                if bucket.ttft is None:
                    bucket.ttft = [0] * _HIST
                if first_token > 0.001:
                    bucket.ttft[min(_TOP, int(_log2(first_token * 1000.0) * 4))] += 1
                else:
                    bucket.ttft[0] += 1
        elif kind != "client":
            bucket.worst[outcome] = bucket.worst.get(outcome, 0) + 1
            self.last_failure = now

    def record_cut(self, now: float) -> None:
        """A stream that had committed (counted `ok`) broke later: count it as a failure."""
        bucket = self._bucket(now)
        if self._folded:  # (only when the clock went back: keep the totals exact anyway)
            self._folded = False
            for total in self._sums.values():
                if bucket.start >= total.tail:
                    total.drop(bucket)
        ok = _CLASS_INDEX["ok"]
        if bucket.counts[ok] > 0:
            bucket.counts[ok] -= 1
        bucket.counts[_CLASS_INDEX["connection"]] += 1
        self.totals["connection"] += 1
        bucket.worst["cut"] = bucket.worst.get("cut", 0) + 1
        self.last_seen = self.last_failure = now

    def _total(self, now: float, seconds: float) -> tuple[list[int], _Sum | None, _Bucket | None]:
        """For a running window: its total, and the current bucket when it is not in it."""
        newest = int(now // BUCKET_SECONDS)
        total = self._sums.get(max(1, int(seconds // BUCKET_SECONDS)))
        if total is None:
            return [], None, None
        self._advance(newest)
        current = self._current
        if current is None or self._folded or not total.tail <= current.start <= newest:
            return total.counts, total, None
        counts = [a + b for a, b in zip(total.counts, current.counts, strict=True)]
        return counts, total, current

    def error_rate(self, now: float, seconds: float) -> float:
        """`window(now, seconds).error_rate` without the percentiles."""
        counts, total, _ = self._total(now, seconds)
        if total is None:
            return self.window(now, seconds).error_rate
        requests = sum(counts) - counts[_CLIENT]
        return sum(counts[i] for i in _FAILING) / requests if requests > 0 else 0.0

    def window(self, now: float, seconds: float) -> Window:
        counts_list, total, current = self._total(now, seconds)
        if total is not None:
            latency, ttft, outcomes = total.latency, total.ttft, dict(total.worst)
            if current is not None:
                latency, ttft = _add(current, latency, ttft, outcomes)
            counts = dict(zip(CLASSES, counts_list, strict=True))
            return window_of(seconds, counts, outcomes, latency, ttft)
        # Another span (a probe's interval): add up its buckets.
        newest = int(now // BUCKET_SECONDS)
        length = max(1, int(seconds // BUCKET_SECONDS))
        counts_list = [0] * len(CLASSES)
        latency = [0] * _HIST
        ttft = [0] * _HIST
        outcomes = {}
        for number in range(max(newest - length, newest - BUCKETS) + 1, newest + 1):
            bucket = self._buckets[number % BUCKETS]
            if bucket is None or bucket.start != number:
                continue
            counts_list = [a + b for a, b in zip(counts_list, bucket.counts, strict=True)]
            latency, ttft = _add(bucket, latency, ttft, outcomes)
        counts = dict(zip(CLASSES, counts_list, strict=True))
        return window_of(seconds, counts, outcomes, latency, ttft)


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
    latency_p50, latency_p95 = _percentiles(latency)
    ttft_p50, ttft_p95 = _percentiles(ttft)
    return Window(
        seconds=seconds,
        counts={name: counts.get(name, 0) for name in CLASSES},
        outcomes=outcomes,
        latency_p50_ms=latency_p50,
        latency_p95_ms=latency_p95,
        ttft_p50_ms=ttft_p50,
        ttft_p95_ms=ttft_p95,
        latency_histogram=tuple(latency),
        ttft_histogram=tuple(ttft),
    )


_VALUES = tuple(round(_slot_value(slot), 1) for slot in range(_HIST))


def _percentiles(histogram: list[int]) -> tuple[float | None, float | None]:
    """The median and the 95th percentile, in one pass (read for every component of every
    scrape)."""
    total = sum(histogram)
    if total == 0:
        return None, None
    last = min(len(histogram), _HIST) - 1
    rank50, rank95 = 0.5 * total, 0.95 * total
    p50: float | None = None
    seen = 0
    for slot, n in enumerate(histogram):
        if not n:
            continue
        seen += n
        if p50 is None and seen >= rank50:
            p50 = _VALUES[min(slot, last)]
        if seen >= rank95:
            return p50, _VALUES[min(slot, last)]
    top = _VALUES[last]
    return (top if p50 is None else p50), top


class PassiveHealth:
    """Every target's stats, keyed by `provider/model`."""

    def __init__(self) -> None:
        self.targets: dict[str, TargetStats] = {}

    def stats(self, key: str) -> TargetStats:
        found = self.targets.get(key)
        if found is None:
            found = self.targets[key] = TargetStats()
        return found

    def forget(self, key: str) -> None:
        self.targets.pop(key, None)

    def record(
        self,
        key: str,
        now: float,
        outcome: str,
        duration: float | None = None,
        first_token: float | None = None,
    ) -> None:
        self.stats(key).record(now, outcome, duration, first_token)

    def error_rate(self, key: str, now: float, name: str) -> float:
        return self.stats(key).error_rate(now, WINDOWS[name])

    def window(self, key: str, now: float, name: str) -> Window:
        return self.stats(key).window(now, WINDOWS[name])
