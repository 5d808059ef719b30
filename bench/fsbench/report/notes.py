"""Observations worth a look, found in the numbers and the gateway log; they never fail
the run, because on a shared machine a noisy phase is not a broken gateway."""

from __future__ import annotations

from typing import Any

from fsbench.settings import is_direct

SECTIONS_WITH_ROWS = (
    "fixed_rate",
    "throughput",
    "length",
    "streaming",
    "relay",
    "failover",
    "outage",
    "compare",
)


def observations(results: dict[str, Any], gateway_log: dict[str, Any]) -> list[str]:
    """Things worth a look, found in the numbers (never a failure)."""
    notes: list[str] = []
    max_other = results["meta"].get("noise", {}).get("max_other_pct", 15.0)
    for section in SECTIONS_WITH_ROWS:
        # the streaming sections' per-round rows, where each re-run and noise happened
        for row in results.get(f"{section}_rounds") or results.get(section, []):
            label = f"{section} " + " ".join(
                f"{k}={row[k]}"
                for k in (
                    "round",
                    "phase",
                    "rate",
                    "connections",
                    "dialect",
                    "streams",
                    "test",
                    "rev",
                    "path",
                )
                if k in row
            )
            if row.get("error_count"):
                notes.append(f"{label}: {row['error_count']} errors {row['errors']}")
            if row.get("reconnects"):
                notes.append(
                    f"{label}: the load generator had to reconnect {row['reconnects']} times"
                )
            cpu = row.get("cpu", {})
            side = cpu.get("side_core_busy_pct")
            if (
                side is not None
                and side > 90
                and not is_direct(row.get("path", ""))
                and section != "fixed_rate"
            ):
                notes.append(
                    f"{label}: load-generator core {side:.0f}% busy: "
                    "the client side may limit this figure"
                )
            other = cpu.get("other_cpu_pct")
            if other is not None and other > max_other:
                notes.append(f"{label}: {other:.0f}% of a core used by other processes (noise)")
            if cpu.get("steal_pct", 0) > 5:
                notes.append(f"{label}: {cpu['steal_pct']:.0f}% CPU steal (noise)")
            lat = row.get("latency_us", {})
            if lat.get("max", 0) > 50_000 and lat["max"] > 50 * lat.get("p50", 0):
                notes.append(
                    f"{label}: slowest answer took {lat['max'] / 1000:.0f} ms "
                    f"(p50 {lat['p50'] / 1000:.1f} ms): a stall"
                )
            if row.get("late_ticks", 0) > 0.01 * row.get("ok", 0):
                notes.append(
                    f"{label}: {row['late_ticks']} scheduled sends were late (timer behind)"
                )
    for section in ("throughput", "failover"):
        for row in results[section]:
            if is_direct(row["path"]):
                continue
            cpu = row.get("cpu", {})
            new_tw = cpu.get("tcp_end", {}).get("time_wait_sim", 0) - cpu.get("tcp_start", {}).get(
                "time_wait_sim", 0
            )
            if new_tw > 50:
                label = row.get("test") or f"c{row.get('connections')}"
                notes.append(
                    f"{section} {label} {row['path']}: {new_tw} new TIME_WAIT sockets on the "
                    "simulator port during the window (upstream connection churn)"
                )
    if gateway_log.get("warnings") or gateway_log.get("errors"):
        notes.append(
            f"gateway log: {gateway_log['warnings']} warnings, {gateway_log['errors']} errors, "
            f"{gateway_log['tracebacks']} tracebacks (see gateway_log in the JSON)"
        )
    return notes
