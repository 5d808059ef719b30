"""HTTP server candidates (issue 18): server CPU per request, one core, one trivial app.

Every candidate serves apps.py (read the 2,000-byte POST body, answer 600 bytes of JSON),
each in its own process pinned to core 0, all started at once (an idle one costs nothing):

- `door`: uvicorn (uvloop, httptools, no access log, no server/date headers, as serve.py
  sets it) with failsoft's DoorProtocol (src/failsoft/server/door.py) as `http=`;
- `uvicorn`: the same with plain `http="httptools"`;
- `granian-asgi` / `granian-rsgi`: granian, 1 worker, 1 runtime thread, single-threaded
  runtime, uvloop, HTTP/1 only, no access log, no websockets;
- `lean`: leanserver.py, a minimal ASGI protocol on httptools (a stand-in);
- `protocol`: failsoft.server.protocol's connection class as uvicorn's `http=`, when the
  package has that module (probed with importlib; skipped otherwise).

The load generator is this process, pinned to core 1: uvloop + httptools, 32 keep-alive
connections in a closed loop (a new request as soon as the answer ended). A measurement
is a warm-up, then `--duration` seconds between two readings of the server's CPU
(/proc/PID/stat utime+stime of the server and its children: granian's worker is one).
Rounds are interleaved: every candidate once per round, in a rotating order.

    /tmp/cand-venv/bin/python bench/candidates/servers.py [--rounds 3] [--duration 3]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import importlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402

CANDIDATES = ("door", "uvicorn", "granian-asgi", "granian-rsgi", "lean", "protocol")
CONNECTIONS = 32


def protocol_class() -> Any:
    """failsoft.server.protocol's uvicorn `http=` class, or None without that module."""
    try:
        module = importlib.import_module("failsoft.server.protocol")
    except ImportError:
        return None
    found = getattr(module, "HttpProtocol", None)
    if found is None:
        found = next(
            (v for v in vars(module).values()
             if isinstance(v, type) and issubclass(v, asyncio.Protocol)
             and v.__module__ == module.__name__),
            None,
        )  # fmt: skip
    return found


def serve(kind: str, port: int) -> None:
    """Run one uvicorn-based candidate (in the child process)."""
    import uvicorn
    from apps import asgi_app

    http: Any = "httptools"
    if kind == "door":
        from failsoft.server.door import DoorProtocol

        http = DoorProtocol
    elif kind == "protocol":
        http = protocol_class()
    config = uvicorn.Config(
        asgi_app, host=common.HOST, port=port, loop="uvloop", http=http, ws="none",
        lifespan="off", access_log=False, server_header=False, date_header=False,
        proxy_headers=False, log_config=None, log_level="warning", backlog=1024,
    )  # fmt: skip
    uvicorn.Server(config).run()


def command(kind: str, port: int) -> list[str]:
    if kind.startswith("granian"):
        interface = kind.split("-")[1]
        return [
            str(Path(sys.executable).parent / "granian"), "--interface", interface,
            "--host", common.HOST, "--port", str(port), "--workers", "1",
            "--runtime-threads", "1", "--runtime-mode", "st", "--loop", "uvloop",
            "--http", "1", "--no-ws", "--no-access-log", "--log-level", "warning",
            "--working-dir", str(HERE), f"apps:{interface}_app",
        ]  # fmt: skip
    if kind == "lean":
        return [sys.executable, str(HERE / "leanserver.py"), "--port", str(port)]
    return [sys.executable, __file__, "--serve", kind, "--port", str(port)]


PROBES = {
    "door": "from failsoft.server.door import DoorProtocol",
    "protocol": "import failsoft.server.protocol",
}
"""What a failsoft candidate needs (a checkout may have one and not the other)."""


def available(kind: str) -> bool:
    if kind in PROBES:
        import subprocess

        probe = subprocess.run(
            [sys.executable, "-c", PROBES[kind]], env=common.child_env(), capture_output=True
        )
        if probe.returncode:
            print(f"skipping {kind}: cannot `{PROBES[kind]}`", file=sys.stderr)
        return probe.returncode == 0
    if kind.startswith("granian"):
        return (Path(sys.executable).parent / "granian").exists()
    return True


def check(port: int, body: bytes) -> None:
    conn = http.client.HTTPConnection(common.HOST, port, timeout=10)
    conn.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
    resp = conn.getresponse()
    answer = resp.read()
    if resp.status != 200 or len(answer) != 600:
        raise RuntimeError(f"port {port}: {resp.status} {answer[:200]!r}")
    conn.close()


class Client(asyncio.Protocol):
    """One closed-loop connection of the load generator."""

    def __init__(self, request: bytes, state: dict[str, Any]) -> None:
        import httptools

        self.request = request
        self.state = state
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_message_complete(self) -> None:
        state = self.state
        if self.parser.get_status_code() == 200:
            state["n"] += 1
        else:
            state["errors"] += 1
        if state["run"] and self.transport is not None:
            self.transport.write(self.request)


async def load(port: int, pid: int, body: bytes, args: argparse.Namespace) -> dict[str, float]:
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: %s:%d\r\ncontent-type: application/json\r\n"
        b"authorization: Bearer sk-bench\r\ncontent-length: %d\r\n\r\n%s"
        % (common.HOST.encode(), port, len(body), body)
    )
    state: dict[str, Any] = {"n": 0, "errors": 0, "run": True}
    loop = asyncio.get_running_loop()
    conns = [
        (await loop.create_connection(lambda: Client(request, state), common.HOST, port))[0]
        for _ in range(CONNECTIONS)
    ]
    await asyncio.sleep(args.warmup)
    n0, cpu0, t0 = state["n"], common.tree_cpu_us(pid), time.perf_counter()
    await asyncio.sleep(args.duration)
    n1, cpu1, t1 = state["n"], common.tree_cpu_us(pid), time.perf_counter()
    state["run"] = False
    for transport in conns:
        transport.close()
    await asyncio.sleep(0.2)  # let the server see the connections go
    done = max(n1 - n0, 1)
    return {"rps": done / (t1 - t0), "cpu_us": (cpu1 - cpu0) / done, "errors": state["errors"]}


def main() -> None:
    parser = common.parser(__doc__ or "", CANDIDATES, duration=3.0, warmup=1.0)
    parser.add_argument("--serve", choices=("door", "uvicorn", "protocol"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    import uvloop

    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})
    kinds = [k for k in args.candidates if available(k)]
    body = common.request_body("gpt-4o", False)
    procs, ports = {}, {}
    with tempfile.TemporaryDirectory(prefix="cand-servers-") as tmp:
        try:
            for kind in kinds:
                ports[kind] = common.free_port()
                procs[kind] = common.start(command(kind, ports[kind]), 0, Path(tmp) / f"{kind}.log")
            for kind in kinds:
                common.wait_port(ports[kind], procs[kind])
                check(ports[kind], body)
            results: dict[str, list[dict[str, float]]] = {}
            loads = []
            for rnd in range(args.rounds):
                loads.append(common.loadavg())
                for kind in common.rotation(kinds, rnd):
                    row = uvloop.run(load(ports[kind], procs[kind].pid, body, args))
                    results.setdefault(kind, []).append(row)
                    line = f"{row['rps']:8,.0f} req/s {row['cpu_us']:6,.1f} µs/req"
                    print(f"round {rnd + 1} {kind:13} {line}", file=sys.stderr)
            loads.append(common.loadavg())
        finally:
            for proc in procs.values():
                common.stop(proc)
    report(args, kinds, results, loads)


def report(
    args: argparse.Namespace,
    kinds: list[str],
    results: dict[str, list[dict[str, float]]],
    loads: list[str],
) -> None:
    names = ["uvicorn", "httptools", "uvloop", "granian"]
    common.print_context(names, loads)
    print(f"rounds {args.rounds} x {args.duration}s; server pinned to core 0, load generator "
          f"({CONNECTIONS} connections) to core 1\n")  # fmt: skip
    print("| server | CPU µs/request | req/s | errors |")
    print("|---|---:|---:|---:|")
    for kind in kinds:
        rows = results.get(kind, [])
        cpu = common.summary([r["cpu_us"] for r in rows])
        rps = common.summary([r["rps"] for r in rows])
        print(f"| {kind} | {cpu} | {rps} | {sum(r['errors'] for r in rows):.0f} |")
    common.write_results(args.out, names, loads, results)


if __name__ == "__main__":
    main()
