"""Outage runs from start to finish: for each outage kind asked for, start a fresh simulator
and gateway (pinned like the main benchmark), warm up, reset the simulator, load the
outage scenario and start the load at the same moment, follow the simulator's request log,
then analyse, print and write the JSON (one file per kind; `--fault all` runs the kinds one
after another and ends with a summary of every target)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fsbench import procs, record
from fsbench.loadgen.sample import now_ns
from fsbench.loadgen.tally import percentiles
from fsbench.noise import Noise
from fsbench.outage import analysis, report, timeline
from fsbench.outage.faults import FAULTS
from fsbench.outage.observed import Observed, exact
from fsbench.outage.plan import (
    BACKUP,
    PRIMARY,
    VIRTUAL_MODEL,
    Plan,
    gateway_config,
    scenario,
    sim_settings,
)
from fsbench.outage.traffic import SimLog, Traffic, monotonic_to_wall
from fsbench.payloads import openai_request
from fsbench.procfs import Meter
from fsbench.procs import HOST, Child, Pinning
from fsbench.settings import ROOT


class Testbed:
    """The simulator and the gateway, each in its own process."""

    def __init__(self, pinning: Pinning, workdir: Path, log_level: str) -> None:
        self.pinning = pinning
        self.workdir = workdir
        self.log_level = log_level
        self.sim_port = procs.free_port()
        self.gw_port = procs.free_port()
        self.config = workdir / "failsoft.yaml"
        self.children: list[Child] = []

    def start(self, plan: Plan) -> None:
        pin = self.pinning
        sim = procs.start_child(
            "sim",
            procs.python_cmd("-m", "failsoft", "sim", "--host", HOST, "--port", str(self.sim_port)),
            pin.side_core,
            pin,
            self.workdir,
        )
        self.children.append(sim)
        procs.wait_ready(sim, self.sim_port, "/v1/models")
        for model, settings in sim_settings(plan).items():
            status, payload = procs.http_call(
                self.sim_port, "POST", "/_sim/models", {"model": model, **settings}
            )
            if status != 200:
                raise RuntimeError(f"simulator refused settings for {model}: {payload}")
        self.config.write_text(gateway_config(self.sim_port))
        argv = ["serve", "--config", str(self.config), "--host", HOST, "--port", str(self.gw_port)]
        gateway = procs.start_child(
            "gateway",
            procs.python_cmd("-m", "failsoft", *argv, "--log-level", self.log_level),
            pin.gateway_core,
            pin,
            self.workdir,
        )
        self.children.append(gateway)
        procs.wait_ready(gateway, self.gw_port, "/healthz")

    @property
    def sim(self) -> Child:
        return self.children[0]

    @property
    def gateway(self) -> Child:
        return self.children[1]

    def resolved_policies(self) -> list[str]:
        """`failsoft check-config`'s account of the resilience settings in force."""
        done = subprocess.run(
            procs.python_cmd("-m", "failsoft", "check-config", str(self.config)),
            capture_output=True,
            text=True,
            check=False,
        )
        keep = ("deadlines:", "retry:", "breaker:", "admission:", "hedge", "balance", "resume")
        return [line for line in done.stdout.splitlines() if line.startswith(keep)]

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()


def scenario_start(sim_port: int, before: int, after: int) -> tuple[int, int]:
    """When the scenario clock started (ns, CLOCK_MONOTONIC, like the simulator's clock),
    and how uncertain that is: inside the scenario call [before, after], and `elapsed`
    (rounded to 1 ms) before the moment the simulator answered a second call."""
    low, high = before, after
    sent = now_ns()
    status, payload = procs.http_call(sim_port, "GET", "/_sim/faults")
    received = now_ns()
    if status == 200 and isinstance(payload, dict) and "elapsed" in payload:
        elapsed = round(float(payload["elapsed"]) * 1e9)
        low = max(low, sent - elapsed - 500_000)
        high = min(high, received - elapsed + 500_000)
        if low > high:  # inconsistent readings: keep the scenario call's bounds
            low, high = before, after
    return (low + high) // 2, (high - low) // 2


async def drive(plan: Plan, bed: Testbed, noise: Noise, verbose: bool) -> dict[str, Any]:
    """Warm up, then the measured run; returns what analysis.Observed needs."""
    port = bed.gw_port
    plain = (False, openai_request(port, VIRTUAL_MODEL))
    stream = (True, openai_request(port, VIRTUAL_MODEL, stream=True))
    lanes = [stream] if plan.streams_only else [plain, stream]
    traffic = Traffic(port, lanes, plan.connections, collect=plan.answer is not None)
    await traffic.open()
    try:
        if verbose:
            print(f"warming up ({plan.warmup:g} s at {plan.rate:g} req/s) ...", flush=True)
        warm = await traffic.run(now_ns() + 20_000_000, plan.rate, plan.warmup, plan.drain)
        failed = [
            e
            for e in warm.exchanges
            if e.error is not None
            or e.model != PRIMARY
            or (plan.answer is not None and not exact(e, plan.answer))
        ]
        if failed:
            e = failed[0]
            raise RuntimeError(
                f"{len(failed)} warm-up requests failed, missed the primary or (with a fixed "
                f"answer) got other text, e.g. {e.error or e.model} (trail "
                f"{e.headers.get('x-failsoft-trail')}, text {e.answer!r})"
            )
        quiet = await noise.wait_quiet()
        procs.http_call(bed.sim_port, "POST", "/_sim/reset")
        log = SimLog(bed.sim_port)
        meter = Meter(
            {"gateway": bed.gateway.pid, "sim": bed.sim.pid},
            bed.gateway.pid,
            {"sim": bed.sim_port, "gw": bed.gw_port},
        )
        if verbose:
            print(
                f"running {plan.duration:g} s ({plan.fault}); outage from "
                f"t={plan.outage_start:g} s to t={plan.outage_end:g} s ...",
                flush=True,
            )
        meter.mark("start")
        # The scenario clock starts while the simulator handles this call; the first
        # request is scheduled for exactly that moment (t=0), which fires at once.
        before = now_ns()
        status, payload = procs.http_call(bed.sim_port, "POST", "/_sim/scenario", scenario(plan))
        after = now_ns()
        if status != 200:
            raise RuntimeError(f"simulator refused the scenario: {payload}")
        t0, t0_error = scenario_start(bed.sim_port, before, after)
        wall0 = t0 / 1e9 + monotonic_to_wall()
        stop = asyncio.Event()
        follower = asyncio.create_task(log.follow(plan.poll, stop))
        load = await traffic.run(t0, plan.rate, plan.duration, plan.drain)
        meter.mark("end")
        stop.set()
        await follower
    finally:
        await traffic.close()
    return {
        "exchanges": load.exchanges,
        "t0_ns": t0,
        "wall0": wall0,
        "t0_error_ms": t0_error / 1e6,
        "log": log,
        "load": load,
        "meter": meter,
        "quiet_before": quiet,
    }


def notes(run: dict[str, Any], results: dict[str, Any], pinning: Pinning) -> list[str]:
    """How far to trust this run."""
    log: SimLog = run["log"]
    cpu = results["cpu"]
    queue = percentiles([e.t_send - e.t_sched for e in run["exchanges"] if e.t_send])
    lines = [
        f"t=0 is known to ±{run['t0_error_ms']:.2f} ms; "
        f"open-loop timer {'timerfd' if run['load'].precise_timer else 'loop timers (~1 ms)'}; "
        f"late ticks: {run['load'].late_ticks}; reconnects: {run['load'].reconnects}",
        f"{results['meta']['plan']['connections']} connections per kind of request; waits "
        f"for a free connection (send - schedule): p99 {queue.get('p99', 0) / 1000:.2f} ms, "
        f"max {queue.get('max', 0) / 1000:.2f} ms",
        f"simulator log read {log.polls} times (longest read {max(log.poll_ms, default=0):.1f} "
        f"ms); reads that may have missed records: {log.gaps}",
        f"CPU over the run (% of one core): gateway {cpu.get('gateway_cpu_pct', 0):.1f}, "
        f"simulator {cpu.get('sim_cpu_pct', 0):.1f}, load generator "
        f"{cpu.get('self_cpu_pct', 0):.1f}, other processes {cpu.get('other_cpu_pct', 0):.1f}"
        + ("" if run["quiet_before"] else " (the machine was not idle before the run)"),
    ]
    amp = results["results"]["amplification"]
    if amp["upstream_attempts_logged"] != amp["upstream_attempts"]:
        lines.append(
            f"note: the simulator counted {amp['upstream_attempts']} attempts but its log "
            f"gave {amp['upstream_attempts_logged']}: per-second attempt counts are partial"
        )
    if pinning.method == "none":
        lines.append(f"note: {pinning.note}")
    return lines


def run(args: argparse.Namespace) -> int:
    """Every outage kind asked for, each on its own testbed; one JSON file per kind."""
    faults = FAULTS if args.fault == "all" else (args.fault,)
    pinning = Pinning.plan(not args.no_pin)
    pinning.pin_self()
    print(f"pinning: {pinning.method}: {pinning.note}", flush=True)
    streams_only = None if args.mix is None else args.mix == "streams"
    runs = []
    for fault in faults:
        plan = Plan.make(
            fault,
            args.quick,
            args.rate,
            args.ttft,
            args.chunk_delay,
            args.connections,
            streams_only,
        )
        started = dt.datetime.now().astimezone()
        results = run_one(plan, args, pinning, started)
        print()
        print(report.render(results))
        out = output_path(args.out, started, fault, args.quick, len(faults) > 1)
        record.write_json(results, out)
        print(f"\nresults written to {out}", flush=True)
        runs.append(results)
    if len(runs) > 1:
        print("\nAll outage kinds")
        print(report.summary(runs))
    return 0


def output_path(
    out: Path | None, started: dt.datetime, fault: str, quick: bool, many: bool
) -> Path:
    """`--out` as given for one kind, with `-<fault>` before the suffix for several; by
    default bench/results/outage-<time>-<fault>[-quick].json."""
    if out is None:
        name = f"outage-{started:%Y%m%d-%H%M%S}-{fault}{'-quick' if quick else ''}.json"
        return ROOT / "bench" / "results" / name
    return out.with_name(f"{out.stem}-{fault}{out.suffix}") if many else out


def run_one(
    plan: Plan, args: argparse.Namespace, pinning: Pinning, started: dt.datetime
) -> dict[str, Any]:
    """One outage kind on a fresh simulator and gateway; the results as written to JSON."""
    meta = record.machine_info(pinning)
    try:
        import uvloop

        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    noise = Noise(15.0, 0, 2.0 if args.quick else 30.0, 0.2)
    with tempfile.TemporaryDirectory(prefix="failsoft-outage-") as tmp:
        bed = Testbed(pinning, Path(tmp), args.gateway_log_level)
        try:
            bed.start(plan)
            meta["gateway_config"] = bed.config.read_text()
            meta["resolved_policies"] = bed.resolved_policies()
            with asyncio.Runner(loop_factory=loop_factory) as runner:
                ran = runner.run(drive(plan, bed, noise, not args.quiet))
            for child in bed.children:
                if not child.alive():
                    raise RuntimeError(f"{child.name} died during the run:\n{child.log_tail()}")
        finally:
            try:
                gateway_lines = bed.gateway.log.read_text(errors="replace").splitlines()
            except (OSError, IndexError):
                gateway_lines = []
            bed.stop()
    sim_log: SimLog = ran["log"]
    observed = Observed(
        plan,
        ran["exchanges"],
        ran["t0_ns"],
        ran["wall0"],
        sim_log.records,
        sim_log.stats,
        gateway_lines,
    )
    meta.update(
        {
            "started": started.isoformat(timespec="seconds"),
            "quick": args.quick,
            "fault": plan.fault,
            "plan": plan.to_dict(),
            "primary": PRIMARY,
            "backup": BACKUP,
            "sim_settings": sim_settings(plan),
            "scenario": scenario(plan),
            "gateway_log_level": args.gateway_log_level,
            "loadavg_end": os.getloadavg(),
        }
    )
    results: dict[str, Any] = {"meta": meta, "results": analysis.analyse(observed)}
    results["targets"] = report.judge(plan, results["results"])
    results["cpu"] = ran["meter"].result(pinning.side_core, pinning.gateway_core)
    results["notes"] = notes(ran, results, pinning)
    if args.requests:
        results["requests"] = timeline.request_rows(observed)
        results["upstream_attempts"] = [
            {**r, "t": round(r["time"] - observed.wall0, 5)} for r in observed.sim_records
        ]
    return results
