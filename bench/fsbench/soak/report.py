"""The soak's printed report: a row per minute (as the run goes and again at the end),
then RSS, the flatness verdict and the load actually delivered."""

from __future__ import annotations

from typing import Any


def minute_cpu(samples: list[dict[str, Any]], minute: int, bucket_s: float) -> float | None:
    """The gateway's CPU in % of one core over the samples inside that minute."""
    inside = [
        s
        for s in samples
        if minute * bucket_s <= s["t"] <= (minute + 1) * bucket_s
        and s.get("gateway_cpu_s") is not None
    ]
    if len(inside) < 2 or inside[-1]["t"] <= inside[0]["t"]:
        return None
    used: float = inside[-1]["gateway_cpu_s"] - inside[0]["gateway_cpu_s"]
    span: float = inside[-1]["t"] - inside[0]["t"]
    return 100.0 * used / span


def last_in(samples: list[dict[str, Any]], minute: int, bucket_s: float, key: str) -> Any:
    inside = [s[key] for s in samples if s["t"] <= (minute + 1) * bucket_s and s.get(key)]
    return inside[-1] if inside else None


def header(names: list[str]) -> str:
    kinds = " ".join(f"{name + ' p50/p99 ms':>24}" for name in names)
    return f"{'min':>4} {'ok/s':>8} {'err':>5} {kinds} {'gw CPU%':>8} {'gw us/req':>9} " + (
        f"{'gw RSS MB':>9} {'sim RSS MB':>10}"
    )


def row(
    minute: dict[str, Any], names: list[str], samples: list[dict[str, Any]], bucket_s: float
) -> str:
    number = minute["minute"]
    ok = sum(minute[n]["ok"] for n in names)
    errors = sum(minute[n]["error_count"] for n in names)
    cells = []
    for name in names:
        lat = minute[name].get("latency_us") or {}
        cell = f"{lat['p50'] / 1000:.2f} / {lat['p99'] / 1000:.2f}" if lat else "-"
        cells.append(f"{cell:>24}")
    window = minute.get("partial_s") or bucket_s
    cpu = minute_cpu(samples, number, bucket_s)
    per_req = cpu * 10_000 / (ok / window) if cpu is not None and ok else None
    gw = last_in(samples, number, bucket_s, "gateway_rss_mb")
    sim = last_in(samples, number, bucket_s, "sim_rss_mb")
    return (
        f"{number + 1:>4} {ok / window:>8.1f} {errors:>5} {' '.join(cells)} "
        f"{_num(cpu, 8, 1)} {_num(per_req, 9, 0)} {_num(gw, 9, 1)} {_num(sim, 10, 1)}"
    )


def _num(value: float | None, width: int, digits: int) -> str:
    return f"{value:>{width}.{digits}f}" if value is not None else f"{'-':>{width}}"


def render(results: dict[str, Any]) -> str:
    meta = results["meta"]
    names = list(meta["mix"])
    bucket_s = meta["bucket_s"]
    samples = results["samples"]
    lines = [
        f"soak: {meta['rate']:g} req/s for {meta['duration_s']:g} s (warm-up "
        f"{meta['warmup_s']:g} s), mix "
        + ", ".join(f"{n} {share:.0%}" for n, share in meta["mix"].items())
        + f", {meta['connections']} connections per kind",
        "",
        header(names),
        *(row(m, names, samples, bucket_s) for m in results["minutes"]),
        "",
    ]
    if results["minutes"] and results["minutes"][-1].get("partial_s"):
        lines.insert(-1, f"(last row: {results['minutes'][-1]['partial_s']:g} s of a minute)")
    gw = results["rss"]["gateway"]
    lines.append(
        f"gateway RSS: idle {meta['idle_rss_mb']:.1f} MB, start of load "
        f"{_opt(gw.get('start_mb'))}, after the warm-up {_opt(gw.get('warm_mb'))}, end "
        f"{_opt(gw.get('end_mb'))}, max {_opt(gw.get('max_mb'))} (medians of "
        f"{gw.get('edge_s', 0):g} s of samples every {meta['sample_every_s']:g} s)"
    )
    if gw.get("slope_mb_per_10min") is not None:
        lines.append(
            f"after the warm-up ({gw['window_s'] / 60:.1f} min, {gw['samples_after_warmup']} "
            f"samples): slope {gw['slope_mb_per_10min']:+.2f} MB per 10 min (limit "
            f"{gw['limits']['slope_mb_per_10min']:g}), end - warm-up {gw['growth_mb']:+.2f} MB "
            f"(limit {gw['limits']['growth_mb']:g})"
        )
    sim = results["rss"]["sim"]
    if sim.get("slope_mb_per_10min") is not None:
        lines.append(
            f"simulator RSS (for scale, not judged): {_opt(sim.get('start_mb'))} -> "
            f"{_opt(sim.get('end_mb'))}, slope {sim['slope_mb_per_10min']:+.2f} MB per 10 min"
        )
    fds = [s["gateway_fds"] for s in samples if s.get("gateway_fds") is not None]
    if fds:
        lines.append(f"gateway open files: {fds[0]} at the start, {fds[-1]} at the end")
    load = results["load"]
    delivered = results["delivered"]
    lines.append(
        f"load: {delivered['ok_per_s']:g} of {load['rate']:g} req/s answered, "
        f"{load['errors']} errors ({delivered['error_share']:.3%}), {load['unanswered']} "
        f"unanswered ({load['never_sent']} never sent: the gateway fell behind the schedule), "
        f"{load['late_ticks']} late ticks, {load['reconnects']} reconnects"
        + (f", errors: {load['error_kinds']}" if load["error_kinds"] else "")
    )
    log = results.get("gateway_log") or {}
    if log:
        lines.append(
            f"gateway log: {log.get('lines', 0)} lines, {log.get('warnings', 0)} warnings, "
            f"{log.get('errors', 0)} errors, {log.get('tracebacks', 0)} tracebacks"
        )
    start, end = meta.get("loadavg_start"), meta.get("loadavg_end")
    if start and end:
        lines.append(
            f"machine: load average {start[0]:.2f} at the start, {end[0]:.2f} at the end "
            f"(1 min; {meta.get('cpu_count')} CPUs): other work slows the gateway and the load"
        )
    lines.append("")
    lines.append(verdict_line(results))
    return "\n".join(lines)


def verdict_line(results: dict[str, Any]) -> str:
    gw = results["rss"]["gateway"]
    delivered = results["delivered"]
    word = results["verdict"]
    why = []
    if gw["verdict"] != "PASS":
        why.append(gw.get("reason", "RSS not flat"))
    if not delivered["delivered"]:
        why.append("the load was not delivered (answered rate or errors off the limits)")
    text = f"flat RSS: {word}" + (f": {'; '.join(why)}" if why else "")
    if not gw.get("judged", False):
        text += (
            f" (indicative only: {gw.get('window_s', 0) / 60:.1f} min after the warm-up, "
            "a trend needs 10 or more)"
        )
    return text


def _opt(value: float | None) -> str:
    return f"{value:.1f} MB" if value is not None else "-"
