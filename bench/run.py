"""failsoft benchmark: the gateway's added latency, throughput, streaming relay, memory and
failover cost, each measured against the simulator directly in the same run.

    python bench/run.py [--quick] [--out bench/results/NAME.json] [--compare REV]

`--compare REV` also runs REV's gateway and this one in A/B rounds of the same sitting;
bench/smoke.py is the two-minute version CI runs (ratios to the floor only).

Everything runs on 127.0.0.1. The gateway is pinned to one core; the simulator, the
stamping upstream and this process (the load generator) share the other. See
bench/README.md for the method and how to read the numbers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fsbench import session
from fsbench.settings import SECTIONS


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="failsoft gateway benchmark (loopback only)")
    parser.add_argument("--quick", action="store_true", help="short phases (about a minute)")
    parser.add_argument(
        "--out",
        type=Path,
        help="JSON results file (default bench/results/<time>[-quick].json)",
    )
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every phase duration")
    parser.add_argument("--rates", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--connections", type=int, default=16, help="pool size for fixed rates")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=SECTIONS,
        default=None,
        help="run only these sections (default: all; compare only with --compare)",
    )
    parser.add_argument(
        "--compare",
        metavar="REV",
        help="also run REV's gateway (git archive of its src) and this one, interleaved "
        "A/B in each round of throughput and 1,000 req/s; report ratios B/A",
    )
    parser.add_argument(
        "--compare-rounds",
        type=int,
        default=None,
        help="A/B rounds of --compare (default 3, quick 2)",
    )
    parser.add_argument(
        "--stream-rounds",
        type=int,
        default=3,
        help="interleaved rounds of the streaming and relay sections (each phase's window "
        "split over them; default 3)",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument(
        "--gateway-log-level", default="info", choices=("debug", "info", "warning", "error")
    )
    parser.add_argument("--quiet", action="store_true", help="no per-phase progress lines")
    parser.add_argument(
        "--max-other",
        type=float,
        default=15.0,
        help="%% of a core other processes may use during a phase before it is re-run",
    )
    parser.add_argument(
        "--retries", type=int, default=None, help="re-runs of a noisy phase (default 2, quick 0)"
    )
    parser.add_argument(
        "--quiet-timeout",
        type=float,
        default=None,
        help="longest wait for an idle machine before a phase (default 30 s, quick 2 s)",
    )
    args = parser.parse_args(argv)
    if args.only is None:
        args.only = [s for s in SECTIONS if s != "compare" or args.compare]
    elif args.compare and "compare" not in args.only:
        args.only.append("compare")  # asked for by --compare itself
    if "compare" in args.only and not args.compare:
        parser.error("--only compare needs --compare REV")
    if args.compare_rounds is None:
        args.compare_rounds = 2 if args.quick else 3
    if args.compare_rounds < 1:
        parser.error("--compare-rounds must be at least 1")
    if args.stream_rounds < 1:
        parser.error("--stream-rounds must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    return session.run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
