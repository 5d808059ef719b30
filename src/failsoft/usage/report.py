"""`GET /admin/usage`: spend and tokens per key, model and day, from the store (plus what
this process has not written yet).

    ?key=NAME            one key (default: every key)
    ?since=YYYY-MM-DD    first day, UTC (default: the first of this month)
    ?until=YYYY-MM-DD    last day, inclusive (default: today)
    ?group_by=key,model,day   the columns to keep (any of key, model, day; default all):
                         rows that differ only in the others are summed
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import parse_qs

from failsoft.usage.ledger import Ledger, day_of, period_start

GROUPS = ("key", "model", "day")
MAX_DAYS = 400


class BadQuery(ValueError):
    pass


def _day(value: str, name: str) -> str:
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise BadQuery(f"{name} must be a date YYYY-MM-DD, got {value!r}") from None


async def usage_report(ledger: Ledger, query: bytes, wall: float) -> dict[str, Any]:
    params = {k: v[-1] for k, v in parse_qs(query.decode("latin-1")).items()}
    today = day_of(wall)
    since = _day(params["since"], "since") if "since" in params else period_start(today, "month")
    until = _day(params["until"], "until") if "until" in params else today
    if since > until:
        raise BadQuery("since is after until")
    if (date.fromisoformat(until) - date.fromisoformat(since)).days > MAX_DAYS:
        raise BadQuery(f"at most {MAX_DAYS} days at once")
    group = tuple(g.strip() for g in params.get("group_by", ",".join(GROUPS)).split(",") if g)
    for g in group:
        if g not in GROUPS:
            raise BadQuery(f"group_by takes {', '.join(GROUPS)}; got {g!r}")
    key = params.get("key") or None
    rows = await ledger.report(since, until, key)
    book = ledger.book
    grouped: dict[tuple[str, ...], dict[str, Any]] = {}
    total = _zero()
    for r in rows:
        ident = tuple(
            {"key": r.key, "model": f"{r.provider}/{r.model}", "day": r.day}[g] for g in group
        )
        out = grouped.get(ident)
        if out is None:
            out = grouped[ident] = {**dict(zip(group, ident, strict=True)), **_zero()}
        unpriced = book.known(r.provider, r.model) and not book.priced(r.provider, r.model)
        for acc in (out, total):
            acc["requests"] += r.requests
            acc["input_tokens"] += r.input
            acc["output_tokens"] += r.output
            acc["cached_tokens"] += r.cached
            acc["estimated_tokens"] += r.estimated
            acc["cost_usd"] += r.cost
            if unpriced:
                acc["unpriced"] = True
    for acc in (*grouped.values(), total):
        acc["cost_usd"] = round(acc["cost_usd"], 6)
    return {
        "since": since,
        "until": until,
        "key": key,
        "group_by": list(group),
        "rows": list(grouped.values()),
        "total": total,
    }


def _zero() -> dict[str, Any]:
    return {
        "requests": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "cached_tokens": 0,
        "estimated_tokens": 0,
        "cost_usd": 0.0,
        "unpriced": False,
    }
