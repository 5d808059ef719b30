"""failsoft outage benchmark: fixed-rate traffic through the gateway while the primary
model fails for a while, on the simulator's scenario timeline.

    python bench/outage.py [--quick] [--fault {overload,silent,cut,all}] [--out NAME.json]

A virtual model whose primary is gpt-4o and whose backup is gpt-4o-mini, with failsoft's
default resilience settings. `--fault` picks what the primary does during the outage:

* overload (default): answers 529; 60 s at 50 req/s (every other request streaming), the
  outage from t=10 s to t=40 s (`--quick`: 20 s, outage from 4 to 14 s);
* silent: accepts connections and never answers; same timing and load, but `--quick`
  runs 26 s, to see the primary come back;
* cut: cuts every stream after 3 content events; both models give the same fixed answer,
  and each caller's text is checked word for word; 40 s at 20 streams/s, the outage from
  t=10 s to t=26 s (`--quick`: 20 s, outage from 4 to 9 s);
* all: the three, one after another, each on a fresh simulator and gateway.

Prints caller success, latency before, during and after the outage, amplification,
attempts on the failing primary, the time to fail over and to come back, and a per-second
timeline, with the kind's targets next to them (a miss is reported, never an error); with
`cut`, the share of callers that got the exact answer. Everything runs on 127.0.0.1; the
gateway is pinned like the main benchmark. See bench/README.md, "The outage benchmark".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fsbench.outage import session
from fsbench.outage.faults import FAULTS
from fsbench.outage.plan import DEFAULT_CHUNK_DELAY


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="failsoft outage benchmark (loopback only)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="short runs (20 s; silent: 26 s), outage from t=4 to t=14 s (cut: to t=9 s): "
        "a smoke check",
    )
    parser.add_argument(
        "--fault",
        choices=(*FAULTS, "all"),
        default="overload",
        help="what the primary does during the outage: answer 529 (overload), never answer "
        "(silent), cut its streams (cut), or each in turn (all); default %(default)s",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="JSON results file (default bench/results/outage-<time>-<fault>[-quick].json; "
        "with --fault all, NAME-<fault>.json per fault)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        help="client requests per second (default 50; cut: 20)",
    )
    parser.add_argument(
        "--mix",
        choices=("alternate", "streams"),
        help="plain and streaming requests in turn, or streams only (default: alternate; "
        "cut: streams)",
    )
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
