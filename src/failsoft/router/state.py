"""What the router remembers between requests, per target: breakers, retry budgets, latency,
in-flight counts. One place to report an attempt's outcome, so every policy hears about
every attempt the same way.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any, Protocol

from failsoft.clock import Clock
from failsoft.config import Config
from failsoft.events import BreakerChanged, EventHub
from failsoft.policy.breaker import Admit, Breaker, BreakerChange, Breakers, State
from failsoft.policy.budget import RetryBudget
from failsoft.policy.classify import Verdict
from failsoft.policy.first_token import FirstTokenLimits
from failsoft.policy.latency import LatencyStats, TargetLatency
from failsoft.policy.limits import Limits
from failsoft.policy.silence import SilenceWatch
from failsoft.router.counters import Counters
from failsoft.types import Target

log = logging.getLogger("failsoft.router")

MAX_TARGETS = 4096
"""Targets whose `TargetState` is kept at most (the oldest go first: each holds only
objects its policies keep anyway, so one made again finds the same)."""


class Witness(Protocol):
    """Hears about attempts to share them with other processes (failsoft.fleet); every
    method returns at once (no I/O)."""

    def succeeded(self, target: Target, started: float) -> None: ...

    def failed(self, target: Target, started: float) -> None: ...

    def spent(self, target: Target) -> None: ...


class TargetState:
    """One target's breaker, retry budget and latency figures, looked up together: a
    `Target` key's hash is a Python call, and an attempt reports to all three."""

    __slots__ = ("breaker", "budget", "current", "latency")

    def __init__(self, breaker: Breaker, budget: RetryBudget, latency: TargetLatency) -> None:
        self.breaker = breaker
        self.budget = budget
        self.latency = latency
        self.current = True
        """False once the state it was made from is gone (`reset`, new budgets): a request
        that still holds it looks the target up again."""


class RouterState:
    def __init__(
        self, config: Config, clock: Clock, hub: EventHub, rng: random.Random | None = None
    ) -> None:
        self.clock = clock
        self.hub = hub
        self.rng = rng or random.Random()
        self._breaker_config = config.breaker
        self.breakers = Breakers(config.breaker, clock, self._breaker_changed)
        self.limits = Limits(config.admission)
        self.latency = LatencyStats()
        self.first_tokens = FirstTokenLimits()
        self.silence = SilenceWatch(config.breaker.silence, clock)
        self.counters = Counters()
        self.prefill_refused: dict[Target, float] = {}
        """Targets that refused a resume's assistant prefill (with a 400), and when."""
        self._budget_config = config.policies.retry.budget
        self._budgets: dict[Target, RetryBudget] = {}
        self.demoted: frozenset[Target] = frozenset()
        """Targets to try after all others (their provider declared them down)."""
        self.opened_because: dict[Target, str] = {}
        """Why each target's breaker last opened, for the callers it turns away."""
        self.witness: Witness | None = None
        """Told of attempts when state is shared with other processes (else None: no cost)."""
        self.watchers: list[Callable[[BreakerChange], None]] = []
        """Called at every breaker change, as it happens."""
        self.hooks: Any = None
        """What every attempt's moments report to (`run._Hooks`, stateless but for this
        object): made by the first run, shared by all."""
        self._targets: dict[Target, TargetState] = {}

    def reset(self) -> None:
        """Forget everything learnt about targets (breakers closed, budgets and stats empty)."""
        self.breakers.close()
        self.breakers = Breakers(self._breaker_config, self.clock, self._breaker_changed)
        self.latency = LatencyStats()
        self.first_tokens.forget()
        self.silence.forget()
        self.counters.clear()
        self.prefill_refused.clear()
        self.opened_because.clear()
        self._budgets.clear()
        self._forget_targets()
        self.demoted = frozenset()

    def reconfigure(self, config: Config) -> None:
        """New settings (a config reload), keeping what was learnt: breakers keyed by
        target survive (a target new to the config gets a fresh one on first use; one no
        longer in it keeps its breaker, unused), and so do latency, silence and in-flight
        counts. Budgets start afresh only if their window changed."""
        self._breaker_config = config.breaker
        self.breakers.reconfigure(config.breaker)
        self.limits.reconfigure(config.admission)
        self.silence.reconfigure(config.breaker.silence)
        budget = config.policies.retry.budget
        if budget.window != self._budget_config.window:
            self._budgets.clear()
            self._forget_targets()
        else:
            for each in self._budgets.values():
                each.reconfigure(budget)
        self._budget_config = budget

    def budget(self, target: Target) -> RetryBudget:
        budget = self._budgets.get(target)
        if budget is None:
            witness = self.witness
            spent = None if witness is None else (lambda: witness.spent(target))
            budget = RetryBudget(self._budget_config, self.clock, spent)
            self._budgets[target] = budget
        return budget

    def target(self, target: Target) -> TargetState:
        """`target`'s breaker, budget and latency figures, in one lookup."""
        found = self._targets.get(target)
        if found is None:
            targets = self._targets
            if len(targets) >= MAX_TARGETS:
                del targets[next(iter(targets))]
            found = TargetState(self.breakers[target], self.budget(target), self.latency.of(target))
            targets[target] = found
        return found

    def _forget_targets(self) -> None:
        for each in self._targets.values():
            each.current = False
        self._targets.clear()

    def available(self, target: Target) -> bool:
        """Whether `target` could take a request now (without claiming a probe slot)."""
        breaker = self.breakers[target]
        return breaker.reopens_in() == 0.0 and not breaker.probing

    def admit(self, target: Target, held: float | None = None, last_resort: bool = False) -> Admit:
        return self.breakers[target].admit(held, last_resort)

    def succeeded(
        self,
        target: Target,
        probe: bool,
        first_token: float | None,
        started: float,
        settled: bool = False,
    ) -> None:
        """An attempt's answer is complete (`settled`: it was a probe that already closed
        the breaker at its first content, on probation)."""
        self.answered(self.target(target), target, probe, first_token, started, settled)

    def answered(
        self,
        found: TargetState,
        target: Target,
        probe: bool,
        first_token: float | None,
        started: float,
        settled: bool,
    ) -> None:
        """`succeeded`, for a caller that has the target's `TargetState` at hand."""
        if not found.current:
            found = self.target(target)
        breaker = found.breaker
        if settled:
            breaker.end_probation(True)
        breaker.success(probe, started)
        found.budget.record_success()
        if self.witness is not None:
            self.witness.succeeded(target, started)
        if first_token is not None:
            found.latency.observe(first_token)

    def committed(self, target: Target, first_token: float | None) -> None:
        """A stream reached its first content; its verdict comes when it ends
        (`succeeded` or `failed`), since a stream that breaks later is a failure."""
        if first_token is not None:
            self.latency.of(target).observe(first_token)

    def failed(
        self,
        target: Target,
        probe: bool,
        verdict: Verdict,
        retry_after: float | None,
        duration: float,
        started: float,
        settled: bool = False,
    ) -> None:
        breaker = self.breakers[target]
        if settled:
            # The probe closed the breaker at its first content; this failure revokes that.
            breaker.end_probation(not verdict.target_failed, retry_after)
            if verdict.target_failed:
                self.latency.penalize(target, duration)
            return
        if verdict.target_failed:
            plain = not (probe or retry_after or verdict in (Verdict.QUOTA, Verdict.CREDENTIALS))
            if plain and self.witness is not None:
                self.witness.failed(target, started)  # (the rest travels as state changes)
            breaker.failure(
                probe,
                retry_after,
                quota=verdict is Verdict.QUOTA,
                credentials=verdict is Verdict.CREDENTIALS,
                started=started,
            )
            self.latency.penalize(target, duration)
        else:
            # It answered, just not with something usable for this request: it is alive.
            breaker.success(probe, started)

    def check_silence(self, target: Target, first_byte: float) -> None:
        """Declare `target` silent if the requests waiting on it say so: they are raced
        at once, and its breaker opens so that new requests go elsewhere."""
        raced = self.silence.check(target, first_byte)
        if raced:
            after = self.silence.threshold(target, first_byte)
            reason = f"silent: {raced} requests got no response within {after:.1f}s"
            log.warning("%s is %s", target.label, reason)
            self.counters.add("silent", target)
            self.breakers[target].trip(reason)

    def released(self, target: Target, probe: bool, started: float | None = None) -> None:
        """An attempt that began at `started` ended with no verdict on its target (None:
        it was given back before it began)."""
        self.breakers[target].release(probe, started)

    def _breaker_changed(self, change: BreakerChange) -> None:
        if change.state is State.OPEN:
            self.opened_because[change.target] = change.reason
        for watcher in self.watchers:
            watcher(change)
        if self.hub.breakers:
            self.hub.emit(
                BreakerChanged(
                    change.target,
                    change.state.value,
                    change.previous.value,
                    change.reason,
                    change.open_for,
                    change.followed,
                )
            )
