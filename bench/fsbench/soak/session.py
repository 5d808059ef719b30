"""One soak from start to finish: start the simulator and the gateway (fsbench's testbed:
the generated default config, pinned), check every kind of request once, then run the
mixed open loop for the whole duration while sampling RSS every few seconds; print a row
per minute as it goes, then the verdict, and write the JSON."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from fsbench import loadgen, procfs, record
from fsbench.session import begin
from fsbench.settings import ROOT
from fsbench.soak import report
from fsbench.soak.load import Minutes, mixed_open_loop
from fsbench.soak.mix import KINDS, Kind
from fsbench.soak.rss import Sampler, flatness, load_delivered
from fsbench.testbed import Setup

BUCKET_S = 60.0
CHECK_WAIT_S = 30.0
"""How long the check of each kind may take (a busy machine is slow, not broken)."""
"""Latency, errors and CPU are reported per minute of the schedule."""


async def check(setup: Setup, kinds: list[Kind]) -> None:
    """Each kind once through the gateway before the clock starts: a 200, and for a stream
    every content event and the terminal event (the open loop counts a stream without its
    terminal event as an error, but not a short one)."""
    for kind in kinds:
        sample, error = await loadgen.one_exchange(
            setup.gw_port, kind.request(setup.gw_port), kind.sse, wait=CHECK_WAIT_S
        )
        if sample.status != 200 or error:
            raise RuntimeError(f"{kind.name}: HTTP {sample.status} {error or ''}")
        if kind.sse is not None and (sample.content_events != kind.events or not sample.terminal):
            raise RuntimeError(
                f"{kind.name}: {sample.content_events} content events (expected {kind.events}), "
                f"terminal event {'seen' if sample.terminal else 'missing'}"
            )


async def soak(setup: Setup, kinds: list[Kind], args: argparse.Namespace) -> dict[str, Any]:
    assert setup.gateway is not None
    assert setup.sim is not None
    await check(setup, kinds)
    sampler = Sampler({"gateway": setup.gateway.pid, "sim": setup.sim.pid, "loadgen": os.getpid()})
    names = [k.name for k in kinds]
    minutes = Minutes(names, round(BUCKET_S * 1e9))
    clock, stop = asyncio.Event(), asyncio.Event()

    def started(t0_ns: int) -> None:
        sampler.t0_ns = t0_ns
        clock.set()

    def print_closed(numbers: list[int]) -> None:
        if not args.quiet:
            for number in numbers:
                row = report.row(minutes.closed[number], names, sampler.samples, BUCKET_S)
                print(row, flush=True)

    async def sample_until_stopped() -> None:
        """Every `--sample-every` s from t=0: a reading, and the minutes that have settled.
        Stopped by `stop`, never cancelled, so a minute is never left half summarised."""
        await clock.wait()
        if stop.is_set():
            return
        if not args.quiet:
            print(report.header(names), flush=True)
        tick = 0
        while not stop.is_set():
            sampler.read()
            print_closed(await minutes.close_before(time.perf_counter_ns()))
            tick += 1
            due = sampler.t0_ns + round(tick * args.sample_every * 1e9)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, (due - time.perf_counter_ns()) / 1e9))

    sampling = asyncio.get_running_loop().create_task(sample_until_stopped())
    try:
        load = await mixed_open_loop(
            setup.gw_port,
            kinds,
            args.mix,
            rate=args.rate,
            duration=args.duration,
            connections=args.connections,
            minutes=minutes,
            started=started,
        )
    finally:
        stop.set()
        clock.set()
        await sampling
    sampler.read()
    print_closed(await minutes.close_before(0, final=True))
    load["late_answers"] = minutes.late
    return {"load": load, "minutes": [minutes.closed[n] for n in sorted(minutes.closed)],
            "samples": sampler.samples}  # fmt: skip


def run(args: argparse.Namespace) -> int:
    pinning, started, meta, runner = begin(args.no_pin)
    kinds = [KINDS[name] for name in args.mix]
    meta.update(
        {
            "started": started.isoformat(timespec="seconds"),
            "rate": args.rate,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "mix": args.mix,
            "kinds": {k.name: {"model": k.model, "note": k.note} for k in kinds},
            "connections": args.connections,
            "sample_every_s": args.sample_every,
            "bucket_s": BUCKET_S,
            "gateway_log_level": args.gateway_log_level,
        }
    )
    print(f"pinning: {pinning.method}: {pinning.note}", flush=True)
    with tempfile.TemporaryDirectory(prefix="failsoft-soak-") as tmp:
        setup = Setup(pinning, Path(tmp), args.gateway_log_level)
        try:
            setup.start()
            assert setup.gateway is not None
            time.sleep(1.0)
            meta["idle_rss_mb"] = procfs.memory_kb(setup.gateway.pid)["VmRSS"] / 1024
            print(
                f"soak: {args.rate:g} req/s for {args.duration:g} s, RSS judged after "
                f"{args.warmup:g} s; gateway idle RSS {meta['idle_rss_mb']:.1f} MB",
                flush=True,
            )
            with runner() as loop_runner:
                outcome = loop_runner.run(soak(setup, kinds, args))
            for child in setup.children:
                if not child.alive():
                    raise RuntimeError(f"{child.name} died during the run:\n{child.log_tail()}")
        finally:
            gateway_log = record.read_gateway_log(setup.gateway)
            if setup.gateway is not None:
                with contextlib.suppress(OSError):
                    gateway_log["bytes"] = setup.gateway.log.stat().st_size
            setup.stop()
    meta["loadavg_end"] = os.getloadavg()
    meta["finished"] = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    results = analyse(meta, outcome, args)
    results["gateway_log"] = gateway_log
    print()
    print(report.render(results))
    out = args.out or ROOT / "bench" / "results" / f"soak-{started:%Y%m%d-%H%M%S}.json"
    record.write_json(results, out)
    print(f"\nresults written to {out}")
    return 0


def analyse(
    meta: dict[str, Any], outcome: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    """The figures of the run: totals, RSS flatness of the gateway (judged) and of the
    simulator (for scale), and the overall verdict."""
    load = outcome["load"]
    minutes = outcome["minutes"]
    names = list(args.mix)
    ok = sum(m[n]["ok"] for m in minutes for n in names)
    errors: dict[str, int] = {}
    for m in minutes:
        for n in names:
            for kind, count in m[n]["errors"].items():
                errors[kind] = errors.get(kind, 0) + count
    load.update(rate=args.rate, ok=ok, errors=sum(errors.values()), error_kinds=errors)
    delivered = load_delivered(args.rate, ok / args.duration, load["errors"], load["scheduled"])
    samples = outcome["samples"]
    rss = {
        "gateway": flatness(samples, args.warmup, "gateway_rss_mb"),
        "sim": flatness(samples, args.warmup, "sim_rss_mb"),
        "loadgen": flatness(samples, args.warmup, "loadgen_rss_mb"),
    }
    rss["sim"].pop("verdict", None)
    rss["loadgen"].pop("verdict", None)
    ok_all = rss["gateway"]["verdict"] == "PASS" and delivered["delivered"]
    return {
        "meta": meta,
        "verdict": "PASS" if ok_all else "MISS",
        "rss": rss,
        "load": load,
        "delivered": delivered,
        "minutes": minutes,
        "samples": samples,
    }
