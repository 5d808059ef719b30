"""The printed report as a whole: the run's header, the section tables in order, the
memory line, the targets with PASS/MISS and the notes."""

from __future__ import annotations

from typing import Any

from fsbench.report import compare, plain, streams
from fsbench.report.tables import number, signed, table
from fsbench.settings import ANSWER_TOKENS, DIRECT, DIRECT_STREAM, PATH_NOTES


def render(results: dict[str, Any]) -> str:
    meta = results["meta"]
    out = _header(meta)
    if results["fixed_rate"]:
        out += plain.fixed_rate(results, meta)
    if results["throughput"]:
        out += plain.throughput(results, meta)
    if results.get("length"):
        out += plain.long_answers(results, meta)
    out.append("")
    if results["streaming"]:
        out += streams.streaming(results, meta)
    if results["relay"]:
        out += streams.relay(results, meta)
    if results["failover"]:
        out += plain.failover(results, meta)
    if results.get("outage"):
        out += plain.outage(results)
    out += _memory(results)
    out += _targets(results)
    if results.get("compare"):
        out += compare.render(results)

    notes = results.get("notes", [])
    if notes:
        out.append("")
        out.append("Notes:")
        out.extend(f"- {note}" for note in notes)
    return "\n".join(out)


def _header(meta: dict[str, Any]) -> list[str]:
    out: list[str] = []
    pk = meta["packages"]
    out.append(
        f"failsoft benchmark {meta['started']}  ({'quick' if meta['quick'] else 'full'} run, "
        f"git {meta['git']})"
    )
    out.append(
        f"machine: {meta['cpu_model']}, {meta['cpu_count']} cores, {meta['memory_gib']} GiB, "
        f"Linux {meta['kernel']}; Python {meta['python']}; "
        + ", ".join(f"{k} {v}" for k, v in pk.items())
    )
    out.append(f"pinning: {meta['pinning']['method']}: {meta['pinning']['note']}")
    out.append(
        "open-loop timer: "
        + ("timerfd (ns)" if meta["precise_timer"] else "event-loop timers (~1 ms)")
        + f"; request body {meta['request_bytes']} B; answer {ANSWER_TOKENS} tokens "
        f"({meta['response_bytes']} B JSON); load average at start {meta['loadavg_start']}"
    )
    out.append("paths: " + "; ".join(f"{k} = {v}" for k, v in PATH_NOTES.items()))
    out.append("")
    return out


def _memory(results: dict[str, Any]) -> list[str]:
    out: list[str] = []
    mem = results.get("memory", {})
    out.append(
        "6. Gateway memory: RSS idle after start {idle} MB; after warm-up {warm} MB; after all "
        "load {after} MB; peak (VmHWM) {peak} MB. (Floor proxy idle: {floor} MB.)".format(
            idle=number(mem.get("idle_rss_mb"), 1),
            floor=number(mem.get("floor_idle_rss_mb"), 1),
            warm=number(mem.get("warm_rss_mb"), 1),
            after=number(mem.get("after_rss_mb"), 1),
            peak=number(mem.get("peak_rss_mb"), 1),
        )
    )
    for name, held in mem.get("open_streams", {}).items():
        out.append(
            f"   {name}: {held['streams']} open streams (each caller has read its first event): "
            f"RSS {number(held['rss_before_mb'], 1)} -> {number(held['rss_open_mb'], 1)} MB, "
            f"{number(held['kib_per_stream'])} KiB per open stream; "
            f"{number(held['rss_after_close_mb'], 1)} MB 1 s after they closed"
        )
    out.append("")
    return out


def _targets(results: dict[str, Any]) -> list[str]:
    out: list[str] = []
    out.append(
        "7. Targets of issue 18 (one core, against the simulator; throughput as a ratio to the "
        "floor of the same run). A MISS does not fail this script."
    )
    rows = []
    digits = {"MB": 1, "x": 2}
    for t in results["targets"]:
        value = t["measured"]
        places = digits.get(t["unit"], 2 if value is not None and abs(value) < 10 else 0)
        if value is None:
            verdict = "not run"
        elif t["pass"] is None:
            verdict = "reported"
        else:
            verdict = "PASS" if t["pass"] else "MISS"
        rows.append(
            [
                t["target"],
                t["limit"],
                f"{number(value, places)} {t['unit']}" if value is not None else "-",
                verdict,
            ]
        )
    out.append(table(["target", "limit", "measured", "verdict"], rows))
    out += _floor_share(results.get("floor_share", {}))
    out += _vs_direct_stream(results.get("as_on_vs_direct_stream", {}))
    return out


def _vs_direct_stream(vs: dict[str, Any]) -> list[str]:
    """The line under the targets: gw as=on against the simulator doing the same work."""
    if vs.get("added_p50_us") is None:
        return []
    return [
        f"   {vs['path']} vs the same upstream work ({DIRECT_STREAM}): "
        f"{signed(vs['added_p50_us'])} us p50, {signed(vs.get('added_p99_us'))} us p99 "
        f"(at {vs['rate']} req/s; the targets above compare with {DIRECT}; {DIRECT_STREAM} "
        f"itself is {signed(vs.get('direct_stream_added_p50_us'))} / "
        f"{signed(vs.get('direct_stream_added_p99_us'))} us p50/p99 over {DIRECT})"
    ]


def _floor_share(share: dict[str, Any]) -> list[str]:
    """The line under the targets: how much of the added p50 is failsoft's own code."""
    parts = []
    for path, s in share.items():
        if s.get("own_p50_us") is None:
            continue
        own, added = s["own_p50_us"], s.get("gw_added_p50_us")
        part = f"{path} {number(own)} us"
        if added:
            part += f" of its +{number(added)} us ({100 * own / added:.0f} %)"
        parts.append(part)
    if not parts:
        return []
    first = next(iter(share.values()))
    return [
        f"   failsoft's own share at {first['rate']} req/s: gw p50 − floor p50 = "
        + "; ".join(parts)
        + f" (the stack alone, as the floor, adds {number(first.get('floor_added_p50_us'))} us "
        "p50 over direct; the floor is a lower bound)"
    ]
