"""Circuit breakers, one per target (provider × model).

    CLOSED ──(N consecutive failures, or an error rate over a window, or a Retry-After,
    │          or a spent quota)──▶ OPEN ──(open period over)──▶ HALF_OPEN
    │                                ▲                                │
    └──────────(the probe succeeds)──┼────────────────────────────────┘
                                     └──(the probe fails: open period doubles)

While open, requests skip the target without an attempt. Half-open admits exactly one
probe at a time; the probe's slot is released on every way out (success, failure, a
caller's fault, cancellation), so a lost probe can never wedge a target shut. Open
periods honour the provider's Retry-After and grow on repeated failures, up to a cap.

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from failsoft.clock import Clock
from failsoft.config import BreakerConfig
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
    PROBE = "probe"
    """Allowed as the single half-open probe; the caller must report how it ended."""
    DENY = "deny"


@dataclass(frozen=True, slots=True)
class BreakerChange:
    target: Target
    state: State
    previous: State
    reason: str
    open_for: float | None = None
    """Seconds until the next probe may go (when opening)."""


class Breaker:
    __slots__ = (
        "_clock",
        "_config",
        "_consecutive",
        "_failed_at",
        "_failures",
        "_notify",
        "_open_for",
        "_probation",
        "_probe",
        "_successes",
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
        self._consecutive = 0
        self._failed_at = -1.0
        self._successes = SlidingCount(clock, config.window)
        self._failures = SlidingCount(clock, config.window)
        self._open_for = config.open_for
        self._until = 0.0
        self._probe = False
        self._probation = False
        self._waiting = 0

    # ------------------------------------------------------------------ asking

    def admit(self, held: float | None = None) -> Admit:
        """Whether an attempt may go now. `held` is the open period's end (`hold`'s
        answer) for a request that waited out a Retry-After: it is let through unless the
        breaker has since been reopened for longer, and need not be the probe."""
        if held is not None:
            self._waiting = max(0, self._waiting - 1)
        if self.state is State.CLOSED:
            return Admit.ALLOW
        if self.state is State.OPEN:
            # A wake-up on an event loop timer may come a millisecond early: no matter.
            early = self._clock.monotonic() < self._until - _TIMER_SLACK
            if early and (held is None or self._until > held + _TIMER_SLACK):
                return Admit.DENY
            self._set(State.HALF_OPEN, "open period over; next request probes")
        if self._probe:
            return Admit.DENY if held is None else Admit.ALLOW
        self._probe = True
        return Admit.PROBE

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
        """A half-open probe is in flight (everyone else skips the target meanwhile)."""
        return self._probe

    def reopens_in(self) -> float:
        """Seconds until the target may take a request again (0 when it may now)."""
        if self.state is State.OPEN:
            return max(0.0, self._until - self._clock.monotonic())
        return 0.0

    # ------------------------------------------------------------------ reporting

    def success(self, probe: bool = False, started: float | None = None) -> None:
        """An attempt succeeded. One that `started` before the latest failure says nothing
        about the target since then (with long answers, many such successes arrive after
        an outage began), so it does not reset the count of consecutive failures."""
        if started is None or started >= self._failed_at:
            self._consecutive = 0
        self._successes.add()
        if probe:
            self._probe = False
            self._probation = False
            self._open_for = self._config.open_for
            self._set(State.CLOSED, "probe succeeded")

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
        self._consecutive += 1
        self._failed_at = self._clock.monotonic()
        self._failures.add()
        self._open_for = min(self._open_for * 2, self._config.max_open_for)
        self._open(self._open_for, "the probe's answer broke", retry_after)

    @property
    def on_probation(self) -> bool:
        return self._probation

    def failure(
        self, probe: bool = False, retry_after: float | None = None, quota: bool = False
    ) -> None:
        config = self._config
        self._consecutive += 1
        self._failed_at = self._clock.monotonic()
        self._failures.add()
        if probe:
            self._probe = False
            self._open_for = min(self._open_for * 2, config.max_open_for)
            self._open(self._open_for, "probe failed", retry_after, quota)
            return
        if self.state is not State.CLOSED:
            return  # an attempt admitted before the breaker opened: nothing new to learn
        if quota:
            self._open(config.quota_open_for, "quota or spend limit exhausted", retry_after, quota)
        elif retry_after is not None and retry_after > 0:
            self._open(self._open_for, f"provider asked to wait {retry_after:g}s", retry_after)
        elif self._consecutive >= config.failures:
            self._open(self._open_for, f"{self._consecutive} consecutive failures")
        else:
            failed = self._failures.total()
            seen = failed + self._successes.total()
            if seen >= config.min_requests and failed / seen >= config.error_rate:
                self._open(
                    self._open_for,
                    f"{failed / seen:.0%} of {seen:.0f} attempts failed in {config.window:g}s",
                )

    def trip(self, reason: str) -> None:
        """Open now for a reason seen outside single attempts (a silent target)."""
        self._failed_at = self._clock.monotonic()
        if self.state is State.CLOSED:
            self._open(self._open_for, reason)

    def release(self, probe: bool) -> None:
        """The attempt ended without a verdict on the target (cancelled, caller's fault)."""
        if probe:
            self._probe = False

    def force(self, state: State, seconds: float | None = None) -> None:
        """Set the state by hand (an operator, or a test)."""
        if state is State.OPEN:
            self._open(seconds or self._config.max_open_for, "forced open")
        else:
            self._probe = False
            self._probation = False
            self._open_for = self._config.open_for
            self._set(state, "forced")

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

    def _set(self, state: State, reason: str, open_for: float | None = None) -> None:
        previous = self.state
        self.state = state
        if state is State.CLOSED:
            self._consecutive = 0
            self._failures.clear()
            self._successes.clear()
        if state is previous and state is not State.OPEN:
            return
        change = BreakerChange(self.target, state, previous, reason, open_for)
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

    def __iter__(self) -> Iterator[Breaker]:
        return iter(list(self._breakers.values()))
