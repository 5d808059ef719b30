"""failsoft outage benchmark: fixed-rate traffic through the gateway while the primary
model is overloaded (529) for a while, on the simulator's scenario timeline.

    python bench/outage.py [--quick] [--out bench/results/NAME.json]

60 s at 50 req/s (half of the requests streaming) against a virtual model whose primary
is gpt-4o and whose backup is gpt-4o-mini; the primary answers 529 from t=10 s to t=40 s
(`--quick`: 20 s, outage from 4 to 14 s). Prints caller success, latency before, during
and after the outage, amplification, attempts on the failing primary, the time to fail
over and to come back, and a per-second timeline, with the targets next to them (a miss
is reported, never an error). Everything runs on 127.0.0.1; the gateway is pinned like
the main benchmark. See bench/README.md, "The outage benchmark".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fsbench.outage import session
from fsbench.outage.plan import DEFAULT_CHUNK_DELAY


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="failsoft outage benchmark (loopback only)")
    parser.add_argument(
        "--quick", action="store_true", help="20 s run, outage from t=4 to t=14 s (smoke check)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="JSON results file (default bench/results/outage-<time>[-quick].json)",
    )
    parser.add_argument("--rate", type=float, default=50.0, help="client requests per second")
    parser.add_argument(
        "--ttft", type=float, default=0.0, help="simulator: seconds before the first token"
    )
    parser.add_argument(
        "--chunk-delay",
        type=float,
        default=DEFAULT_CHUNK_DELAY,
        help="simulator: seconds between tokens (default %(default)s: ~40 ms per answer)",
    )
    parser.add_argument(
        "--connections",
        type=int,
        help="keep-alive connections per kind of request (default: enough for the answer time)",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument(
        "--gateway-log-level", default="info", choices=("debug", "info", "warning", "error")
    )
    parser.add_argument(
        "--requests",
        action="store_true",
        help="also write every caller request and every upstream attempt to the JSON",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return session.run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
