"""Report tables of the non-streaming sections: fixed rates, maximum throughput, long
answers and failover, one row per path."""

from __future__ import annotations

from typing import Any

from fsbench.report.tables import (
    conns_cell,
    errors_cell,
    number,
    other_cell,
    proxy_cpu_cell,
    signed,
    table,
)
from fsbench.settings import ANSWER_TOKENS, DIRECT_STREAM, GW_AS, LONG_ANSWER_TOKENS


def fixed_rate(results: dict[str, Any], meta: dict[str, Any]) -> list[str]:
    out: list[str] = []
    d = meta["durations"]
    out.append(
        "1. Fixed rate, open loop, non-streaming OpenAI "
        f"({meta['fixed_connections']} connections, {d['fixed']:g} s after "
        f"{d['fixed_warmup']:g} s warm-up). Latency in us from the actual send; "
        "'sched' columns from the scheduled send (coordinated-omission corrected). "
        "+p50/+p99 = path minus direct, same run. direct stream = the same request with "
        "stream: true + include_usage straight to the simulator (the upstream work of gw "
        "as=on), complete at the end of the chunked body. floor = minimal pass-through proxy "
        "on the same stack (a lower bound); its 'gw CPU' columns are the floor process's."
    )
    rows = []
    for row in results["fixed_rate"]:
        lat = row.get("latency_us", {})
        sched = row.get("latency_sched_us", {})
        added = row.get("added_us", {})
        cpu = row.get("cpu", {})
        rows.append(
            [
                str(row["rate"]),
                row["path"],
                number(row["ok_per_s"]),
                errors_cell(row),
                number(lat.get("p50")),
                number(lat.get("p90")),
                number(lat.get("p99")),
                number(lat.get("p99.9")),
                number(added.get("p50")),
                number(added.get("p99")),
                number(sched.get("p50")),
                number(sched.get("p99")),
                number(row.get("gw_cpu_us_per_unit")),
                proxy_cpu_cell(row, 1),
                number(cpu.get("side_core_busy_pct")),
                other_cell(row),
            ]
        )
    out.append(
        table(
            [
                "req/s",
                "path",
                "ok/s",
                "err",
                "p50",
                "p90",
                "p99",
                "p99.9",
                "+p50",
                "+p99",
                "sched p50",
                "sched p99",
                "gw CPU us/req",
                "gw CPU %",
                "side core %",
                "other %",
            ],
            rows,
        )
    )
    out += _vs_direct_stream(results["fixed_rate"])
    out.append("")
    return out


def _vs_direct_stream(rows: list[dict[str, Any]]) -> list[str]:
    """The line under table 1: gw as=on minus direct stream, per rate."""
    parts = [
        f"{row['rate']} req/s {signed(added.get('p50'))} / {signed(added.get('p99'))} us"
        for row in rows
        if (added := row.get("added_vs_direct_stream_us"))
    ]
    if not parts:
        return []
    return [
        f"   {GW_AS} vs {DIRECT_STREAM} (the same upstream work: the simulator streams in both), "
        "+p50 / +p99: " + "; ".join(parts)
    ]


def throughput(results: dict[str, Any], meta: dict[str, Any]) -> list[str]:
    out: list[str] = []
    d = meta["durations"]
    out.append(
        f"2. Maximum throughput, closed loop, non-streaming OpenAI ({d['closed']:g} s after "
        f"{d['closed_warmup']:g} s warm-up); the process under test (gateway or floor, "
        "the other idle) alone on its core."
    )
    rows = []
    for row in results["throughput"]:
        lat = row.get("latency_us", {})
        cpu = row.get("cpu", {})
        rows.append(
            [
                f"c{row['connections']}",
                row["path"],
                number(row["ok_per_s"]),
                errors_cell(row),
                number(lat.get("p50")),
                number(lat.get("p99")),
                number(row.get("gw_cpu_us_per_unit")),
                proxy_cpu_cell(row),
                number(cpu.get("side_core_busy_pct")),
                str(row.get("reconnects", 0)),
                conns_cell(row),
                other_cell(row),
            ]
        )
    out.append(
        table(
            [
                "conns",
                "path",
                "req/s",
                "err",
                "p50 us",
                "p99 us",
                "gw CPU us/req",
                "gw CPU %",
                "side core %",
                "reconn",
                "gw->sim conns / new TIME_WAIT",
                "other %",
            ],
            rows,
        )
    )
    out.append(
        "   direct = the simulator itself sharing a core with the load generator: a baseline "
        "for latency, not a ceiling for the gateway."
    )
    out.append("")
    return out


def long_answers(results: dict[str, Any], meta: dict[str, Any]) -> list[str]:
    out: list[str] = []
    out.append(
        f"2b. Long answers: as 2, with {LONG_ANSWER_TOKENS}-token answers "
        f"({meta.get('long_response_bytes')} B JSON). With always_stream the upstream "
        "sends one SSE event per token, which the gateway parses and assembles."
    )
    rows = []
    for row in results["length"]:
        lat = row.get("latency_us", {})
        cpu = row.get("cpu", {})
        rows.append(
            [
                f"c{row['connections']}",
                row["path"],
                number(row["ok_per_s"]),
                errors_cell(row),
                number(lat.get("p50")),
                number(lat.get("p99")),
                number(row.get("gw_cpu_us_per_unit")),
                proxy_cpu_cell(row),
                number(cpu.get("side_core_busy_pct")),
                other_cell(row),
            ]
        )
    out.append(
        table(
            [
                "conns",
                "path",
                "req/s",
                "err",
                "p50 us",
                "p99 us",
                "gw CPU us/req",
                "gw CPU %",
                "side core %",
                "other %",
            ],
            rows,
        )
    )
    out += _per_token(results.get("per_token", {}))
    return out


def _per_token(figures: dict[str, Any]) -> list[str]:
    """The line under table 2b: CPU per answered token, from 2b against 2."""
    parts = [
        f"{path} {signed(f['cpu_us_per_token'], 2)} us ({number(f['cpu_us_per_req_short'])} -> "
        f"{number(f['cpu_us_per_req_long'])} us/req)"
        for path, f in figures.items()
        if f.get("cpu_us_per_token") is not None
    ]
    if not parts:
        return []
    conns = next(iter(figures.values()))["connections"]
    return [
        f"   CPU per answered token, (CPU/req at {LONG_ANSWER_TOKENS} - at {ANSWER_TOKENS} "
        f"tokens) / {LONG_ANSWER_TOKENS - ANSWER_TOKENS}, c{conns}: " + "; ".join(parts)
    ]


def outage(results: dict[str, Any]) -> list[str]:
    """Section 5b: the caller's p99 healthy and during an outage of the primary."""
    out = [
        "5b. Outage: virtual model [sim/gpt-4o-primary, sim/gpt-4o-backup] at a fixed rate, "
        "healthy, then with the primary answering 529 (after the phase's warm-up, so the "
        "gateway has seen the outage). Latency in us."
    ]
    rows = []
    for row in results["outage"]:
        lat = row.get("latency_us", {})
        attempts = row.get("attempts_header", {})
        rows.append(
            [
                row["phase"],
                row["path"],
                number(row["ok_per_s"]),
                errors_cell(row),
                number(lat.get("p50")),
                number(lat.get("p99")),
                number(lat.get("max")),
                number(row.get("gw_cpu_us_per_unit")),
                ", ".join(f"{k}:{v}" for k, v in sorted(attempts.items())) or "-",
                other_cell(row),
            ]
        )
    out.append(
        table(
            [
                "phase",
                "path",
                "ok/s",
                "err",
                "p50",
                "p99",
                "max",
                "gw CPU us/req",
                "attempts",
                "other %",
            ],
            rows,
        )
    )
    for path, o in results.get("outage_summary", {}).items():
        out.append(
            f"   {path}: p99 healthy {number(o['healthy_p99_us'])} us, during the outage "
            f"{number(o['outage_p99_us'])} us: {signed(o['added_p99_us'])} us"
        )
    out.append("")
    return out


def failover(results: dict[str, Any], meta: dict[str, Any]) -> list[str]:
    out: list[str] = []
    out.append(
        "5. Failover: the primary (gpt-4o) answers every request with 529, the gateway fails "
        "over to gpt-4o-mini; compared with sending straight to the backup."
    )
    rows = []
    for row in results["failover"]:
        lat = row.get("latency_us", {})
        added = row.get("added_us", {})
        attempts = row.get("attempts_header", {})
        rows.append(
            [
                row["test"],
                row["path"],
                number(row["ok_per_s"]),
                errors_cell(row),
                number(lat.get("p50")),
                number(lat.get("p99")),
                number(added.get("p50")),
                number(added.get("p99")),
                number(row.get("gw_cpu_us_per_unit")),
                ", ".join(f"{k}:{v}" for k, v in sorted(attempts.items())) or "-",
                conns_cell(row),
                other_cell(row),
            ]
        )
    out.append(
        table(
            [
                "test",
                "path",
                "ok/s",
                "err",
                "p50 us",
                "p99 us",
                "+p50",
                "+p99",
                "gw CPU us/req",
                "attempts",
                "gw->sim conns / new TIME_WAIT",
                "other %",
            ],
            rows,
        )
    )
    out.append("")
    return out
