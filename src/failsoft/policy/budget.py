"""Retry budgets: extra attempts into a target are a bounded share of its successes.

A retry, a hedge or a fallback into a target is extra load on it. When a provider is
failing, every request wants extra attempts at once, which is exactly when extra load hurts
most. The budget (after Finagle's and Envoy's) allows, over the last `window` seconds,
`ratio` × the target's successful answers plus `min_per_second` × `window` extra attempts;
beyond that the extra attempt is not made. Attempts that are a request's first try at a
target are never budgeted.
"""

from __future__ import annotations

from collections.abc import Callable

from failsoft.clock import Clock
from failsoft.config import Budget
from failsoft.policy.window import SlidingCount


class RetryBudget:
    __slots__ = ("_config", "_deposits", "_spent", "_withdrawals")

    def __init__(
        self, config: Budget, clock: Clock, spent: Callable[[], None] | None = None
    ) -> None:
        self._config = config
        self._spent = spent
        """Told of every extra attempt taken (the fleet shares them)."""
        self._deposits = SlidingCount(clock, config.window)
        self._withdrawals = SlidingCount(clock, config.window)

    def reconfigure(self, config: Budget) -> None:
        """New ratios (a config reload), the counts so far kept: same `window` only (the
        router starts budgets afresh when the window changes)."""
        self._config = config

    def record_success(self) -> None:
        self._deposits.add()

    def allowance(self) -> float:
        config = self._config
        return config.ratio * self._deposits.total() + config.min_per_second * config.window

    def try_spend(self) -> bool:
        """Take one extra attempt from the budget if there is room for it."""
        if self._withdrawals.total() + 1.0 > self.allowance():
            return False
        self._withdrawals.add()
        if self._spent is not None:
            self._spent()
        return True

    def refund(self) -> None:
        """Give back what `try_spend` took for an attempt that was never made (its target
        was busy at failsoft's own limit): nothing was sent, so no load was added."""
        self._withdrawals.add(-1.0)

    def seen_elsewhere(self, successes: int, spent: int) -> None:
        """Other processes' successes and extra attempts on this target: one budget for
        the fleet, rather than one per process (N processes would add N × the load)."""
        if successes:
            self._deposits.add(successes)
        if spent:
            self._withdrawals.add(spent)
