"""Failures in a row, in the order the attempts started.

A breaker's "N consecutive failures" must mean that the target failed every time it was
tried lately, and with many requests in flight neither obvious order says that:

* In the order attempts *ended*, a failure that comes back at once overtakes the answers
  that started before it: at 100 req/s with 5 % errors and 200-ms answers, a failure
  comes back every 0.2 s while the answers started between the failures are still
  coming, so failures "follow" each other although the target answers 95 % of requests.
  And in the other direction, with 1-s answers, the answers of requests that started
  before an outage keep arriving for a second after it began, between its failures: a
  count that any success resets sees the outage only once they are all in (~50 failed
  attempts at 50 req/s instead of 5).
* In the order attempts *started*, among those that ended, the first case is no better:
  the attempts between two quick failures have not answered yet.

So a row here is a run of attempts that follow each other in the order they started
(with no other attempt started between them) and that all failed; an attempt still in
flight, or one that succeeded, breaks it. An attempt that succeeded also makes every
attempt that started before it old news: their failures come later but say nothing
newer. In an outage, every attempt started since it began fails, one after the other,
and the requests still answering are from before it: the row grows by one per failure.
With random errors, a row needs that many *successive* requests to fail. The price: when
an outage's failures take long and vary (errors after seconds of work), the row waits
for its first attempts to end, where a count in end order would not; quick failures (a
529, a refused connection) and failures of similar length (timeouts) end in order.

At volume, even successive failures happen by chance (at 25 % errors, a row of 5 starts
about once in 1,400 requests), so `needed` asks for a row that chance would produce less
than once in a billion attempts at the failure share the target had before the current
trouble; a target that fails often is the error rate's to judge.

Attempts are known by when they started; a report is matched to the latest attempt in
flight that was let through no later than its start (an attempt is admitted just before
it starts): two attempts admitted almost together may swap places, which changes
nothing that matters.
"""

from __future__ import annotations

import math
from bisect import bisect_right

from failsoft.config import BreakerConfig

CHANCE = 1e-9
"""At volume, a row of failures opens the breaker only if chance would produce one that
long less often than this, per attempt, at the target's usual failure share."""
_LIMIT = 4096
"""Attempts tracked at most (in flight since the last success, or failed since then); a
report that was lost (an attempt that never said how it ended) drops out eventually."""


class Streak:
    __slots__ = ("_failed", "_good", "_starts", "failures")

    def __init__(self) -> None:
        self._starts: list[float] = []
        """When each attempt began, oldest first: those in flight or failed since `_good`."""
        self._failed: list[bool] = []
        self._good = -math.inf
        """When the latest attempt known to have succeeded began."""
        self.failures = 0
        """Failures of attempts that began after it: the trouble since the last success."""

    def began(self, at: float) -> None:
        """An attempt was let through at `at` (the clock's now: never earlier than the last)."""
        if len(self._starts) >= _LIMIT:
            self._drop(_LIMIT // 2)
        self._starts.append(at)
        self._failed.append(False)

    def failed(self, started: float) -> int:
        """The attempt that began at `started` failed: the length of the row it is in (0
        when an attempt that began later has succeeded since)."""
        if started < self._good:
            return 0
        starts, failed = self._starts, self._failed
        i = self._in_flight(started)
        if i < 0:  # not let through by `began` (reported directly): it goes where it began
            i = bisect_right(starts, started)
            starts.insert(i, started)
            failed.insert(i, True)
        else:
            failed[i] = True
        self.failures += 1
        return self._row(i)

    def observed(self, started: float) -> int:
        """Another process's attempt, which began at `started` (this clock), failed: it
        takes its place in the order attempts began but is none of ours. The row's length,
        as `failed`."""
        if started < self._good:
            return 0
        starts = self._starts
        if len(starts) >= _LIMIT:
            self._drop(_LIMIT // 2)
        i = bisect_right(starts, started)
        starts.insert(i, started)
        self._failed.insert(i, True)
        self.failures += 1
        return self._row(i)

    def _row(self, i: int) -> int:
        """Length of the run of failures around position `i`."""
        failed = self._failed
        first = i
        while first > 0 and failed[first - 1]:
            first -= 1
        last = i
        while last + 1 < len(failed) and failed[last + 1]:
            last += 1
        return last - first + 1

    def succeeded(self, started: float) -> None:
        """The attempt that began at `started` succeeded: nothing that began before it
        (itself included) is part of a row any more."""
        if started < self._good:
            return
        self._good = started
        starts = self._starts
        count = bisect_right(starts, started)
        if count:  # (`_drop`, written out: told on every answer)
            if self.failures:
                self.failures -= sum(self._failed[:count])
            del starts[:count]
            del self._failed[:count]

    def released(self, started: float | None) -> None:
        """The attempt ended with no verdict on the target (cancelled, the caller's
        fault): as if it had never been made. `started` None: the attempt let through
        last (given back before it began)."""
        if started is None:
            i = len(self._failed) - 1
            while i >= 0 and self._failed[i]:
                i -= 1
        else:
            i = self._in_flight(started)
        if i >= 0:
            del self._starts[i]
            del self._failed[i]

    def clear(self, now: float) -> None:
        """Forget every attempt that began before `now` (the breaker closed)."""
        self._starts.clear()
        self._failed.clear()
        self._good = now
        self.failures = 0

    def _drop(self, count: int) -> None:
        """Forget the `count` attempts that began first."""
        if self.failures:  # (the failures among them: none when there are none at all)
            self.failures -= sum(self._failed[:count])
        del self._starts[:count]
        del self._failed[:count]

    def _in_flight(self, started: float) -> int:
        """Index of the attempt in flight that was let through last, no later than `started`."""
        i = bisect_right(self._starts, started) - 1
        failed = self._failed
        while i >= 0 and failed[i]:
            i -= 1
        return i


def needed(config: BreakerConfig, failed: float, seen: float) -> int:
    """How long a row of failures must be to open the breaker, given `failed` of `seen`
    attempts in the window before the current trouble: `failures`, or at volume more, if
    that share makes so many in a row likely by chance (a target that often fails is the
    error rate's to judge)."""
    if seen < config.min_requests or failed <= 0:
        return config.failures
    share = failed / seen
    if share >= config.error_rate:
        return config.failures  # (the error rate opens it anyway)
    return max(config.failures, math.ceil(math.log(CHANCE) / math.log(share)))
