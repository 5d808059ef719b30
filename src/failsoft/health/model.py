"""From observations to one state per provider×model, with hysteresis.

Three signals meet here: failsoft's own traffic (and its probes, which feed the same
windows), the target's circuit breaker, and what the provider's status page declares.
Own observations win whenever there are enough of them, because they are what callers
actually get; the provider's word fills in when traffic is too thin to say anything.

States get worse at once (a window needs `min_requests` attempts before it counts, which
already keeps one failure from looking like an outage) and better only after the better
state has held for `recover_after` seconds, so a recovering model does not flap between
states on every evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

from failsoft.config import HealthConfig
from failsoft.health.types import SEVERITY, State
from failsoft.health.windows import Window


@dataclass(frozen=True)
class Observation:
    """What is known about one target at one evaluation."""

    minute: Window
    five: Window
    breaker: str
    """`closed`, `open` or `half_open`."""
    declared: State | None = None
    maintenance: bool = False


def observed_state(obs: Observation, config: HealthConfig) -> tuple[State, float | None]:
    """The state the evidence supports now, and the error rate it was judged on (None
    when no window had enough attempts)."""
    if obs.maintenance:
        return "under_maintenance", None
    window = None
    if obs.minute.requests >= config.min_requests:
        window = obs.minute
    elif obs.five.requests >= config.min_requests:
        window = obs.five
    state: State = "operational"
    rate: float | None = None
    if window is not None:
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
    if obs.breaker == "open" and SEVERITY[state] < SEVERITY["partial_outage"]:
        # Traffic is kept away from it: something failed badly enough to stop trying.
        state = "partial_outage"
    return state, rate


class StateTracker:
    """One component's shown state, moving by the hysteresis rule."""

    __slots__ = ("_better", "_better_since", "since", "state")

    def __init__(self, state: State = "operational", since: float = 0.0) -> None:
        self.state: State = state
        self.since = since
        self._better: State | None = None
        self._better_since = 0.0

    def update(self, candidate: State, now: float, recover_after: float) -> bool:
        """Move toward `candidate`; True when the shown state changed."""
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
        if now - self._better_since >= recover_after:
            self._set(candidate, now)
            return True
        return False

    def _set(self, state: State, now: float) -> None:
        self.state = state
        self.since = now
        self._better = None
