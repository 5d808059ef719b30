"""From what the callers saw, what the simulator logged and what the gateway wrote to its
log, to the figures of the outage report. Times are seconds from t=0, the moment the
scenario clock and the load's schedule started; a caller's request belongs to the phase in
which it was *scheduled*, an upstream attempt to the one in which it *arrived* at the
simulator. The per-second rows and the log lines are in `timeline.py`."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fsbench.loadgen.tally import percentiles
from fsbench.outage import timeline
from fsbench.outage.exchange import Exchange
from fsbench.outage.observed import (
    PHASES,
    PRIMARY_LABEL,
    SKIPS,
    Attempt,
    Observed,
    exact,
    inexact_reason,
    pct,
    primary_failures,
    seconds,
)
from fsbench.outage.plan import BACKUP, PRIMARY, Plan


def _ms(stats: dict[str, float]) -> dict[str, float]:
    """percentiles() in µs -> p50/p99/max in ms."""
    return {k: round(stats[k] / 1000.0, 3) for k in ("p50", "p99", "max") if k in stats}


def analyse(obs: Observed) -> dict[str, Any]:
    plan, t0 = obs.plan, obs.t0_ns
    sched = {e.index: seconds(e.t_sched, t0) for e in obs.exchanges}
    phase_of = {e.index: plan.phase(sched[e.index]) for e in obs.exchanges}
    attempts = obs.attempts()
    return {
        "requests": len(obs.exchanges),
        "success": _success(obs.exchanges, phase_of),
        "latency_ms": _latency(obs.exchanges, phase_of),
        "answers": _answers(obs, phase_of, attempts),
        "amplification": _amplification(obs, attempts, phase_of),
        "primary_outage": _primary_outage(plan, attempts),
        "failover": _failover(obs, sched, phase_of),
        "recovery": _recovery(obs, sched),
        "alignment": _alignment(plan, attempts),
        "trails": _trails(obs.exchanges),
        "timeline": timeline.per_second(obs, sched, attempts),
        "gateway_log": timeline.gateway_log(obs),
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
            "pct": pct(ok, len(chosen)),
            "errors": dict(errors),
            "streaming": {
                "requests": sum(1 for e in chosen if e.stream),
                "failed": sum(1 for e in chosen if e.stream and e.error is not None),
            },
        }
    return out


def _latency(exchanges: list[Exchange], phase_of: dict[int, str]) -> dict[str, Any]:
    """Successful requests only, from the moment the request was written; and, plain and
    streams together, to the complete answer from the moment it was *scheduled*: what a
    caller waited, also if it had to wait for a connection (the `silent` p99 target)."""
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
            "complete_from_schedule": _ms(percentiles([e.t_done - e.t_sched for e in ok])),
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
    """Attempts that arrived at the primary during the outage. `not_streaming` counts those
    a stream-only fault (`cut`) cannot reach: 0 while the gateway streams every upstream
    request (always_stream, its default)."""
    hits = [
        a for a in attempts if a.model == PRIMARY and plan.outage_start <= a.t < plan.outage_end
    ]
    return {
        "count": len(hits),
        "outcomes": dict(Counter(a.outcome for a in hits)),
        "not_streaming": sum(1 for a in hits if not a.stream),
        "continuations": sum(1 for a in hits if a.continuation),
        "times": [round(a.t, 3) for a in hits],
    }


def _answered_at(e: Exchange, t0: int) -> float | None:
    return seconds(e.t_head, t0) if e.t_head else None


def _describe(e: Exchange, sched: dict[int, float], t0: int) -> dict[str, Any]:
    return {
        "index": e.index,
        "scheduled_t": round(sched[e.index], 4),
        "answered_t": round(seconds(e.t_head, t0), 4) if e.t_head else None,
        "stream": e.stream,
        "trail": e.headers.get("x-failsoft-trail"),
        "error": e.error,
    }


def _failover(obs: Observed, sched: dict[int, float], phase_of: dict[int, str]) -> dict[str, Any]:
    plan, t0 = obs.plan, obs.t0_ns
    by_backup = [e for e in obs.exchanges if e.model == BACKUP and e.t_head]
    early = [e for e in by_backup if seconds(e.t_head, t0) < plan.outage_start]
    late = sorted(
        (e for e in by_backup if seconds(e.t_head, t0) >= plan.outage_start), key=lambda e: e.t_head
    )
    first = late[0] if late else None
    outage = [e for e in obs.exchanges if phase_of[e.index] == "during"]
    first_sent = next((e for e in outage if e.model == BACKUP), None)
    saw_fault = [e for e in obs.exchanges if primary_failures(e)]
    skipped = Counter(
        outcome
        for e in obs.exchanges
        for target, outcome in e.trail
        if target == PRIMARY_LABEL and outcome in ("open", "budget", "busy")
    )
    return {
        "time_to_failover_s": seconds(first.t_head, t0) - plan.outage_start if first else None,
        "first_backup_answer": _describe(first, sched, t0) if first else None,
        "first_request_failed_over": _describe(first_sent, sched, t0) if first_sent else None,
        "outage_requests_not_by_backup": sum(1 for e in outage if e.model != BACKUP),
        "backup_answers_before_outage": len(early),
        "saw_failed_primary": len(saw_fault),
        "saw_failed_primary_outcomes": dict(
            Counter(outcome for e in saw_fault for outcome in primary_failures(e))
        ),
        "saw_failed_primary_by_phase": dict(Counter(phase_of[e.index] for e in saw_fault)),
        "saw_failed_primary_times": [round(sched[e.index], 3) for e in saw_fault][:40],
        "primary_skips": dict(skipped),
        "resumed": _resumed(obs, sched, phase_of),
    }


def _resumed(obs: Observed, sched: dict[int, float], phase_of: dict[int, str]) -> dict[str, Any]:
    """Streams the gateway resumed (its `: failsoft: ...` comment in the stream): with a
    `cut`, the failovers that the response headers cannot show, since the primary's
    headers had already gone to the caller."""
    resumed = [e for e in obs.exchanges if e.notes]
    first = min(resumed, key=lambda e: e.t_sched, default=None)
    return {
        "count": len(resumed),
        "by_phase": dict(Counter(phase_of[e.index] for e in resumed)),
        "first_scheduled_t": round(sched[first.index], 4) if first else None,
        "last_scheduled_t": round(max(sched[e.index] for e in resumed), 4) if first else None,
        "notes": dict(Counter(note for e in resumed for note in e.notes).most_common(5)),
    }


def _recovery(obs: Observed, sched: dict[int, float]) -> dict[str, Any]:
    plan, t0 = obs.plan, obs.t0_ns
    back = sorted(
        (
            e
            for e in obs.exchanges
            if e.model == PRIMARY and e.t_head and seconds(e.t_head, t0) >= plan.outage_end
        ),
        key=lambda e: e.t_head,
    )
    if not back:
        return {"back_on_primary_s": None, "first_primary_answer": None}
    first = back[0]
    # From then on: requests sent after that answer arrived (the breaker had closed).
    since = seconds(first.t_head, t0)
    later = [e for e in obs.exchanges if sched[e.index] >= since and e.error is None]
    still_backup = [e for e in later if e.model == BACKUP]
    last_backup = max(
        (seconds(e.t_head, t0) for e in obs.exchanges if e.model == BACKUP and e.t_head),
        default=None,
    )
    return {
        "back_on_primary_s": seconds(first.t_head, t0) - plan.outage_end,
        "first_primary_answer": _describe(first, sched, t0),
        "answered_after": len(later),
        "still_backup": len(still_backup),
        "still_backup_pct": pct(len(still_backup), len(later)),
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
    """The attempts the fault hit (outcome 529, hang or cut) should fall exactly inside the
    outage, and the primary's 200s outside: a check that t=0 here is t=0 on the scenario
    clock (and, for `cut`, that no upstream request escaped the stream-only fault)."""
    primary = [a for a in attempts if a.model == PRIMARY]
    outcome = plan.kind.outcome
    faulted = [a.t for a in primary if a.outcome == outcome]
    inside = [a.t for a in primary if plan.outage_start <= a.t < plan.outage_end]
    return {
        "fault_outcome": outcome,
        "first_faulted_t": round(min(faulted), 4) if faulted else None,
        "last_faulted_t": round(max(faulted), 4) if faulted else None,
        "faulted_outside_outage": sum(
            1 for t in faulted if not plan.outage_start <= t < plan.outage_end
        ),
        "200_inside_outage": sum(
            1 for a in primary if a.outcome == "200" and plan.outage_start <= a.t < plan.outage_end
        ),
        "primary_attempts_inside": len(inside),
    }


def _answers(
    obs: Observed, phase_of: dict[int, str], attempts: list[Attempt]
) -> dict[str, Any] | None:
    """With a fixed answer (`cut`): the share of callers that got it exactly, per phase,
    why the others did not, and the continuations the gateway asked the simulator for."""
    answer = obs.plan.answer
    if answer is None:
        return None
    out: dict[str, Any] = {"answer": answer, "words": len(answer.split())}
    for name in ("overall", *PHASES):
        chosen = [e for e in obs.exchanges if name == "overall" or phase_of[e.index] == name]
        right = sum(1 for e in chosen if exact(e, answer))
        resumed = [e for e in chosen if e.notes]
        out[name] = {
            "requests": len(chosen),
            "exact": right,
            "pct": pct(right, len(chosen)),
            "resumed": len(resumed),
            "resumed_exact": sum(1 for e in resumed if exact(e, answer)),
        }
    wrong = [e for e in obs.exchanges if not exact(e, answer)]
    out["not_exact"] = dict(Counter(inexact_reason(e, answer) for e in wrong))
    texts = Counter(e.answer for e in wrong if e.error is None and e.answer)
    out["examples"] = [{"text": t, "requests": n} for t, n in texts.most_common(3)]
    out["continuations"] = dict(
        Counter(f"{a.model}: {a.outcome}" for a in attempts if a.continuation)
    )
    return out
