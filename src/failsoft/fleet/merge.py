"""Another process's batch, merged into this one's router state.

Failures and successes count toward the breakers' rows and error rates as if seen here;
successes and extra attempts toward the retry budgets; breakers opened elsewhere open here
for what is left of their period (or longer, if ours says so); closed elsewhere close here,
unless ours opened after (fresher news). Nothing merged is published again.
"""

from __future__ import annotations

from dataclasses import dataclass

from failsoft.fleet.batch import Heard, Opened
from failsoft.router.state import RouterState
from failsoft.types import Target


@dataclass(slots=True)
class Applied:
    opened: int = 0
    closed: int = 0


def merge(state: RouterState, heard: Heard, now: float, opened_at: dict[Target, float]) -> Applied:
    """Apply `heard` to `state` (times on `state.clock`); `opened_at`: when each target's
    breaker last opened here."""
    applied = Applied()
    targets = heard.failed.keys() | heard.succeeded.keys() | heard.spent.keys()
    for target in targets:
        failed = heard.failed.get(target, [])
        count, latest = heard.succeeded.get(target, (0, -1.0))
        if failed or count:
            state.breakers[target].seen_elsewhere(failed, count, latest)
        spent = heard.spent.get(target, 0)
        if count or spent:
            state.budget(target).seen_elsewhere(count, spent)
    for target, change in heard.changes.items():
        breaker = state.breakers[target]
        if isinstance(change, Opened):
            left = change.until - now
            if left > 0 and breaker.opened_elsewhere(
                left, change.open_for, f"opened by another gateway: {change.reason}"
            ):
                applied.opened += 1
        elif opened_at.get(target, -1.0) <= change.at and breaker.closed_elsewhere(
            f"closed by another gateway: {change.reason}"
        ):
            applied.closed += 1
    return applied
