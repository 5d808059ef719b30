"""From observations to one state per provider×model, with hysteresis.

Three signals meet here: failsoft's own traffic (and its probes, which feed the same
windows), the target's circuit breaker, and what the provider's status page declares.
Own observations win whenever there are enough of them, because they are what callers
actually get; the provider's word fills in when traffic is too thin to say anything.

States get worse at once (a window needs `min_requests` attempts before it counts, which
already keeps one failure from looking like an outage) and better only after the better
state has held for `recover_after` seconds, so a recovering model does not flap between
states on every evaluation.

A state follows its last evidence, not the last traffic: a target that failed and then got
no more requests (its breaker keeps traffic away, or its fallback answers everything) must
not stay "down" for as long as its windows remember the failures. So failures count only
while the last of them is recent (`evidence_for`); after that, whatever the windows hold,
every attempt since has succeeded or there was none, and the candidate is operational. The
move back to operational is then dated from the last failure, the true end of the evidence,
both for the `recover_after` wait and for the history (uptime counts only time with
evidence of failure). The rules are spelled out in docs/health.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from failsoft.config import HealthConfig
from failsoft.health.types import SEVERITY, State
from failsoft.health.windows import Window

EVIDENCE_FLOOR = 1.0
"""Seconds a failure stays evidence at least (`recover_after: 0` means "recover at once",
not "a failure never counts")."""


def evidence_for(config: HealthConfig) -> float:
    """Seconds a failure stays evidence with nothing newer: `recover_after`."""
    return max(config.recover_after, EVIDENCE_FLOOR)


@dataclass(frozen=True)
class Observation:
    """What is known about one target at one evaluation."""

    minute: Window
    five: Window
    breaker: str
    """`closed`, `open` or `half_open`."""
    declared: State | None = None
    maintenance: bool = False
    failure_age: float | None = None
    """Seconds since the last failed attempt; None when not known (the windows' failures
    then count as they are, and so does an open breaker: one forced open by hand, say)."""


def observed_state(obs: Observation, config: HealthConfig) -> tuple[State, float | None]:
    """The state the evidence supports now, and the error rate it was judged on (None
    when no window had enough attempts, or when its failures are no longer evidence)."""
    if obs.maintenance:
        return "under_maintenance", None
    fresh = obs.failure_age is None or obs.failure_age < evidence_for(config)
    window = None
    if obs.minute.requests >= config.min_requests:
        window = obs.minute
    elif obs.five.requests >= config.min_requests:
        window = obs.five
    state: State = "operational"
    rate: float | None = None
    if window is not None:
        # Once the last failure is older than failures stay evidence, every attempt since
        # succeeded (or there was none): the window's failures are history, not news.
        if fresh:
            rate = window.error_rate
            if rate >= config.major:
                state = "major_outage"
            elif rate >= config.partial:
                state = "partial_outage"
            elif rate >= config.degraded:
                state = "degraded_performance"
        p95 = obs.five.latency_p95_ms
        if (
            state == "operational"
            and config.latency_p95_ms is not None
            and p95 is not None
            and p95 > config.latency_p95_ms
        ):
            state = "degraded_performance"
    elif obs.declared is not None and obs.declared != "under_maintenance":
        # Too little traffic to judge: the provider's own word is the best there is.
        state = obs.declared
    if obs.breaker == "open" and fresh and SEVERITY[state] < SEVERITY["partial_outage"]:
        # Traffic is kept away from it: something failed badly enough to stop trying. Only
        # while that failure is recent: an open breaker keeps the evidence from renewing.
        state = "partial_outage"
    return state, rate


def bad_without_failures(obs: Observation, config: HealthConfig) -> bool:
    """Whether something other than failures (the provider's word, slow answers) makes
    the candidate worse than operational: a recovery from that is not dated from the last
    failure, but from when that evidence was last seen."""
    other = observed_state(replace(obs, failure_age=math.inf), config)[0]
    return SEVERITY[other] > 0


class StateTracker:
    """One component's shown state, moving by the hysteresis rule."""

    __slots__ = ("_better", "_better_since", "since", "state")

    def __init__(self, state: State = "operational", since: float = 0.0) -> None:
        self.state: State = state
        self.since = since
        self._better: State | None = None
        self._better_since = 0.0

    def update(
        self,
        candidate: State,
        now: float,
        recover_after: float,
        last_failure: float | None = None,
    ) -> bool:
        """Move toward `candidate`; True when the shown state changed.

        `last_failure` (same clock as `now`; see `bad_without_failures`) dates a recovery to
        operational: when nothing has failed since before its first sign, the recovery
        began with the last failure, and so does the operational state it leads to
        (`since`), however sparse the evaluations or the traffic were meanwhile."""
        if candidate == self.state:
            self._better = None
            return False
        worse = SEVERITY[candidate] > SEVERITY[self.state] or (
            candidate == "under_maintenance" or self.state == "under_maintenance"
        )
        if worse:
            self._set(candidate, now)
            return True
        if self._better is None:
            self._better_since = now  # the recovery's clock starts with its first sign
        # While it lasts, the target is whatever better state the evidence shows last.
        self._better = candidate
        began, since = self._better_since, now
        if candidate == "operational" and last_failure is not None and last_failure < began:
            began, since = last_failure, max(last_failure, self.since)
        if now - began >= recover_after:
            self._set(candidate, since)
            return True
        return False

    def _set(self, state: State, now: float) -> None:
        self.state = state
        self.since = now
        self._better = None
