"""Made-up model names (issue 17): what N requests naming `openai/x-<uuid>` cost, and how
long `/metrics` and `/status` then take to render.

    python bench/made_up_names.py [--names 5000] [--direct "*"] [--components 256]

Starts the simulator and a gateway in this process (threads), warms up, sends the names
through 8 client threads, runs one health evaluation, then prints: RSS growth, the
statuses seen, upstream requests, health components, /metrics series, and the median and
worst time of `GET /metrics` and `GET /status/api/v2/summary.json`, and of a `/healthz`
sent while each renders (the render runs on the event loop: a slow one holds every other
request). `--direct "*"` lets every name through to the simulator (which answers them all),
so the bound on direct components is full. 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from failsoft.config import parse_config
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer

KEY = "sk-bench-names"
CONFIG = """
providers:
  openai: {{dialect: openai, base_url: "{sim}/v1", api_key: "{key}"{direct}}}
  anthropic: {{dialect: anthropic, base_url: "{sim}", api_key: "{key}"}}
models:
  gpt: [openai/gpt-4o, openai/gpt-4o-mini]
  claude: [anthropic/claude-opus-4-7]
{health}
"""


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def call(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    started = time.perf_counter()
    headers = {"content-type": "application/json", "authorization": "Bearer x"}
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    took = time.perf_counter() - started
    conn.close()
    return resp.status, data, took


def chat(port: int, model: str) -> int:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
    return call(port, "POST", "/v1/chat/completions", json.dumps(body).encode())[0]


def render(port: int, path: str, rounds: int) -> tuple[list[float], list[float]]:
    """Times of `path`, and of a /healthz sent just after each request for it."""
    own, healthz = [], []
    for _ in range(rounds):
        found: list[float] = []

        def fetch(into: list[float] = found) -> None:
            into.append(call(port, "GET", path)[2])

        t = threading.Thread(target=fetch)
        t.start()
        healthz.append(call(port, "GET", "/healthz")[2])
        t.join()
        own.append(found[0])
    return own, healthz


def ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:.1f} ms, worst {max(values) * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--names", type=int, default=5000)
    parser.add_argument("--direct", default=None, help='a `direct` pattern, e.g. "*"')
    parser.add_argument("--components", type=int, default=None, help="max_direct_components")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # a line per refused request is not what is measured
    direct = "" if args.direct is None else f', direct: ["{args.direct}"]'
    health = (
        "" if args.components is None else f"health: {{max_direct_components: {args.components}}}"
    )
    with SimServer(api_key=KEY).run_in_thread() as sim:
        text = CONFIG.format(sim=sim.url, key=KEY, direct=direct, health=health)
        with GatewayThread(parse_config(text)).running() as gw:
            port = int(gw.url.rsplit(":", 1)[1])
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda _: chat(port, "gpt"), range(50)))
                before = rss_mb()
                started = time.perf_counter()
                names = [f"openai/x-{uuid.uuid4()}" for _ in range(args.names)]
                statuses = list(pool.map(lambda n: chat(port, n), names))
                took = time.perf_counter() - started
            grown = rss_mb() - before
            evaluated = time.perf_counter()
            gw.call(gw.runtime.health.evaluate(), timeout=600)
            evaluated = time.perf_counter() - evaluated
            upstream = sum(1 for r in sim.requests() if r.model.startswith("x-"))
            counts: dict[int, int] = {}
            for s in statuses:
                counts[s] = counts.get(s, 0) + 1
            _, metrics, _ = call(port, "GET", "/metrics")
            series = sum(1 for line in metrics.splitlines() if line and not line.startswith(b"#"))
            print(
                f"{args.names} names in {took:.1f} s: statuses {counts}, upstream calls {upstream}"
            )
            print(f"RSS grew {grown:.0f} MB (now {rss_mb():.0f} MB)")
            print(f"health components: {len(gw.runtime.health.components)}")
            print(f"one health evaluation: {evaluated:.2f} s")
            print(f"/metrics series: {series}")
            for path in ("/metrics", "/status/api/v2/summary.json", "/status"):
                own, healthz = render(port, path, args.rounds)
                print(f"GET {path}: {ms(own)}; /healthz meanwhile: {ms(healthz)}")


if __name__ == "__main__":
    main()
