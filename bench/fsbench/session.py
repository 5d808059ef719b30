"""One benchmark run from start to finish: plan the pinning, start the processes under
test, run the selected phases on the load generator's event loop, stop everything, then
derive, print and write the results. Separate from run.py so that the command line stays
a thin layer over it."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from fsbench import procfs, procs, record
from fsbench.measure import Bench
from fsbench.noise import Noise
from fsbench.payloads import chat_body
from fsbench.phases import compare, failover, memory, outage, plain, streams, warmup
from fsbench.procs import Pinning
from fsbench.report.derive import derive, floor_share, targets, vs_direct_stream
from fsbench.report.extra import compare_ratios, outage_summary, per_token
from fsbench.report.notes import observations
from fsbench.report.render import render
from fsbench.settings import (
    ANSWER_TOKENS,
    LONG_ANSWER_TOKENS,
    OPEN_STREAMS,
    OUTAGE_RATE,
    TARGET_RATE,
    Durations,
)
from fsbench.testbed import Setup, revision_src


async def run_all(bench: Bench, args: argparse.Namespace) -> None:
    setup = bench.setup
    assert setup.gateway is not None
    print("warming up the gateway ...", flush=True)
    await warmup.warm(bench)
    bench.results["memory"]["warm_rss_mb"] = procfs.memory_kb(setup.gateway.pid)["VmRSS"] / 1024
    fixed_conns = args.connections
    only = set(args.only)
    if "memory" in only:
        # first, before any heavy load leaves the allocator with free memory to reuse
        print(f"memory per open stream ({OPEN_STREAMS} streams) ...", flush=True)
        await memory.open_streams(bench, OPEN_STREAMS)
    if "fixed" in only:
        print("fixed rates ...", flush=True)
        await plain.fixed_rates(bench, args.rates, fixed_conns)
    if "throughput" in only:
        print("maximum throughput ...", flush=True)
        await plain.throughput(bench, args.concurrency)
    if "length" in only:
        print("long answers ...", flush=True)
        await plain.answer_length(bench, args.concurrency[0])
    if "streaming" in only:
        print("streaming TTFC ...", flush=True)
        await streams.streaming(bench, args.streams, args.stream_rounds)
    if "relay" in only:
        print("streaming relay ...", flush=True)
        await streams.relay(bench, args.streams, args.stream_rounds)
    if "failover" in only:
        print("failover ...", flush=True)
        await failover.failover(bench, 500, fixed_conns, args.concurrency[0])
    if "outage" in only:
        print(f"outage at {OUTAGE_RATE} req/s ...", flush=True)
        await outage.outage(bench, OUTAGE_RATE, fixed_conns)
    if "compare" in only and setup.ref is not None:
        print(f"compare with {args.compare} ({args.compare_rounds} rounds) ...", flush=True)
        await compare.compare(
            bench, args.compare_rounds, args.concurrency[0], TARGET_RATE, fixed_conns
        )


def begin(
    no_pin: bool,
) -> tuple[Pinning, dt.datetime, dict[str, Any], Callable[[], asyncio.Runner]]:
    """What every run does first (this one and bench/soak.py's): plan and apply the pinning,
    note the machine, and pick the load generator's event loop (uvloop when installed)."""
    pinning = Pinning.plan(not no_pin)
    started = dt.datetime.now().astimezone()
    meta = record.machine_info(pinning)
    pinning.pin_self()
    try:
        import uvloop
    except ImportError:
        meta["pinning"]["note"] += "; uvloop missing: the load generator runs on asyncio"
        return pinning, started, meta, asyncio.Runner
    return pinning, started, meta, lambda: asyncio.Runner(loop_factory=uvloop.new_event_loop)


def run(args: argparse.Namespace) -> int:
    pinning, started, meta, runner = begin(args.no_pin)
    durations = Durations.for_mode(args.quick, args.scale)
    sample_body = chat_body("gpt", stream=False)
    meta.update(
        {
            "started": started.isoformat(timespec="seconds"),
            "quick": args.quick,
            "durations": {name: getattr(durations, name) for name in durations.__slots__},
            "rates": args.rates,
            "concurrency": args.concurrency,
            "streams": args.streams,
            "stream_rounds": args.stream_rounds,
            "fixed_connections": args.connections,
            "request_bytes": len(sample_body),
            "gateway_log_level": args.gateway_log_level,
            "answer_tokens": ANSWER_TOKENS,
            "long_answer_tokens": LONG_ANSWER_TOKENS,
        }
    )
    print(f"pinning: {pinning.method}: {pinning.note}", flush=True)
    with tempfile.TemporaryDirectory(prefix="failsoft-bench-") as tmp:
        ref_src = None
        if args.compare:
            # removed with the temporary directory, whatever happens
            ref_src, meta["compare"] = revision_src(args.compare, Path(tmp) / "ref")
            print(f"compare: A = {meta['compare']['commit']} ({args.compare}), B = this tree")
        setup = Setup(pinning, Path(tmp), args.gateway_log_level, ref_src)
        noise = Noise(
            args.max_other,
            args.retries if args.retries is not None else (0 if args.quick else 2),
            args.quiet_timeout if args.quiet_timeout is not None else (2.0 if args.quick else 30.0),
            0.1 if args.quick else 0.2,
        )
        meta["noise"] = {
            "max_other_pct": noise.max_other,
            "retries": noise.retries,
            "quiet_timeout_s": noise.quiet_timeout,
        }
        bench = Bench(setup, durations, noise, verbose=not args.quiet)
        bench.results["memory"] = {}
        try:
            setup.start()
            assert setup.gateway is not None
            time.sleep(1.0)
            idle = procfs.memory_kb(setup.gateway.pid)
            bench.results["memory"]["idle_rss_mb"] = idle["VmRSS"] / 1024
            assert setup.floor is not None
            floor_idle = procfs.memory_kb(setup.floor.pid)["VmRSS"] / 1024
            bench.results["memory"]["floor_idle_rss_mb"] = floor_idle
            status, body = procs.http_call(
                setup.sim_port,
                "POST",
                "/v1/chat/completions",
                orjson.loads(chat_body("gpt-4o", stream=False)),
            )
            meta["response_bytes"] = len(orjson.dumps(body)) if status == 200 else None
            status, body = procs.http_call(
                setup.sim_port,
                "POST",
                "/v1/chat/completions",
                orjson.loads(chat_body("gpt-4o-long", stream=False)),
            )
            meta["long_response_bytes"] = len(orjson.dumps(body)) if status == 200 else None
            with runner() as loop_runner:
                loop_runner.run(run_all(bench, args))
            mem = procfs.memory_kb(setup.gateway.pid)
            bench.results["memory"]["after_rss_mb"] = mem["VmRSS"] / 1024
            bench.results["memory"]["peak_rss_mb"] = mem["VmHWM"] / 1024
            for child in setup.children:
                if not child.alive():
                    raise RuntimeError(f"{child.name} died during the run:\n{child.log_tail()}")
        finally:
            gateway_log = record.read_gateway_log(setup.gateway)
            setup.stop()
    meta["loadavg_end"] = os.getloadavg()
    meta["finished"] = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    results: dict[str, Any] = {"meta": meta, **bench.results}
    derive(results)
    results["floor_share"] = floor_share(results)
    results["as_on_vs_direct_stream"] = vs_direct_stream(results)
    results["per_token"] = per_token(results, args.concurrency[0])
    results["outage_summary"] = outage_summary(results)
    results["compare_ratios"] = compare_ratios(results)
    results["targets"] = targets(results)
    results["gateway_log"] = gateway_log
    results["notes"] = observations(results, gateway_log)
    print()
    print(render(results))
    out = args.out or record.default_path(started, args.quick)
    record.write_json(results, out)
    print(f"\nresults written to {out}")
    return 0
