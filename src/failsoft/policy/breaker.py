"""Circuit breakers, one per target (provider × model).

    CLOSED ──(N failures in a row, or an error rate over a window, or a Retry-After,
    │          or a spent quota)──▶ OPEN ──(open period over, on time)──▶ HALF_OPEN
    │                                ▲                                        │
    └───(a probe or trial succeeds)──┼────────────────────────────────────────┘
                                     └──(a probe or trial fails: open period doubles)

"N failures in a row" follows the order attempts *began*, an attempt in flight or one
that succeeded breaking the row (policy/streak.py says why the order they end does not
do). At volume (`min_requests` attempts in the window) the error rate governs: a row must
also be one that chance would produce less than once in a billion attempts at the
window's failure share: 7 for a target failing 5 % of requests, 15 at 25 %, N for one
that was healthy and starts failing everything.

While open, requests skip the target without an attempt. The open period ends on time,
on a timer, whether or not anything asks (the state people see must not say "open" long
after it stopped being so). Half-open admits one probe at a time; the probe's slot is
released on every way out (success, failure, a caller's fault, cancellation), so a lost
probe can never wedge a target shut. Meanwhile up to N requests with no other target
left are let through as trials rather than refused (`last_resort`): refusing one fails
its caller for certain, letting it through only if the target is still down. The first
trial or probe to fail reopens the breaker, the first to succeed closes it. Open periods
honour the provider's Retry-After and grow on repeated failures, up to a cap.

A probe that is streamed closes the breaker at its first content (a long answer must not
hold traffic off a recovered target), but only on probation: if that same answer then
breaks, the probe counts as failed after all and the breaker reopens for twice as long.
Otherwise a target that cuts every stream after its first tokens would pass every probe.

A request that a provider told to come back after a short Retry-After may wait for it and
retry the same target (`hold`): the breaker that Retry-After opened lets that retry
through, though it refuses everyone else meanwhile.
"""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from failsoft.clock import Clock, Timer
from failsoft.config import BreakerConfig
from failsoft.policy.streak import Streak, needed
from failsoft.policy.window import SlidingCount
from failsoft.types import Target

log = logging.getLogger("failsoft.breaker")

_TIMER_SLACK = 0.005


class State(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Admit(enum.Enum):
    ALLOW = "allow"
    """Allowed (half-open: as a trial, which must report how it ended like any attempt)."""
    PROBE = "probe"
    """Allowed as the single half-open probe; the caller must report how it ended."""
    DENY = "deny"


# The members as module names for the per-attempt paths (`admit`, `success`): on Python
# 3.11 `State.CLOSED` goes through `EnumType.__getattr__`'s slot (~850 instructions a
# look-up, four an attempt); a global is a dict read.
_CLOSED, _OPEN, _HALF_OPEN = State.CLOSED, State.OPEN, State.HALF_OPEN
_ALLOW, _PROBE, _DENY = Admit.ALLOW, Admit.PROBE, Admit.DENY


@dataclass(frozen=True, slots=True)
class BreakerChange:
    target: Target
    state: State
    previous: State
    reason: str
    open_for: float | None = None
    """Seconds until the next probe may go (when opening)."""
    followed: bool = False
    """The change was another process's, followed here (failsoft.fleet): the process that
    made it tells the webhooks, so a fleet sends one message per change, not one each."""


class Breaker:
    __slots__ = (
        "_clock",
        "_config",
        "_elsewhere",
        "_failures",
        "_following",
        "_half_opened",
        "_notify",
        "_open_for",
        "_probation",
        "_probe",
        "_streak",
        "_successes",
        "_timer",
        "_trials",
        "_until",
        "_waiting",
        "state",
        "target",
    )

    def __init__(
        self,
        target: Target,
        config: BreakerConfig,
        clock: Clock,
        notify: Callable[[BreakerChange], None],
    ) -> None:
        self.target = target
        self.state = State.CLOSED
        self._config = config
        self._clock = clock
        self._notify = notify
        self._streak = Streak()
        self._successes = SlidingCount(clock, config.window)
        self._failures = SlidingCount(clock, config.window)
        self._open_for = config.open_for
        self._until = 0.0
        self._probe = False
        self._probation = False
        self._elsewhere = False
        self._following = False
        """Half-open, but the probe is another process's (or not yet known to be ours):
        see `defer_probe`."""
        self._waiting = 0
        self._half_opened = math.inf
        self._trials = 0
        """Last-resort trials let through in this half-open period and not yet ended."""
        self._timer: Timer | None = None

    def reconfigure(self, config: BreakerConfig) -> None:
        """Take new settings (a config reload) and keep the state: an open breaker stays
        open until its current period ends. A new `window` starts its counts afresh (the
        old buckets measured another span)."""
        if config.window != self._config.window:
            self._successes = SlidingCount(self._clock, config.window)
            self._failures = SlidingCount(self._clock, config.window)
        self._open_for = min(self._open_for, config.max_open_for)
        self._config = config

    # ------------------------------------------------------------------ asking

    def admit(self, held: float | None = None, last_resort: bool = False) -> Admit:
        """Whether an attempt may go now. `held` is the open period's end (`hold`'s
        answer) for a request that waited out a Retry-After: it is let through unless the
        breaker has since been reopened for longer, and need not be the probe. A
        `last_resort` request (no other target can take it) is let through half-open
        beside the probe, as a trial, while fewer than `failures` trials are out: a
        target still down costs no more attempts than it takes to open a closed breaker
        (and callers no more than a wait for their failure, e.g. a timeout)."""
        if held is not None:
            self._waiting = max(0, self._waiting - 1)
        if self.state is _CLOSED:
            self._streak.began(self._clock.monotonic())
            return _ALLOW
        if self.state is _OPEN:
            # A wake-up on an event loop timer may come a millisecond early: no matter.
            early = self._clock.monotonic() < self._until - _TIMER_SLACK
            if early and (held is None or self._until > held + _TIMER_SLACK):
                return _DENY
            self._half_open()
        if self._probe or self._elsewhere:
            if held is not None:
                return _ALLOW
            if not last_resort or self._trials >= self._config.failures:
                return _DENY
            self._trials += 1
            return _ALLOW
        self._probe = True
        return _PROBE

    def hold(self, limit: int) -> float | None:
        """Reserve a retry after a Retry-After wait, if fewer than `limit` requests are
        waiting on this target already; the value to pass back to `admit` (None: too
        many are waiting, move on)."""
        if self._waiting >= limit:
            return None
        self._waiting += 1
        return self._until

    def unhold(self) -> None:
        """A reserved retry that will not be made after all."""
        self._waiting = max(0, self._waiting - 1)

    @property
    def waiting(self) -> int:
        return self._waiting

    @property
    def probing(self) -> bool:
        """A half-open probe is in flight (everyone else skips the target meanwhile, but
        for requests with nowhere else to go)."""
        return (self._probe or self._elsewhere) and self.state is State.HALF_OPEN

    def reopens_in(self) -> float:
        """Seconds until the target may take a request again (0 when it may now)."""
        if self.state is State.OPEN:
            return max(0.0, self._until - self._clock.monotonic())
        return 0.0

    # ------------------------------------------------------------------ reporting

    def success(self, probe: bool = False, started: float | None = None) -> None:
        """An attempt that began at `started` (None: now) succeeded. It breaks the rows
        of failures that began after it only (see policy/streak.py)."""
        at = self._clock.monotonic() if started is None else started
        self._successes.add()
        if probe or (self.state is _HALF_OPEN and at >= self._half_opened):
            if probe:
                self._probe = False
            self._probation = False
            self._open_for = self._config.open_for
            self._set(_CLOSED, "probe succeeded" if probe else "a trial succeeded")
        elif self.state is _CLOSED:
            self._streak.succeeded(at)

    def settle_probe(self) -> None:
        """The probe produced its first content: close now, on probation until its answer
        is complete (`end_probation`)."""
        self._probe = False
        self._probation = True
        self._set(State.CLOSED, "probe answered")

    def end_probation(self, ok: bool, retry_after: float | None = None) -> None:
        """The settled probe's answer ended: complete (`ok`), or broken, which makes it a
        failed probe after all: reopen for twice as long."""
        if not self._probation:
            if not ok:
                self.failure(retry_after=retry_after)
            return
        self._probation = False
        if ok:
            if self.state is State.CLOSED:
                self._open_for = self._config.open_for
            return
        self._failures.add()
        self._open_for = min(self._open_for * 2, self._config.max_open_for)
        self._open(self._open_for, "the probe's answer broke", retry_after)

    @property
    def on_probation(self) -> bool:
        return self._probation

    def failure(
        self,
        probe: bool = False,
        retry_after: float | None = None,
        quota: bool = False,
        credentials: bool = False,
        started: float | None = None,
    ) -> None:
        """An attempt that began at `started` (None: now) failed. A spent `quota` or
        rejected `credentials` stay so until a person acts: the breaker opens for
        `quota_open_for` (again after a probe that meets the same refusal, and in place
        of a shorter open period)."""
        config = self._config
        self._failures.add()
        if quota or credentials:
            if probe:
                self._probe = False
            elif self.reopens_in() > config.max_open_for:
                return  # open for long already (requests that were in flight meanwhile)
            why = (
                "the provider rejected failsoft's credentials"
                if credentials
                else "quota or spend limit exhausted"
            )
            self._open(config.quota_open_for, why, retry_after)
            return
        at = self._clock.monotonic() if started is None else started
        if probe:
            self._probe = False
        if self.state is State.HALF_OPEN:
            if probe or at >= self._half_opened:  # (else from before it opened: old news)
                self._open_for = min(self._open_for * 2, config.max_open_for)
                why = "probe failed" if probe else "a trial failed"
                self._open(self._open_for, why, retry_after)
            return
        if self.state is not State.CLOSED:
            return  # an attempt admitted before the breaker opened: nothing new to learn
        if retry_after is not None and retry_after > 0:
            self._open(self._open_for, f"provider asked to wait {retry_after:g}s", retry_after)
            return
        self._judge(self._streak.failed(at))

    def _judge(self, row: int, why: str = "") -> bool:
        """Open if the row of failures just grown to `row`, or the error rate, says so
        (True: it opened)."""
        config = self._config
        recent = self._streak.failures  # (the trouble since the latest success: not base)
        before = self._failures.total() - recent
        if row >= needed(config, before, before + self._successes.total()):
            self._open(self._open_for, f"{row} consecutive failures{why}")
            return True
        failed = self._failures.total()
        seen = failed + self._successes.total()
        if seen >= config.min_requests and failed / seen >= config.error_rate:
            self._open(
                self._open_for,
                f"{failed / seen:.0%} of {seen:.0f} attempts failed in {config.window:g}s{why}",
            )
            return True
        return False

    # ------------------------------------------------------------------ the fleet
    # Other processes sharing state (failsoft.fleet) report what they saw; nothing here
    # waits for them, and a process that hears nothing behaves as alone.

    def seen_elsewhere(self, failed: list[float], succeeded: int, latest_good: float) -> None:
        """Attempts of other processes: `failed` began at these times (this clock), and
        `succeeded` others did, the latest at `latest_good`. They count toward the row and
        the error rate as if made here (closed only: the rest travels as state changes)."""
        if self.state is not State.CLOSED:
            return
        if succeeded:
            self._successes.add(succeeded)
            self._streak.succeeded(latest_good)
        for at in sorted(failed):
            self._failures.add()
            row = self._streak.observed(at)
            if row and self._judge(row, " (counting other gateways')"):
                return

    def opened_elsewhere(self, seconds: float, open_for: float, reason: str) -> bool:
        """Another process opened this breaker, for `seconds` more (its open period
        `open_for`): open here too, unless open for longer already."""
        seconds = min(seconds, self._config.quota_open_for)  # (never longer than we would)
        now = self._clock.monotonic()
        if self.state is State.OPEN and self._until >= now + seconds - _TIMER_SLACK:
            return False
        self._open_for = min(max(self._open_for, open_for), self._config.max_open_for)
        self._following = True
        try:
            self._open(seconds, reason)
        finally:
            self._following = False
        return True

    def closed_elsewhere(self, reason: str) -> bool:
        """Another process's probe or trial succeeded: close here too."""
        if self.state is State.CLOSED:
            return False
        self._probation = False
        self._open_for = self._config.open_for
        self._following = True
        try:
            self._set(State.CLOSED, reason)
        finally:
            self._following = False
        return True

    def defer_probe(self) -> None:
        """Half-open, but the fleet's one probe is not (yet) this process's: refuse it here
        (as while a probe is in flight) until `allow_probe`, or until the state changes."""
        if self.state is State.HALF_OPEN:
            self._elsewhere = True

    def allow_probe(self) -> None:
        """This process may probe after all (it won the claim, or the fleet is away)."""
        self._elsewhere = False

    @property
    def deferred(self) -> bool:
        return self._elsewhere and self.state is State.HALF_OPEN

    def trip(self, reason: str) -> None:
        """Open now for a reason seen outside single attempts (a silent target)."""
        if self.state is State.CLOSED:
            self._open(self._open_for, reason)

    def release(self, probe: bool, started: float | None = None) -> None:
        """The attempt that began at `started` ended without a verdict on the target
        (cancelled, caller's fault); None: one given back before it began."""
        if probe:
            self._probe = False
        elif self.state is State.CLOSED:
            self._streak.released(started)
        elif self.state is State.HALF_OPEN and (started is None or started >= self._half_opened):
            self._trials = max(0, self._trials - 1)

    def force(self, state: State, seconds: float | None = None) -> None:
        """Set the state by hand (an operator, or a test)."""
        if state is State.OPEN:
            self._open(seconds or self._config.max_open_for, "forced open")
        elif state is State.HALF_OPEN:
            self._probe = False
            self._probation = False
            self._half_open("forced")
        else:
            self._probe = False
            self._probation = False
            self._open_for = self._config.open_for
            self._set(state, "forced")

    def close(self) -> None:
        """Stop the open period's timer (the breaker is being thrown away)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # ------------------------------------------------------------------ internals

    def _open(
        self,
        seconds: float,
        reason: str,
        retry_after: float | None = None,
        quota: bool = False,
    ) -> None:
        if retry_after is not None and retry_after > seconds:
            # The provider said when to come back; never sooner (capped like a quota).
            seconds = min(retry_after, self._config.quota_open_for)
        self._until = self._clock.monotonic() + seconds
        self._set(State.OPEN, reason, seconds)
        self._timer = self._clock.call_later(seconds, self._due)

    def _due(self) -> None:
        """The open period's timer: half-open now, even if nothing asks."""
        self._timer = None
        if self.state is not State.OPEN:
            return
        left = self._until - self._clock.monotonic()
        if left > _TIMER_SLACK:  # (a loop's timer may fire a little early)
            self._timer = self._clock.call_later(left, self._due)
            return
        self._half_open()

    def _half_open(self, reason: str = "open period over; the next request probes") -> None:
        self._half_opened = self._clock.monotonic()
        self._set(State.HALF_OPEN, reason)

    def _set(self, state: State, reason: str, open_for: float | None = None) -> None:
        previous = self.state
        self.state = state
        self._trials = 0
        self._elsewhere = False
        self.close()
        if state is State.CLOSED:
            self._streak.clear(self._clock.monotonic())
            self._failures.clear()
            self._successes.clear()
        if state is previous and state is not State.OPEN:
            return
        change = BreakerChange(self.target, state, previous, reason, open_for, self._following)
        if state is State.OPEN:
            log.warning(
                "breaker for %s opened for %.1fs: %s", self.target.label, open_for or 0, reason
            )
        elif state is State.CLOSED:
            log.info("breaker for %s closed: %s", self.target.label, reason)
        self._notify(change)


class Breakers:
    """The breakers of every target, created on first use."""

    def __init__(
        self, config: BreakerConfig, clock: Clock, notify: Callable[[BreakerChange], None]
    ) -> None:
        self._config = config
        self._clock = clock
        self._notify = notify
        self._breakers: dict[Target, Breaker] = {}

    def __getitem__(self, target: Target) -> Breaker:
        breaker = self._breakers.get(target)
        if breaker is None:
            breaker = self._breakers[target] = Breaker(
                target, self._config, self._clock, self._notify
            )
        return breaker

    def get(self, target: Target) -> Breaker | None:
        """The target's breaker if it has one (never creates it)."""
        return self._breakers.get(target)

    def __iter__(self) -> Iterator[Breaker]:
        return iter(list(self._breakers.values()))

    def close(self) -> None:
        """Stop every breaker's timer (they are being replaced)."""
        for breaker in self._breakers.values():
            breaker.close()

    def reconfigure(self, config: BreakerConfig) -> None:
        """New settings (a config reload) for every breaker, each keeping its state."""
        self._config = config
        for breaker in self._breakers.values():
            breaker.reconfigure(config)
