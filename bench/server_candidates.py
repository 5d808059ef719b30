"""HTTP server candidates for the gateway, on one pinned core: a "hello" ASGI app (it reads
the request body, answers 13 bytes with a content-length) under each server, loaded by
fsbench's closed-loop generator (keep-alive, no pipelining) from another core.

    python bench/server_candidates.py                          # every candidate available
    python bench/server_candidates.py --only failsoft uvicorn --connections 32 --duration 10
    python bench/server_candidates.py --granian /tmp/granian-venv/bin/python

Candidates: `failsoft` (uvicorn's server with the HTTP protocol failsoft.serve configures,
with failsoft's limits: server/protocol.py), `uvicorn` (uvicorn's own httptools protocol),
`granian-asgi` and `granian-rsgi` (granian 2.x, Rust, one worker, one runtime thread, with
the interpreter given by `--granian`, as granian is not a failsoft dependency). Each server
runs under `taskset -c 0`, the generator on core 1. Reported: requests per second and the
server's CPU time per request (utime + stime from /proc over the measured window, all
threads, divided by the requests answered in it).

`--src DIR` puts another failsoft source tree first on the server's path (e.g. an older
checkout's `src`, to measure the protocol it configured).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "candidates"))

import common
from apps import hello, hello_rsgi

CANDIDATES = ("failsoft", "uvicorn", "granian-asgi", "granian-rsgi")
rsgi_app = hello_rsgi
"""granian's target is `server_candidates:hello` or `server_candidates:rsgi_app`."""


def serve(candidate: str, port: int) -> None:
    """The server process (run pinned by the parent)."""
    if candidate in ("failsoft", "uvicorn"):
        import uvicorn

        options: dict[str, Any] = {
            "loop": "uvloop",
            "http": "httptools",
            "lifespan": "off",
            "access_log": False,
            "server_header": False,
            "date_header": False,
            "log_level": "warning",
        }
        if candidate == "failsoft":
            from failsoft.serve import _UVICORN_OPTIONS

            options = {**_UVICORN_OPTIONS, "lifespan": "off", "log_level": "warning"}
        uvicorn.run(hello, host="127.0.0.1", port=port, **options)
        return
    from granian import Granian

    interface = "rsgi" if candidate == "granian-rsgi" else "asgi"
    target = "server_candidates:rsgi_app" if interface == "rsgi" else "server_candidates:hello"
    Granian(
        target,
        address="127.0.0.1",
        port=port,
        interface=interface,
        workers=1,
        runtime_threads=1,
        loop="uvloop",
        http="1",
        log_enabled=False,
    ).serve()


def server_pid(proc: subprocess.Popen[bytes]) -> int:
    """The process that serves: granian serves from a child of the process started."""
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    pids = children.read_text().split() if children.exists() else []
    return int(pids[0]) if pids else proc.pid


def measure(args: argparse.Namespace, candidate: str) -> dict[str, float]:
    # Here, not at the top: a granian server process has none of the generator's packages.
    from fsbench.loadgen import build_request
    from fsbench.measure import closed_load
    from fsbench.procfs import cpu_ns

    port = common.free_port()
    python = args.granian if candidate.startswith("granian") else sys.executable
    env = dict(os.environ)
    paths = [str(Path(__file__).resolve().parent)]
    if args.src:
        paths.insert(0, args.src)
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
    command = [python, __file__, "--serve", candidate, "--port", str(port)]
    proc = subprocess.Popen(["taskset", "-c", "0", *command], env=env)
    try:
        common.wait_port(port, proc, 20.0)
        pid = server_pid(proc)
        request = build_request(port, "/", b'{"hello": "world"}')
        marks: dict[str, int] = {}

        def mark(name: str) -> None:
            marks[name] = cpu_ns(pid)

        load = closed_load(
            port,
            request,
            concurrency=args.connections,
            duration=args.duration,
            warmup=args.warmup,
        )
        tally = asyncio.run(load(mark))
    finally:
        proc.terminate()
        proc.wait(10)
    if tally.errors:
        print(f"  {candidate}: errors {dict(tally.errors)}", file=sys.stderr)
    per_request = (marks["end"] - marks["start"]) / max(tally.ok, 1) / 1000
    return {"rps": tally.ok / tally.window_s, "cpu_us": per_request}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", choices=CANDIDATES, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--only", nargs="*", choices=CANDIDATES, default=list(CANDIDATES))
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved; best is kept")
    parser.add_argument("--granian", default="/tmp/granian-venv/bin/python")
    parser.add_argument("--src", help="a failsoft source tree to put first on the path")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    os.sched_setaffinity(0, {1})
    candidates = [
        c for c in args.only if not c.startswith("granian") or Path(args.granian).exists()
    ]
    results: dict[str, list[dict[str, float]]] = {c: [] for c in candidates}
    for round_ in range(args.rounds):
        for candidate in candidates:
            result = measure(args, candidate)
            results[candidate].append(result)
            print(
                f"round {round_ + 1} {candidate:14} {result['rps']:9.0f} req/s "
                f"{result['cpu_us']:7.1f} µs CPU/request",
                flush=True,
            )
    print(f"\nbest of {args.rounds}, {args.connections} connections:")
    print(f"{'server':14} {'req/s':>9} {'µs CPU/req':>11}")
    for candidate, rows in results.items():
        rps = max(r["rps"] for r in rows)
        cpu = min(r["cpu_us"] for r in rows)
        print(f"{candidate:14} {rps:9.0f} {cpu:11.1f}")


if __name__ == "__main__":
    main()
