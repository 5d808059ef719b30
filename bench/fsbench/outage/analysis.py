"""From what the callers saw, what the simulator logged and what the gateway wrote to its
log, to the figures of the outage report. Times are seconds from t=0, the moment the
scenario clock and the load's schedule started; a caller's request belongs to the second
(and phase) in which it was *scheduled*, an upstream attempt to the one in which it
*arrived* at the simulator."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any

from fsbench.loadgen.tally import percentiles
from fsbench.outage.exchange import Exchange
from fsbench.outage.plan import BACKUP, PRIMARY, PROVIDER, Plan

PRIMARY_LABEL = f"{PROVIDER}/{PRIMARY}"
PHASES = ("before", "during", "after")
SKIPS = ("open", "budget", "busy", "skipped", "deadline")
"""Trail outcomes that record a target passed over without an upstream attempt."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One request the simulator logged."""

    t: float
    model: str
    outcome: str
    stream: bool


@dataclass(frozen=True, slots=True)
class Observed:
    plan: Plan
    exchanges: list[Exchange]
    t0_ns: int
    wall0: float
    """Wall-clock seconds at t=0."""
    sim_records: list[dict[str, Any]]
    sim_stats: dict[str, Any]
    gateway_log: list[str]


def _t(ns: int, t0_ns: int) -> float:
    return (ns - t0_ns) / 1e9


def _pct(part: int, whole: int) -> float | None:
    return 100.0 * part / whole if whole else None


def _ms(stats: dict[str, float]) -> dict[str, float]:
    """percentiles() in µs -> p50/p99/max in ms."""
    return {k: round(stats[k] / 1000.0, 3) for k in ("p50", "p99", "max") if k in stats}


def analyse(obs: Observed) -> dict[str, Any]:
    plan, t0 = obs.plan, obs.t0_ns
    sched = {e.index: _t(e.t_sched, t0) for e in obs.exchanges}
    phase_of = {e.index: plan.phase(sched[e.index]) for e in obs.exchanges}
    attempts = [
        Attempt(r["time"] - obs.wall0, r["model"], r["outcome"], bool(r.get("stream")))
        for r in obs.sim_records
    ]
    return {
        "requests": len(obs.exchanges),
        "success": _success(obs.exchanges, phase_of),
        "latency_ms": _latency(obs.exchanges, phase_of),
        "amplification": _amplification(obs, attempts, phase_of),
        "primary_outage": _primary_outage(plan, attempts),
        "failover": _failover(obs, sched, phase_of),
        "recovery": _recovery(obs, sched),
        "alignment": _alignment(plan, attempts),
        "trails": _trails(obs.exchanges),
        "timeline": _timeline(obs, sched, attempts),
        "gateway_log": _gateway_log(obs),
    }


def _success(exchanges: list[Exchange], phase_of: dict[int, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("overall", *PHASES):
        chosen = [e for e in exchanges if name == "overall" or phase_of[e.index] == name]
        ok = sum(1 for e in chosen if e.error is None)
        errors = Counter(e.error for e in chosen if e.error is not None)
        out[name] = {
            "requests": len(chosen),
            "ok": ok,
            "failed": len(chosen) - ok,
            "pct": _pct(ok, len(chosen)),
            "errors": dict(errors),
            "streaming": {
                "requests": sum(1 for e in chosen if e.stream),
                "failed": sum(1 for e in chosen if e.stream and e.error is not None),
            },
        }
    return out


def _latency(exchanges: list[Exchange], phase_of: dict[int, str]) -> dict[str, Any]:
    """Successful requests only, from the moment the request was written."""
    out: dict[str, Any] = {}
    for name in PHASES:
        ok = [e for e in exchanges if phase_of[e.index] == name and e.error is None]
        plain = [e.t_done - e.t_send for e in ok if not e.stream]
        streams = [e for e in ok if e.stream]
        out[name] = {
            "plain": _ms(percentiles(plain)) | {"n": len(plain)},
            "stream_first_content": _ms(
                percentiles([e.t_first_content - e.t_send for e in streams if e.t_first_content])
            )
            | {"n": len(streams)},
            "stream_end": _ms(percentiles([e.t_done - e.t_send for e in streams])),
            "plain_from_schedule": _ms(
                percentiles([e.t_done - e.t_sched for e in ok if not e.stream])
            ),
        }
    return out


def _amplification(
    obs: Observed, attempts: list[Attempt], phase_of: dict[int, str]
) -> dict[str, Any]:
    plan = obs.plan
    total = int(obs.sim_stats.get("attempts", len(attempts)))
    requests = len(obs.exchanges)
    during_requests = sum(1 for e in obs.exchanges if phase_of[e.index] == "during")
    during_attempts = sum(1 for a in attempts if plan.outage_start <= a.t < plan.outage_end)
    header_sum = sum(e.upstream_attempts for e in obs.exchanges)
    return {
        "overall": total / requests if requests else None,
        "outage": during_attempts / during_requests if during_requests else None,
        "upstream_attempts": total,
        "upstream_attempts_logged": len(attempts),
        "upstream_attempts_outage": during_attempts,
        "client_requests": requests,
        "client_requests_outage": during_requests,
        "attempts_header_sum": header_sum,
        "by_model": obs.sim_stats.get("models", {}),
    }


def _primary_outage(plan: Plan, attempts: list[Attempt]) -> dict[str, Any]:
    hits = [
        a for a in attempts if a.model == PRIMARY and plan.outage_start <= a.t < plan.outage_end
    ]
    return {
        "count": len(hits),
        "outcomes": dict(Counter(a.outcome for a in hits)),
        "times": [round(a.t, 3) for a in hits],
    }


def _answered_at(e: Exchange, t0: int) -> float | None:
    return _t(e.t_head, t0) if e.t_head else None


def _describe(e: Exchange, sched: dict[int, float], t0: int) -> dict[str, Any]:
    return {
        "index": e.index,
        "scheduled_t": round(sched[e.index], 4),
        "answered_t": round(_t(e.t_head, t0), 4) if e.t_head else None,
        "stream": e.stream,
        "trail": e.headers.get("x-failsoft-trail"),
        "error": e.error,
    }


def _failover(obs: Observed, sched: dict[int, float], phase_of: dict[int, str]) -> dict[str, Any]:
    plan, t0 = obs.plan, obs.t0_ns
    by_backup = [e for e in obs.exchanges if e.model == BACKUP and e.t_head]
    early = [e for e in by_backup if _t(e.t_head, t0) < plan.outage_start]
    late = sorted(
        (e for e in by_backup if _t(e.t_head, t0) >= plan.outage_start), key=lambda e: e.t_head
    )
    first = late[0] if late else None
    outage = [e for e in obs.exchanges if phase_of[e.index] == "during"]
    first_sent = next((e for e in outage if e.model == BACKUP), None)
    saw_529 = [e for e in obs.exchanges if (PRIMARY_LABEL, "529") in e.trail]
    skipped = Counter(
        outcome
        for e in obs.exchanges
        for target, outcome in e.trail
        if target == PRIMARY_LABEL and outcome in ("open", "budget", "busy")
    )
    return {
        "time_to_failover_s": _t(first.t_head, t0) - plan.outage_start if first else None,
        "first_backup_answer": _describe(first, sched, t0) if first else None,
        "first_request_failed_over": _describe(first_sent, sched, t0) if first_sent else None,
        "outage_requests_not_by_backup": sum(1 for e in outage if e.model != BACKUP),
        "backup_answers_before_outage": len(early),
        "saw_failed_primary": len(saw_529),
        "saw_failed_primary_by_phase": dict(Counter(phase_of[e.index] for e in saw_529)),
        "saw_failed_primary_times": [round(sched[e.index], 3) for e in saw_529][:40],
        "primary_skips": dict(skipped),
    }


def _recovery(obs: Observed, sched: dict[int, float]) -> dict[str, Any]:
    plan, t0 = obs.plan, obs.t0_ns
    back = sorted(
        (
            e
            for e in obs.exchanges
            if e.model == PRIMARY and e.t_head and _t(e.t_head, t0) >= plan.outage_end
        ),
        key=lambda e: e.t_head,
    )
    if not back:
        return {"back_on_primary_s": None, "first_primary_answer": None}
    first = back[0]
    # From then on: requests sent after that answer arrived (the breaker had closed).
    since = _t(first.t_head, t0)
    later = [e for e in obs.exchanges if sched[e.index] >= since and e.error is None]
    still_backup = [e for e in later if e.model == BACKUP]
    last_backup = max(
        (_t(e.t_head, t0) for e in obs.exchanges if e.model == BACKUP and e.t_head),
        default=None,
    )
    return {
        "back_on_primary_s": _t(first.t_head, t0) - plan.outage_end,
        "first_primary_answer": _describe(first, sched, t0),
        "answered_after": len(later),
        "still_backup": len(still_backup),
        "still_backup_pct": _pct(len(still_backup), len(later)),
        "last_backup_answer_t": round(last_backup, 3) if last_backup is not None else None,
    }


def _trails(exchanges: list[Exchange]) -> dict[str, Any]:
    """The trails seen, and whether `x-failsoft-attempts` counts the real upstream attempts
    (trail entries that are not skips)."""
    patterns: Counter[str] = Counter()
    mismatched: Counter[str] = Counter()
    for e in exchanges:
        raw = e.headers.get("x-failsoft-trail", "(none)")
        header = e.headers.get("x-failsoft-attempts", "-")
        patterns[raw] += 1
        real = sum(1 for _, outcome in e.trail if outcome not in SKIPS)
        if e.headers and header != str(real):
            mismatched[f"{raw} -> x-failsoft-attempts: {header} (real attempts: {real})"] += 1
    return {
        "patterns": dict(patterns.most_common(12)),
        "attempts_header_mismatches": sum(mismatched.values()),
        "attempts_header_examples": dict(mismatched.most_common(5)),
    }


def _alignment(plan: Plan, attempts: list[Attempt]) -> dict[str, Any]:
    """The simulator's 529s should fall exactly inside the outage, and its primary 200s
    outside: a check that t=0 here is t=0 on the scenario clock."""
    primary = [a for a in attempts if a.model == PRIMARY]
    f529 = [a.t for a in primary if a.outcome == "529"]
    inside = [a.t for a in primary if plan.outage_start <= a.t < plan.outage_end]
    return {
        "first_529_t": round(min(f529), 4) if f529 else None,
        "last_529_t": round(max(f529), 4) if f529 else None,
        "529_outside_outage": sum(1 for t in f529 if not plan.outage_start <= t < plan.outage_end),
        "200_inside_outage": sum(
            1 for a in primary if a.outcome == "200" and plan.outage_start <= a.t < plan.outage_end
        ),
        "primary_attempts_inside": len(inside),
    }


def _timeline(
    obs: Observed, sched: dict[int, float], attempts: list[Attempt]
) -> list[dict[str, Any]]:
    plan = obs.plan
    seconds = int(plan.duration)
    rows: list[dict[str, Any]] = [
        {
            "t": s,
            "phase": plan.phase(s + 0.5),
            "requests": 0,
            "primary": 0,
            "backup": 0,
            "errors": 0,
            "saw_529": 0,
            "skipped_open": 0,
            "primary_attempts": 0,
            "primary_529": 0,
            "backup_attempts": 0,
            "latencies": [],
        }
        for s in range(seconds)
    ]
    for e in obs.exchanges:
        s = int(sched[e.index])
        if not 0 <= s < seconds:
            continue
        row = rows[s]
        row["requests"] += 1
        if e.error is not None:
            row["errors"] += 1
        elif e.model == PRIMARY:
            row["primary"] += 1
        elif e.model == BACKUP:
            row["backup"] += 1
        trail = e.trail
        if (PRIMARY_LABEL, "529") in trail:
            row["saw_529"] += 1
        if (PRIMARY_LABEL, "open") in trail:
            row["skipped_open"] += 1
        if e.error is None:
            row["latencies"].append(e.t_done - e.t_send)
    for a in attempts:
        s = int(a.t) if a.t >= 0 else -1
        if not 0 <= s < seconds:
            continue
        row = rows[s]
        if a.model == PRIMARY:
            row["primary_attempts"] += 1
            row["primary_529"] += a.outcome == "529"
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


def _gateway_log(obs: Observed) -> dict[str, Any]:
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
    """Every caller request, for `--requests` (times in seconds from t=0)."""

    def t(ns: int) -> float | None:
        return round(_t(ns, obs.t0_ns), 5) if ns else None

    return [
        {
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
        for e in obs.exchanges
    ]
