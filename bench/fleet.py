"""What a frozen Redis costs callers when a fleet shares state through it (docs/fleet.md).

    python bench/fleet.py [--rate 48] [--rounds 6] [--seconds 5] [--cache] [--out NAME.json]

Three `failsoft serve` processes share breakers and budgets through a private
`redis-server` (started here, on a free port) and history through one SQLite file, in front
of the simulator (`failsoft sim`). Fixed-rate traffic (`--rate` requests a second, spread
evenly over the three) alternates, `--rounds` times, `--seconds` with Redis healthy and
`--seconds` with Redis frozen (SIGSTOP), so that the noise of a busy machine falls on both
alike; the latencies are pooled per kind of phase. Each request has its own prompt.
`--cache` also points the answer cache at the same Redis (its calls time out after 50 ms);
`--control` never freezes Redis, to show the machine's noise.

Prints p50, p99, p99.9 and the maximum per phase and the p99 added while Redis is frozen
(frozen minus healthy, same run); the target is at most 2 ms (PASS/MISS never fails the
script). Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

TARGET_MS = 2.0
SAVE_NOTHING = ("--save", "", "--appendonly", "no")
CONFIG = """
providers:
  sim: {{dialect: openai, base_url: "http://127.0.0.1:{sim}/v1", api_key: "sk-bench"}}
models:
  m: [sim/gpt-4o, sim/gpt-4o-mini]
store: {{url: "sqlite:///{store}"}}
{state}
{cache}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer")
        time.sleep(0.1)


def fleet_up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=1) as resp:
            body = json.loads(resp.read())
    except (OSError, ValueError):
        return False
    return bool(body.get("checks", {}).get("state", {}).get("ok"))


async def phase(urls: list[str], rate: float, seconds: float, offset: int) -> list[float]:
    """Latencies (s) of `rate × seconds` requests sent on time; raises if any failed."""
    loop = asyncio.get_running_loop()
    took: list[float] = []
    failed = 0

    async def one(session: aiohttp.ClientSession, url: str, n: int) -> None:
        nonlocal failed
        began = loop.time()
        body = {"model": "m", "messages": [{"role": "user", "content": f"question {n}"}]}
        try:
            async with session.post(url + "/v1/chat/completions", json=body) as resp:
                await resp.read()
                ok = resp.status == 200
        except (aiohttp.ClientError, TimeoutError):
            ok = False
        took.append(loop.time() - began)
        failed += not ok

    start = loop.time()
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = []
        for i in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, start + i / rate - loop.time()))
            tasks.append(asyncio.create_task(one(session, urls[i % len(urls)], offset + i)))
        await asyncio.gather(*tasks)
    if failed:
        print(f"  {failed} requests failed")
    return took


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(took: list[float]) -> dict[str, float]:
    return {
        "requests": len(took),
        "p50_ms": quantile(took, 0.5) * 1000,
        "p99_ms": quantile(took, 0.99) * 1000,
        "p999_ms": quantile(took, 0.999) * 1000,
        "max_ms": max(took) * 1000,
        "over_40ms": sum(t >= 0.040 for t in took),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=48.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--cache", action="store_true", help="the answer cache in Redis too")
    parser.add_argument(
        "--control",
        action="store_true",
        help="never freeze Redis (an A/A run: the difference is the machine's noise)",
    )
    parser.add_argument(
        "--no-state",
        action="store_true",
        help="no `state` section (Redis frozen all the same): what freezing costs anyway",
    )
    parser.add_argument("--out", help="write the figures to this JSON file")
    args = parser.parse_args(argv)

    python = sys.executable
    src = str(Path(__file__).resolve().parent.parent / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs: list[subprocess.Popen[bytes]] = []
    tmp = Path(tempfile.mkdtemp(prefix="failsoft-fleet-bench-"))
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    try:
        redis_port, sim_port = free_port(), free_port()
        redis = subprocess.Popen(
            ["redis-server", *("--port", str(redis_port), "--bind", "127.0.0.1"), *SAVE_NOTHING],
            **quiet,  # type: ignore[call-overload]
        )
        procs.append(redis)
        procs.append(
            subprocess.Popen(
                [python, "-m", "failsoft", "sim", "--port", str(sim_port)], env=env, **quiet
            )
        )
        state = f'state: {{url: "redis://127.0.0.1:{redis_port}/0", prefix: "bench:"}}'
        cache = f"cache: {{backend: redis, url: 'redis://127.0.0.1:{redis_port}/1'}}"
        config = tmp / "failsoft.yaml"
        config.write_text(
            CONFIG.format(
                sim=sim_port,
                store=tmp / "shared.db",
                state=state if not args.no_state else "",
                cache=cache if args.cache else "",
            )
        )
        ports = [free_port() for _ in range(3)]
        for port in ports:
            cmd = [python, "-m", "failsoft", "serve", "-c", str(config), "--port", str(port)]
            procs.append(
                subprocess.Popen([*cmd, "--log-level", "warning"], env=env, cwd=tmp, **quiet)
            )
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        wait_http(f"http://127.0.0.1:{sim_port}/v1/models")
        for url in urls:
            wait_http(url + "/healthz")
        deadline = time.monotonic() + 20
        while not args.no_state and not all(fleet_up(url) for url in urls):
            if time.monotonic() > deadline:
                raise RuntimeError("the gateways did not join the fleet")
            time.sleep(0.1)

        results: dict[str, Any] = {
            "rate": args.rate,
            "seconds": args.seconds,
            "rounds": args.rounds,
            "cache": args.cache,
            "control": args.control,
            "no_state": args.no_state,
        }
        print(
            f"3 gateways, {args.rate:g} req/s, {args.rounds} × ({args.seconds:g} s Redis "
            f"healthy, {args.seconds:g} s frozen)"
            + (", answer cache in Redis" if args.cache else "")
            + (", CONTROL: never frozen" if args.control else "")
            + (", NO state section" if args.no_state else "")
        )
        asyncio.run(phase(urls, args.rate, 3, 0))  # warm-up
        healthy: list[float] = []
        frozen: list[float] = []
        n = 10_000
        for _ in range(args.rounds):
            healthy += asyncio.run(phase(urls, args.rate, args.seconds, n))
            if not args.control:
                os.kill(redis.pid, signal.SIGSTOP)
            try:
                frozen += asyncio.run(phase(urls, args.rate, args.seconds, n + 1000))
            finally:
                os.kill(redis.pid, signal.SIGCONT)
            n += 2000
        for name, took in (("healthy", healthy), ("frozen", frozen)):
            results[name] = row = summary(took)
            print(
                f"  Redis {name:8} p50 {row['p50_ms']:7.2f} ms  p99 {row['p99_ms']:7.2f} ms  "
                f"p99.9 {row['p999_ms']:7.2f} ms  max {row['max_ms']:7.2f} ms  "
                f"≥ 40 ms: {row['over_40ms']} of {row['requests']}"
            )
        added = results["frozen"]["p99_ms"] - results["healthy"]["p99_ms"]
        results["added_p99_ms"] = added
        verdict = "PASS" if added <= TARGET_MS else "MISS"
        print(
            f"  added p99 while Redis is frozen: {added:+.2f} ms (target ≤ {TARGET_MS:g}) {verdict}"
        )
        if args.out:
            Path(args.out).write_text(json.dumps(results, indent=2))
    finally:
        for proc in reversed(procs):
            if proc is procs[0]:
                os.kill(proc.pid, signal.SIGCONT)
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
