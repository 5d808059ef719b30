"""failsoft soak: the gateway in its default config at a fixed open-loop rate for a long
run (issue 18: "flat RSS over a 30-minute run at 1,000 req/s", outside CI), its RSS
sampled every few seconds and judged for growth after a warm-up.

    python bench/soak.py                                  # 1,000 req/s for 30 minutes
    python bench/soak.py --duration 180 --warmup 30       # a 3-minute check that it works
    python bench/soak.py --mix plain=0.6,ns=0.2,stream=0.1,anthropic=0.1 --rate 500

Everything runs on 127.0.0.1, pinned as for bench/run.py (gateway on one core, simulator
and load generator on the other). See bench/README.md, "The flat-RSS soak".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fsbench.soak import session
from fsbench.soak.mix import DEFAULT_MIX, KINDS, parse_mix

DEFAULT_DURATION = 1800.0
MAX_DEFAULT_WARMUP = 300.0
"""Without --warmup: a sixth of the run, at most 5 minutes (300 s of a 30-minute run)."""


def _mix(text: str) -> dict[str, float]:
    try:
        return parse_mix(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="failsoft flat-RSS soak (loopback only)")
    parser.add_argument("--rate", type=float, default=1000.0, help="requests per second")
    parser.add_argument(
        "--duration", type=float, default=DEFAULT_DURATION, help="seconds of load (1800)"
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="seconds at the start whose RSS is not judged (default: a sixth of the "
        "duration, at most 300)",
    )
    parser.add_argument(
        "--mix",
        type=_mix,
        default=parse_mix(DEFAULT_MIX),
        help=f"KIND=WEIGHT,... with KIND in {', '.join(KINDS)} (default {DEFAULT_MIX})",
    )
    parser.add_argument(
        "--connections", type=int, default=16, help="keep-alive connections per kind"
    )
    parser.add_argument(
        "--sample-every", type=float, default=5.0, help="seconds between RSS samples"
    )
    parser.add_argument(
        "--out", type=Path, help="JSON file (default bench/results/soak-<time>.json)"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument(
        "--gateway-log-level", default="info", choices=("debug", "info", "warning", "error")
    )
    parser.add_argument("--quiet", action="store_true", help="no row per minute while running")
    args = parser.parse_args(argv)
    if not args.rate > 0:
        parser.error("--rate must be above 0")
    if not args.duration > 0:
        parser.error("--duration must be above 0")
    if args.warmup is None:
        args.warmup = min(MAX_DEFAULT_WARMUP, args.duration / 6)
    if not 0 <= args.warmup < args.duration:
        parser.error("--warmup must be at least 0 and shorter than --duration")
    if not 0 < args.sample_every <= args.duration:
        parser.error("--sample-every must be above 0 and at most --duration")
    if args.connections < 1:
        parser.error("--connections must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    return session.run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
