"""The budget check: a key that spent its budget for the period gets 429 until it resets.

Called once per proxied request after the key check (server/app.py), only for keys with a
`budget`: a dict read and a sum over at most a month of days. The answer is in the caller's
dialect (OpenAI `insufficient_quota`/`budget_exceeded`, Anthropic `rate_limit_error`,
Gemini `RESOURCE_EXHAUSTED`) with `x-should-retry: false`, which the SDKs obey (asking
again cannot help before the period resets), and `Retry-After`, the seconds until it does.
"""

from __future__ import annotations

import math

from failsoft.auth.check import refuse
from failsoft.auth.keys import Caller
from failsoft.errors import BudgetExceeded
from failsoft.server.asgi import Send
from failsoft.types import Dialect
from failsoft.usage.ledger import Ledger, until_reset


def over_budget(ledger: Ledger, caller: Caller, wall: float) -> float | None:
    """Seconds until `caller`'s budget period resets if it is spent, else None."""
    limits = caller.limits
    budget = limits.budget
    if budget is None:
        return None
    period = limits.budget_period
    if ledger.spent(caller.name, period) < budget:
        return None
    return until_reset(wall, period)


def exceeded(caller: Caller) -> BudgetExceeded:
    limits = caller.limits
    per = "today (UTC)" if limits.budget_period == "day" else "this month (UTC)"
    return BudgetExceeded(
        f"failsoft: this API key has spent its budget of ${limits.budget:g} {per}; "
        "it resets at the start of the next period"
    )


async def refuse_budget(send: Send, dialect: Dialect, exc: BudgetExceeded, wait: float) -> None:
    """The 429 of a spent budget: not to be retried before `Retry-After` (the period's end)."""
    await refuse(send, dialect, exc, [(b"retry-after", str(math.ceil(wait)).encode())])
