"""Retry budgets on a fake clock."""

from __future__ import annotations

from failsoft.clock import FakeClock
from failsoft.config import Budget
from failsoft.policy.budget import RetryBudget


def test_floor_then_a_share_of_successes() -> None:
    clock = FakeClock()
    budget = RetryBudget(Budget(ratio=0.1, min_per_second=0.5, window=10.0), clock)
    # With no successes, the floor allows 0.5/s × 10 s = 5 extra attempts.
    assert [budget.try_spend() for _ in range(6)] == [True] * 5 + [False]
    for _ in range(100):
        budget.record_success()
    # 10 % of 100 successes = 10 more.
    assert sum(budget.try_spend() for _ in range(20)) == 10
    clock.advance(11)  # everything leaves the window
    assert sum(budget.try_spend() for _ in range(20)) == 5


def test_zero_budget_refuses_every_extra_attempt() -> None:
    budget = RetryBudget(Budget(ratio=0.0, min_per_second=0.0), FakeClock())
    for _ in range(50):
        budget.record_success()
    assert not budget.try_spend()
