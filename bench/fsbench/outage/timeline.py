"""The outage run second by second, the gateway's own log lines stamped in seconds from t=0,
and (for `--requests`) every caller request: the raw material a reader checks the summary
figures against. A request belongs to the second in which it was *scheduled*, an upstream
attempt to the one in which it *arrived* at the simulator."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fsbench.loadgen.tally import percentiles
from fsbench.outage.observed import (
    PRIMARY_LABEL,
    Attempt,
    Observed,
    exact,
    primary_failures,
    seconds,
)
from fsbench.outage.plan import BACKUP, PRIMARY


def per_second(
    obs: Observed, sched: dict[int, float], attempts: list[Attempt]
) -> list[dict[str, Any]]:
    plan = obs.plan
    answer = plan.answer
    outcome = plan.kind.outcome
    count = int(plan.duration)
    rows: list[dict[str, Any]] = [
        {
            "t": s,
            "phase": plan.phase(s + 0.5),
            "requests": 0,
            "primary": 0,
            "backup": 0,
            "errors": 0,
            "saw_fault": 0,
            "skipped_open": 0,
            "resumed": 0,
            "exact": 0,
            "primary_attempts": 0,
            "primary_faulted": 0,
            "backup_attempts": 0,
            "latencies": [],
        }
        for s in range(count)
    ]
    for e in obs.exchanges:
        s = int(sched[e.index])
        if not 0 <= s < count:
            continue
        row = rows[s]
        row["requests"] += 1
        if e.error is not None:
            row["errors"] += 1
        elif e.model == PRIMARY:
            row["primary"] += 1
        elif e.model == BACKUP:
            row["backup"] += 1
        if primary_failures(e):
            row["saw_fault"] += 1
        if (PRIMARY_LABEL, "open") in e.trail:
            row["skipped_open"] += 1
        row["resumed"] += bool(e.notes)
        row["exact"] += exact(e, answer)
        if e.error is None:
            row["latencies"].append(e.t_done - e.t_send)
    for a in attempts:
        s = int(a.t) if a.t >= 0 else -1
        if not 0 <= s < count:
            continue
        row = rows[s]
        if a.model == PRIMARY:
            row["primary_attempts"] += 1
            row["primary_faulted"] += a.outcome == outcome
        elif a.model == BACKUP:
            row["backup_attempts"] += 1
    for row in rows:
        stats = percentiles(row.pop("latencies"))
        row["p50_ms"] = round(stats["p50"] / 1000.0, 2) if stats else None
        row["max_ms"] = round(stats["max"] / 1000.0, 2) if stats else None
    return rows


def _log_time(line: str, wall0: float) -> float | None:
    """`2026-11-23 16:13:00,123 WARNING ...` (local time) -> seconds from t=0."""
    try:
        stamp = dt.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
    except ValueError:
        return None
    return stamp.timestamp() - wall0


def gateway_log(obs: Observed) -> dict[str, Any]:
    lines = obs.gateway_log
    interesting = []
    for line in lines:
        if (
            " WARNING " in line
            or " ERROR " in line
            or " CRITICAL " in line
            or "breaker" in line
            or line.startswith("Traceback")
        ):
            t = _log_time(line, obs.wall0)
            interesting.append({"t": round(t, 3) if t is not None else None, "line": line})
    return {
        "lines": len(lines),
        "warnings": sum(1 for line in lines if " WARNING " in line),
        "errors": sum(1 for line in lines if " ERROR " in line or " CRITICAL " in line),
        "tracebacks": sum(1 for line in lines if line.startswith("Traceback")),
        "notable": interesting[:200],
    }


def request_rows(obs: Observed) -> list[dict[str, Any]]:
    """Every caller request, for `--requests` (times in seconds from t=0; with a fixed
    answer, whether it was exact, the text when it was not, and the gateway's notes)."""
    answer = obs.plan.answer

    def t(ns: int) -> float | None:
        return round(seconds(ns, obs.t0_ns), 5) if ns else None

    rows = []
    for e in obs.exchanges:
        row: dict[str, Any] = {
            "index": e.index,
            "stream": e.stream,
            "scheduled": t(e.t_sched),
            "sent": t(e.t_send),
            "headers": t(e.t_head),
            "first_content": t(e.t_first_content),
            "done": t(e.t_done),
            "status": e.status,
            "model": e.model,
            "trail": e.headers.get("x-failsoft-trail"),
            "attempts_header": e.headers.get("x-failsoft-attempts"),
            "error": e.error,
        }
        if e.notes:
            row["notes"] = e.notes
        if answer is not None:
            row["exact"] = exact(e, answer)
            if not row["exact"]:
                row["text"] = e.answer
        rows.append(row)
    return rows
