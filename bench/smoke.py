"""The benchmark smoke CI runs (about two minutes): is the gateway still as close to the floor
as docs/benchmark.md says?

    python bench/smoke.py [--rounds 5] [--seconds 4] [--reference bench/reference.json]

Starts the simulator, the floor proxy (bench/floor_proxy.py) and `failsoft serve` as
bench/run.py does (127.0.0.1 only, the proxy under test pinned to one core), then runs
short closed-loop throughput phases of floor, gw as=on and gw as=off, interleaved, for a
few rounds. Each round gives a ratio gw req/s / floor req/s per mode; the best round's
ratio must be at least `margin` (0.8) x the ratio in bench/reference.json, the figures
docs/benchmark.md reports. Only ratios measured in one sitting are judged, never an
absolute time, so a slower or busier CI machine does not fail it; a real regression does.

Exit code 0 when it passes; 1 on any request error, a ratio under its bound, a setup
failure or the overall timeout (`--timeout`, default 300 s: it cannot hang).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fsbench.measure import Bench, closed_load
from fsbench.noise import Noise
from fsbench.payloads import openai_request
from fsbench.phases import warmup
from fsbench.procs import Pinning
from fsbench.settings import FLOOR, GW_AS, GW_NS, ROOT, Durations
from fsbench.testbed import Setup

REFERENCE = ROOT / "bench" / "reference.json"
MODES = (GW_AS, GW_NS)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="failsoft benchmark smoke (loopback only)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (best kept)")
    parser.add_argument("--seconds", type=float, default=4.0, help="measuring window per phase")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up per phase (s)")
    parser.add_argument("--connections", type=int, default=32, help="closed-loop connections")
    parser.add_argument("--reference", type=Path, default=REFERENCE)
    parser.add_argument(
        "--margin", type=float, default=None, help="fraction of the reference ratio required"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="overall limit (s)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument(
        "--gateway-log-level",
        default="info",
        choices=("debug", "info", "warning", "error"),
        help="as in bench/run.py (info, as `failsoft serve` runs), so ratios compare alike",
    )
    parser.add_argument("--out", type=Path, help="also write what was measured as JSON")
    args = parser.parse_args(argv)
    for name in ("rounds", "seconds", "connections", "timeout"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name} must be positive")
    if args.warmup < 0:
        parser.error("--warmup must not be negative")
    return args


def load_reference(path: Path) -> dict[str, Any]:
    """The reference ratios (gw req/s / floor req/s per mode) and the default margin."""
    data = orjson.loads(path.read_bytes())
    ratios = data.get("ratio_to_floor")
    if not isinstance(ratios, dict) or not all(
        isinstance(ratios.get(mode), int | float) and ratios[mode] > 0 for mode in MODES
    ):
        raise ValueError(f"{path}: ratio_to_floor needs a positive number for {MODES}")
    margin = data.get("margin", 0.8)
    if not isinstance(margin, int | float) or not 0 < margin <= 1:
        raise ValueError(f"{path}: margin must be in (0, 1]")
    return {"ratio_to_floor": {m: float(ratios[m]) for m in MODES}, "margin": float(margin)}


def round_ratios(rows: list[dict[str, Any]]) -> dict[str, list[float | None]]:
    """Per mode, gw req/s / floor req/s of each round (None when the floor got nothing)."""
    out: dict[str, list[float | None]] = {mode: [] for mode in MODES}
    for number in sorted({r["round"] for r in rows}):
        floor = next(r for r in rows if r["round"] == number and r["path"] == FLOOR)
        for mode in MODES:
            gw = next(r for r in rows if r["round"] == number and r["path"] == mode)
            out[mode].append(gw["ok_per_s"] / floor["ok_per_s"] if floor["ok_per_s"] else None)
    return out


def judge(
    rows: list[dict[str, Any]], reference: dict[str, Any], margin: float
) -> tuple[bool, list[str]]:
    """Pass when no request failed and, per mode, the best round's ratio reaches
    `margin` x the reference ratio. Returns the verdict and the lines explaining it."""
    lines: list[str] = []
    ok = True
    errors = {f"round {r['round']} {r['path']}": r["errors"] for r in rows if r["error_count"]}
    if errors:
        ok = False
        lines.append(f"FAIL: request errors: {errors}")
    for mode, ratios in round_ratios(rows).items():
        kept = [r for r in ratios if r is not None]
        best = max(kept) if kept else None
        bound = margin * reference["ratio_to_floor"][mode]
        passed = best is not None and best >= bound
        ok = ok and passed
        lines.append(
            f"{'PASS' if passed else 'FAIL'}: {mode} / floor: best {_fmt(best)} "
            f"(rounds {' '.join(_fmt(r) for r in ratios)}), needs >= {bound:.3f} "
            f"({margin:g} x reference {reference['ratio_to_floor'][mode]:g})"
        )
    return ok, lines


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


async def _phases(bench: Bench, args: argparse.Namespace) -> list[dict[str, Any]]:
    s = bench.setup
    await warmup.warm(bench)
    cases = [
        (FLOOR, s.floor_port, openai_request(s.floor_port, "gpt-4o")),
        (GW_AS, s.gw_port, openai_request(s.gw_port, "gpt")),
        (GW_NS, s.gw_port, openai_request(s.gw_port, "gpt-ns")),
    ]
    for number in range(1, args.rounds + 1):
        for path, port, request in cases:
            await bench.measure(
                "throughput",
                {"round": number, "connections": args.connections, "path": path},
                closed_load(
                    port,
                    request,
                    concurrency=args.connections,
                    duration=args.seconds,
                    warmup=args.warmup,
                ),
            )
    rows: list[dict[str, Any]] = bench.results["throughput"]
    return rows


def _watchdog(setup: Setup, limit: float) -> threading.Timer:
    """Stop the children and exit 1 if the smoke outlives `limit`, whatever it waits on."""

    def expire() -> None:
        print(f"smoke: FAIL: not done within {limit:g} s; stopping", file=sys.stderr, flush=True)
        for child in setup.children:
            child.proc.kill()
        os._exit(1)

    timer = threading.Timer(limit, expire)
    timer.daemon = True
    timer.start()
    return timer


def run(args: argparse.Namespace) -> int:
    reference = load_reference(args.reference)
    margin = args.margin if args.margin is not None else reference["margin"]
    pinning = Pinning.plan(not args.no_pin)
    pinning.pin_self()
    print(f"smoke: pinning: {pinning.method}: {pinning.note}", flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="failsoft-smoke-") as tmp:
        setup = Setup(pinning, Path(tmp), args.gateway_log_level)
        timer = _watchdog(setup, args.timeout)
        durations = Durations.for_mode(True, 1.0)
        noise = Noise(max_other=1000.0, retries=0, quiet_timeout=1.0, sample=0.1)
        bench = Bench(setup, durations, noise, verbose=True)
        try:
            setup.start()
            try:
                import uvloop

                rows = uvloop.run(_phases(bench, args))
            except ImportError:
                rows = asyncio.run(_phases(bench, args))
            for child in setup.children:
                if not child.alive():
                    raise RuntimeError(f"{child.name} died:\n{child.log_tail()}")
        finally:
            setup.stop()
            timer.cancel()
    ok, lines = judge(rows, reference, margin)
    print(f"smoke: {len(rows)} phases in {time.monotonic() - started:.0f} s; c{args.connections}")
    for line in lines:
        print(f"smoke: {line}", flush=True)
    if args.out:
        args.out.write_bytes(
            orjson.dumps(
                {"rows": rows, "ratios": round_ratios(rows), "pass": ok, "margin": margin},
                option=orjson.OPT_INDENT_2,
            )
        )
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except Exception as exc:  # any setup failure is a failed smoke, said plainly
        print(f"smoke: FAIL: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
