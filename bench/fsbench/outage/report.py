"""The printed outage report: targets first, then what the callers saw per phase (and with
a fixed answer, whether they got it word for word), what went upstream, how fast the
gateway moved away from the primary and back, the gateway's own account of it (its breaker
log lines), and the second-by-second timeline; with `--fault all`, a summary of the targets
of every kind at the end."""

from __future__ import annotations

from typing import Any

from fsbench.outage.faults import KINDS
from fsbench.outage.plan import BACKUP, PRIMARY, Plan, targets
from fsbench.report.tables import number, table


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} %"


def _s(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f} s"


def _pair(stats: dict[str, Any]) -> str:
    if "p50" not in stats:
        return "-"
    return f"{stats['p50']:.2f} / {stats['p99']:.2f}"


def _value(row: dict[str, Any]) -> str:
    value = row["value"]
    if value is None:
        return "not reached"
    if row["unit"] == "%":
        return f"{value:.3f} %"
    if row["unit"] == "x":
        return f"{value:.4f}"
    if row["unit"] == "s":
        return f"{value:.2f} s"
    return str(value)


def _limit(row: dict[str, Any]) -> str:
    sign = "≥" if row["higher_is_better"] else "≤"
    unit = {"%": " %", "x": "", "s": " s", "": ""}[row["unit"]]
    return f"{sign} {row['limit']:g}{unit}"


def render(results: dict[str, Any]) -> str:
    meta, r = results["meta"], results["results"]
    plan = meta["plan"]
    start, end = plan["outage_start"], plan["outage_end"]
    kind = KINDS[plan["fault"]]
    shape = "all streaming" if plan["streams_only"] else "every other request streaming"
    out: list[str] = []
    out.append(
        f"failsoft outage benchmark, --fault {kind.name}: {plan['duration']:g} s at "
        f"{plan['rate']:g} req/s (open loop, {shape}), virtual model gpt = "
        f"[{PRIMARY}, {BACKUP}]; the simulator {kind.headline.format(primary=PRIMARY)} from "
        f"t={start:g} s to t={end:g} s"
    )
    if plan["answer"] is not None:
        out.append(
            f"both models answer the same fixed {len(plan['answer'].split())}-word text; asked "
            "to continue a broken answer, the backup repeats its last sentences first"
        )
    out.append(f"pinning: {meta['pinning']['note']}")
    out.append("gateway config: default resilience settings; resolved by check-config:")
    out.extend(f"    {line}" for line in meta["resolved_policies"])
    out.append("")

    out.append("Targets")
    out.append(
        table(
            ["target", "limit", "measured", "verdict"],
            [
                [
                    t["label"].replace("the outage", f"the {end - start:g} s outage"),
                    _limit(t),
                    _value(t),
                    t["verdict"],
                ]
                for t in results["targets"]
            ],
        )
    )
    out.append("")

    out.append("Callers (latency of successful requests in ms, p50 / p99, from the send)")
    rows = []
    spans = {"before": f"0-{start:g} s", "during": f"{start:g}-{end:g} s"}
    spans["after"] = f"{end:g}-{plan['duration']:g} s"
    for phase in ("before", "during", "after", "overall"):
        s = r["success"][phase]
        lat = r["latency_ms"].get(phase, {})
        rows.append(
            [
                phase + (f" ({spans[phase]})" if phase in spans else ""),
                str(s["requests"]),
                str(s["failed"]),
                _pct(s["pct"]),
                _pair(lat.get("plain", {})),
                _pair(lat.get("stream_first_content", {})),
                _pair(lat.get("stream_end", {})),
            ]
        )
    out.append(
        table(
            [
                "phase",
                "requests",
                "failed",
                "success",
                "plain: complete",
                "stream: 1st content",
                "stream: end",
            ],
            rows,
        )
    )
    errors = r["success"]["overall"]["errors"]
    if errors:
        out.append("caller errors: " + ", ".join(f"{k}: {v}" for k, v in errors.items()))
    out.append(
        "complete answer from the schedule, all requests (p50 / p99 / max ms): "
        + "; ".join(
            f"{phase} {_triple(r['latency_ms'][phase].get('complete_from_schedule', {}))}"
            for phase in ("before", "during", "after")
        )
    )
    out.append("")
    if r.get("answers"):
        out.extend(_answers(r["answers"]))

    amp, prim = r["amplification"], r["primary_outage"]
    out.append("Upstream")
    out.append(
        f"  amplification: {number(amp['overall'], 4)} overall ({amp['upstream_attempts']} "
        f"upstream attempts / {amp['client_requests']} requests); "
        f"{number(amp['outage'], 4)} during the outage ({amp['upstream_attempts_outage']} / "
        f"{amp['client_requests_outage']})"
    )
    by_model = ", ".join(
        f"{m}: {v['attempts']} ({', '.join(f'{o}: {n}' for o, n in v['outcomes'].items())})"
        for m, v in amp["by_model"].items()
    )
    out.append(f"  attempts by model: {by_model}")
    out.append(
        f"  x-failsoft-attempts summed over all answers: {amp['attempts_header_sum']}; "
        f"simulator log records read: {amp['upstream_attempts_logged']}"
    )
    outcomes = ", ".join(f"{k}: {v}" for k, v in prim["outcomes"].items()) or "none"
    out.append(
        f"  primary attempts during the outage: {prim['count']} ({outcomes}; not streaming: "
        f"{prim['not_streaming']}, continuations: {prim['continuations']}) at t = "
        f"{', '.join(f'{t:.3f}' for t in prim['times'][:60])}"
        + (f", ... ({len(prim['times']) - 60} more)" if len(prim["times"]) > 60 else "")
    )
    trails = r["trails"]
    out.append("  trails (x-failsoft-trail -> requests):")
    out.extend(f"    {n:>6}  {pattern}" for pattern, n in trails["patterns"].items())
    if trails["attempts_header_mismatches"]:
        out.append(
            f"  x-failsoft-attempts differs from the real attempts in the trail (skips are not "
            f"attempts) on {trails['attempts_header_mismatches']} answers:"
        )
        out.extend(f"    {n:>6}  {what}" for what, n in trails["attempts_header_examples"].items())
    out.append("")

    fo, rec = r["failover"], r["recovery"]
    out.append("Failing over")
    first = fo["first_backup_answer"]
    if first:
        out.append(
            f"  first answer by the backup at t={first['answered_t']:.4f} s: "
            f"{_ms(fo['time_to_failover_s'])} after the outage began (request "
            f"#{first['index']}, {'stream' if first['stream'] else 'plain'}, "
            f"trail {first['trail']})"
        )
    else:
        out.append("  no request was answered by the backup")
    sent = fo["first_request_failed_over"]
    if sent:
        out.append(
            f"  first request of the outage answered by the backup: #{sent['index']}, "
            f"scheduled at t={sent['scheduled_t']:.3f} s, answered at t={sent['answered_t']:.4f}"
            f" s; requests scheduled during the outage not answered by the backup: "
            f"{fo['outage_requests_not_by_backup']}"
        )
    by_phase = ", ".join(f"{k}: {v}" for k, v in fo["saw_failed_primary_by_phase"].items())
    seen = ", ".join(f"{PRIMARY}:{k} x{v}" for k, v in fo["saw_failed_primary_outcomes"].items())
    times = ", ".join(f"{t:.2f}" for t in fo["saw_failed_primary_times"])
    out.append(
        f"  requests that saw a failed primary attempt in their trail ({seen or 'none'}): "
        f"{fo['saw_failed_primary']} ({by_phase or 'none'})"
        + (f"; scheduled at t = {times}" if times else "")
    )
    resumed = fo["resumed"]
    if resumed["count"]:
        phases = ", ".join(f"{k}: {v}" for k, v in resumed["by_phase"].items())
        out.append(
            f"  streams the gateway resumed (its ': failsoft' comment in the stream; their "
            f"headers named {PRIMARY}): {resumed['count']} ({phases}), scheduled from "
            f"t={resumed['first_scheduled_t']:.3f} to t={resumed['last_scheduled_t']:.3f} s"
        )
        out.extend(f"    {n:>6}  {note}" for note, n in resumed["notes"].items())
    skips = ", ".join(f"{k}: {v}" for k, v in fo["primary_skips"].items()) or "none"
    out.append(f"  requests that skipped the primary without an attempt: {skips}")
    if fo["backup_answers_before_outage"]:
        out.append(f"  backup answers before the outage: {fo['backup_answers_before_outage']}")
    out.append("Coming back")
    back = rec.get("first_primary_answer")
    if back:
        out.append(
            f"  first answer by {PRIMARY} after recovery at t={back['answered_t']:.3f} s: "
            f"{_s(rec['back_on_primary_s'], 2)} after t={end:g} s (request #{back['index']}, "
            f"trail {back['trail']})"
        )
        out.append(
            f"  requests sent after it: {rec['answered_after']} answered, {rec['still_backup']} "
            f"({_pct(rec['still_backup_pct'])}) still by the backup; last backup answer at "
            f"t={rec['last_backup_answer_t']} s"
        )
    else:
        out.append(
            f"  no request was answered by {PRIMARY} between t={end:g} s and the end of the "
            f"run (t={plan['duration']:g} s)"
        )
    al = r["alignment"]
    what = al["fault_outcome"]
    out.append(
        f"  clock check: the simulator's first {what} at t={al['first_faulted_t']}, last at "
        f"t={al['last_faulted_t']}; {what}s outside the outage: "
        f"{al['faulted_outside_outage']}, primary 200s inside it: {al['200_inside_outage']}"
    )
    out.append("")

    log = r["gateway_log"]
    out.append(
        f"Gateway log: {log['lines']} lines, {log['warnings']} warnings, {log['errors']} "
        f"errors, {log['tracebacks']} tracebacks; breaker and warning lines (t = seconds "
        "from t=0):"
    )
    for item in log["notable"][:30]:
        t = item["t"]
        stamp = f"t={t:7.3f}" if t is not None else " " * 9
        out.append(f"  {stamp}  {item['line'][24:]}")
    out.append("")

    out.append(
        "Per second (requests by scheduled send; attempts by arrival at the simulator; "
        "p50/max: latency to the complete answer, ms)"
    )
    out.append(_timeline(r["timeline"], KINDS[plan["fault"]].outcome, bool(r.get("answers"))))
    out.append("")
    out.extend(results["notes"])
    return "\n".join(out)


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def _triple(stats: dict[str, Any]) -> str:
    if "p50" not in stats:
        return "-"
    return f"{stats['p50']:.1f} / {stats['p99']:.1f} / {stats['max']:.1f}"


def _answers(a: dict[str, Any]) -> list[str]:
    """The exact-answer figures of a run with a fixed answer."""
    out = [
        f"Answers (exact: the caller's text equals the {a['words']}-word answer, in a complete "
        "response: streams end with a finish_reason and [DONE])"
    ]
    rows = []
    for phase in ("before", "during", "after", "overall"):
        p = a[phase]
        rows.append(
            [
                phase,
                str(p["requests"]),
                str(p["exact"]),
                _pct(p["pct"]),
                str(p["resumed"]),
                str(p["resumed_exact"]),
            ]
        )
    out.append(table(["phase", "requests", "exact", "exact %", "resumed", "resumed + exact"], rows))
    if a["not_exact"]:
        out.append("not exact: " + ", ".join(f"{k}: {v}" for k, v in a["not_exact"].items()))
    for example in a["examples"]:
        out.append(f"  {example['requests']:>6} x  {example['text']!r}")
    asked = ", ".join(f"{k} x{v}" for k, v in a["continuations"].items()) or "none"
    out.append(f"continuations the gateway asked the simulator for (model: outcome): {asked}")
    out.append("")
    return out


def _timeline(rows: list[dict[str, Any]], outcome: str, answers: bool) -> str:
    headers = [
        "t (s)",
        "phase",
        "req",
        "by primary",
        "by backup",
        "errors",
        f"saw {outcome}" if outcome == "529" else "saw fault",
        "skip open",
        *(["resumed", "exact"] if answers else []),
        "primary att",
        "backup att",
        "p50",
        "max",
    ]
    body = [
        [
            f"{row['t']:>3}-{row['t'] + 1:<3}",
            "OUTAGE" if row["phase"] == "during" else row["phase"],
            str(row["requests"]),
            str(row["primary"]),
            str(row["backup"]),
            str(row["errors"]),
            str(row["saw_fault"]),
            str(row["skipped_open"]),
            *([str(row["resumed"]), str(row["exact"])] if answers else []),
            f"{row['primary_attempts']}"
            + (f" ({row['primary_faulted']}x{outcome})" if row["primary_faulted"] else ""),
            str(row["backup_attempts"]),
            number(row["p50_ms"], 2),
            number(row["max_ms"], 1),
        ]
        for row in rows
    ]
    return table(headers, body)


def judge(plan: Plan, results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each of the kind's targets with its figure and PASS / MISS (a miss never fails the
    script; a figure that does not exist, e.g. no answer from the primary after the
    outage, is a MISS)."""
    during = results["latency_ms"]["during"].get("complete_from_schedule", {})
    answers = results.get("answers") or {}
    figures = {
        "success_overall": results["success"]["overall"]["pct"],
        "success_outage": results["success"]["during"]["pct"],
        "amplification_overall": results["amplification"]["overall"],
        "amplification_outage": results["amplification"]["outage"],
        "primary_attempts_outage": results["primary_outage"]["count"],
        "back_on_primary_s": results["recovery"]["back_on_primary_s"],
        "p99_outage_s": during["p99"] / 1000.0 if "p99" in during else None,
        "exact_overall": answers.get("overall", {}).get("pct"),
        "exact_outage": answers.get("during", {}).get("pct"),
    }
    out = []
    for target in targets(plan):
        value = figures[target.key]
        met = target.met(value)
        out.append(
            {
                "key": target.key,
                "label": target.label,
                "limit": target.limit,
                "higher_is_better": target.higher_is_better,
                "unit": target.unit,
                "value": value,
                "verdict": "PASS" if met else "MISS",
            }
        )
    return out


def summary(runs: list[dict[str, Any]]) -> str:
    """Every kind's targets in one table (`--fault all`)."""
    rows = []
    for results in runs:
        plan = results["meta"]["plan"]
        outage = plan["outage_end"] - plan["outage_start"]
        for t in results["targets"]:
            rows.append(
                [
                    plan["fault"],
                    t["label"].replace("the outage", f"the {outage:g} s outage"),
                    _limit(t),
                    _value(t),
                    t["verdict"],
                ]
            )
    return table(["fault", "target", "limit", "measured", "verdict"], rows)
