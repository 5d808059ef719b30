"""Recognising a target that stopped answering, from the requests waiting on it.

A target that accepts connections and never answers costs each request its whole
first-byte limit if nobody looks further than that request. But a silent target shows
itself sooner in aggregate: several requests waiting well past the time it usually takes
to send its response headers, while none of its answers arrived meanwhile. Then the
target is declared silent: its breaker opens (new requests go straight to the next
target) and the requests already waiting on it are raced by the next target at once.

    threshold = clamp(factor × p95(recent times to headers), floor, first_byte)
                (cold, with fewer than 5 samples: `cold`)
    silent    = at least `waiting` requests have waited longer than threshold,
                and no response headers came from the target within the threshold

Until headers arrive from it again, a target declared silent is raced after `threshold`
rather than after its first-token limit (its probes then cost a second, not ten).

A request is only registered as waiting once it has waited `threshold` (its race's timer),
so the usual request, answered in milliseconds, costs this module one sample and nothing
else.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from failsoft.clock import Clock
from failsoft.config import Silence
from failsoft.types import Target

MAX_TARGETS = 4096
_COLD_SAMPLES = 5


_REFRESH = 8
"""Answers between recomputing the p95 (not a sort of 64 samples per request)."""


class _Watch:
    __slots__ = ("flagged", "fresh", "last_headers", "p95", "recent", "waiting")

    def __init__(self) -> None:
        self.recent: deque[float] = deque(maxlen=64)
        self.p95 = 0.0
        self.fresh = _REFRESH
        """Answers since `p95` was computed (stale from `_REFRESH` on, and always
        recomputed while there are only a few samples)."""
        self.last_headers = -1e18
        self.flagged = False
        self.waiting: dict[object, Callable[[], None]] = {}
        """Requests that have waited past the threshold for this target's headers, and how
        to race each of them now."""


class SilenceWatch:
    def __init__(self, config: Silence, clock: Clock) -> None:
        self._config = config
        self.enabled = config.enabled
        self._clock = clock
        self._targets: dict[Target, _Watch] = {}

    def reconfigure(self, config: Silence) -> None:
        """New settings (a config reload); what was heard from each target is kept."""
        self._config = config
        self.enabled = config.enabled

    def threshold(self, target: Target, first_byte: float) -> float:
        return self._threshold(self._targets.get(target), first_byte)

    def outlook(self, target: Target, first_byte: float) -> tuple[float, bool]:
        """`threshold` and `flagged` together: what a request's race needs, in one look."""
        watch = self._targets.get(target)
        return self._threshold(watch, first_byte), watch is not None and watch.flagged

    def _threshold(self, watch: _Watch | None, first_byte: float) -> float:
        config = self._config
        if watch is None or len(watch.recent) < _COLD_SAMPLES:
            return min(config.cold, first_byte)
        if watch.fresh >= _REFRESH or len(watch.recent) <= _REFRESH:
            ordered = sorted(watch.recent)
            watch.p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
            watch.fresh = 0
        return min(max(config.factor * watch.p95, config.floor), first_byte)

    def flagged(self, target: Target) -> bool:
        """Declared silent, and nothing heard from it since."""
        watch = self._targets.get(target)
        return watch is not None and watch.flagged

    def late(self, target: Target, token: object, race: Callable[[], None]) -> bool:
        """A request has waited past the threshold for `target`'s headers. True: the target
        has been declared silent already, so race it now (it is not counted as waiting);
        False: it is counted, and `check` says whether the target is silent now."""
        watch = self._get(target)
        if watch.flagged:
            return True
        watch.waiting[token] = race
        return False

    def gone(self, target: Target, token: object) -> None:
        watch = self._targets.get(target)
        if watch is not None and watch.waiting:
            watch.waiting.pop(token, None)

    def answered(self, target: Target, token: object, seconds: float, at: float) -> None:
        """Response headers came after `seconds`, at `at` (for any request, raced or not)."""
        watch = self._targets.get(target) or self._get(target)
        if watch.waiting:
            watch.waiting.pop(token, None)
        watch.recent.append(seconds)
        watch.fresh += 1
        watch.last_headers = at
        watch.flagged = False

    def check(self, target: Target, first_byte: float) -> int:
        """Declare `target` silent if the requests waiting on it say so; how many waiting
        requests were then raced (0: not silent)."""
        watch = self._targets.get(target)
        if watch is None or len(watch.waiting) < self._config.waiting:
            return 0
        threshold = self.threshold(target, first_byte)
        if self._clock.monotonic() - watch.last_headers < threshold:
            return 0
        watch.flagged = True
        racing = list(watch.waiting.values())
        watch.waiting.clear()
        for race in racing:
            race()
        return len(racing)

    def forget(self) -> None:
        self._targets.clear()

    def _get(self, target: Target) -> _Watch:
        watch = self._targets.get(target)
        if watch is None:
            if len(self._targets) >= MAX_TARGETS:
                del self._targets[next(iter(self._targets))]
            watch = self._targets[target] = _Watch()
        return watch
