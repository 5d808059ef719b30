"""Upstream client candidates (issue 18): CPU per request of the client process, one core.

Each measurement is a fresh worker process (`--worker`), pinned to core 0, running one
candidate on uvloop at a fixed concurrency in a closed loop: a warm-up, then `--duration`
seconds between two readings of its own CPU (getrusage: user + system, all threads, so the
Rust clients' runtime threads count). The upstreams are pinned to core 1:

- the failsoft simulator (`python -m failsoft sim`): POST /v1/chat/completions, 2,000-byte
  body; `json` = non-streaming answer, `sse` = a stream of 50 content events read to its end;
- tinyserver.py: a fixed 600-byte JSON over TLS with keep-alive (`tls`), over TLS with a new
  connection per request (`tls-new`), and over plain TCP with a new connection (`tcp-new`).

Rounds are interleaved (every candidate once per scenario per round, in a rotating order);
the tables give the median and range over rounds. Usage (see bench/README.md):

    /tmp/cand-venv/bin/python bench/candidates/clients.py [--rounds 3] [--duration 2]
        [--candidates aiohttp minimal pyreqwest rnet failsoft] [--scenarios json-c1 ...]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402

HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-bench"}
SIM_MODELS = {"bench-json": 16, "bench-sse": 46}  # + the 4-word prefix: 20 / 50 events
SCENARIOS: dict[str, tuple[str, bool, int]] = {
    # name: (upstream, stream, concurrency)
    "json-c1": ("sim", False, 1),
    "json-c32": ("sim", False, 32),
    "sse-c1": ("sim", True, 1),
    "sse-c32": ("sim", True, 32),
    "tls-c1": ("tls", False, 1),
    "tls-new-c1": ("tls-new", False, 1),
    "tcp-new-c1": ("tcp-new", False, 1),
}
CANDIDATES = ("aiohttp", "minimal", "pyreqwest", "rnet", "failsoft")


# Candidates: open(cafile), request(url, body, stream) -> status (body read to its end), close().


class Aiohttp:
    """As src/failsoft/transport/http.py configures it: one session, TCPConnector without a
    limit, auto_decompress=False, no session timeout."""

    async def open(self, cafile: str | None) -> None:
        import aiohttp

        context = ssl.create_default_context(cafile=cafile) if cafile else True
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30, ssl=context),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
            read_bufsize=1 << 16,
            timeout=aiohttp.ClientTimeout(total=None),
        )

    async def request(self, url: str, body: bytes, stream: bool) -> int:
        async with self.session.post(url, data=body, headers=HEADERS) as resp:
            if not stream:
                await resp.read()
                return resp.status
            async for _chunk in resp.content.iter_any():
                pass
            return resp.status

    async def close(self) -> None:
        await self.session.close()


class Minimal:
    """minclient.py: httptools + asyncio protocol, keep-alive, nothing else."""

    async def open(self, cafile: str | None) -> None:
        import minclient

        self.client = minclient.Client(
            ssl.create_default_context(cafile=cafile) if cafile else None
        )

    async def request(self, url: str, body: bytes, stream: bool) -> int:
        resp = await self.client.post(url, HEADERS, body)
        if not stream:
            await resp.read()
            return resp.status
        while await resp.read_chunk():
            pass
        return resp.status

    async def close(self) -> None:
        await self.client.close()


class Pyreqwest:
    async def open(self, cafile: str | None) -> None:
        from pyreqwest.client import ClientBuilder

        builder = ClientBuilder().no_proxy().gzip(False).brotli(False).zstd(False).deflate(False)
        if cafile:
            builder = builder.add_root_certificate_pem(Path(cafile).read_bytes())  # noqa: ASYNC240
        self.client = builder.build()

    async def request(self, url: str, body: bytes, stream: bool) -> int:
        builder = self.client.post(url).headers(HEADERS).body_bytes(body)
        if not stream:
            resp = await builder.build().send()
            await resp.bytes()
            return resp.status
        async with builder.build_streamed() as resp:
            while await resp.body_reader.read_chunk() is not None:
                pass
            return resp.status

    async def close(self) -> None:
        await self.client.close()


class Rnet:
    async def open(self, cafile: str | None) -> None:
        import rnet

        self.client = rnet.Client(
            no_proxy=True,
            gzip=False,
            brotli=False,
            deflate=False,
            zstd=False,
            verify=Path(cafile) if cafile else True,
        )

    async def request(self, url: str, body: bytes, stream: bool) -> int:
        resp = await self.client.post(url, body=body, headers=HEADERS)
        if not stream:
            await resp.bytes()
            return int(resp.status)
        async with resp.stream() as streamer:
            async for _chunk in streamer:
                pass
        return int(resp.status)

    async def close(self) -> None:
        pass


class Failsoft:
    """failsoft.transport.http.Transport as the package has it (whatever it is built on);
    TLS trust through SSL_CERT_FILE (set by the parent), as the package has no CA option."""

    async def open(self, cafile: str | None) -> None:
        from failsoft.transport.http import Transport

        self.transport = Transport()
        await self.transport.start()

    async def request(self, url: str, body: bytes, stream: bool) -> int:
        up = await self.transport.post(url, HEADERS, body, connect_timeout=5.0)
        while await up.readany():
            pass
        up.release()
        return int(up.status)

    async def close(self) -> None:
        await self.transport.close()


KINDS: dict[str, Any] = {
    "aiohttp": Aiohttp,
    "minimal": Minimal,
    "pyreqwest": Pyreqwest,
    "rnet": Rnet,
    "failsoft": Failsoft,
}


async def work(args: argparse.Namespace) -> dict[str, float]:
    candidate = KINDS[args.worker]()
    await candidate.open(args.cafile)
    body = common.request_body("bench-sse" if args.stream else "bench-json", args.stream)
    state = {"n": 0, "errors": 0, "run": True}

    async def loop() -> None:
        while state["run"]:
            try:
                if await candidate.request(args.url, body, args.stream) != 200:
                    raise RuntimeError("not a 200")
                state["n"] += 1
            except Exception as exc:
                if not state["errors"]:
                    print(f"first error: {exc!r}", file=sys.stderr)
                state["errors"] += 1
                if state["errors"] > 100:
                    raise

    tasks = [asyncio.create_task(loop()) for _ in range(args.concurrency)]
    await asyncio.sleep(args.warmup)
    n0, cpu0, t0 = state["n"], common.self_cpu_us(), time.perf_counter()
    await asyncio.sleep(args.duration)
    n1, cpu1, t1 = state["n"], common.self_cpu_us(), time.perf_counter()
    state["run"] = False
    await asyncio.gather(*tasks, return_exceptions=True)
    await candidate.close()
    done = max(n1 - n0, 1)
    return {"rps": done / (t1 - t0), "cpu_us": (cpu1 - cpu0) / done, "errors": state["errors"]}


def worker_main(args: argparse.Namespace) -> None:
    import uvloop

    print(json.dumps(uvloop.run(work(args))))


def sim_models(port: int) -> None:
    for model, words in SIM_MODELS.items():
        conn = http.client.HTTPConnection(common.HOST, port, timeout=10)
        conn.request("POST", "/_sim/models", json.dumps({"model": model, "answer_words": words}))
        resp = conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"simulator refused {model}: {resp.read()!r}")
        conn.close()


def main() -> None:
    parser = common.parser(__doc__ or "", CANDIDATES, duration=2.0, warmup=0.5)
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    parser.add_argument(
        "--sim-python", default=sys.executable, help="python that runs the simulator"
    )
    # worker mode (one measurement; used by the parent)
    parser.add_argument("--worker", choices=CANDIDATES, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--stream", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--cafile", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args)
        return
    candidates = [c for c in args.candidates if available(c)]
    with tempfile.TemporaryDirectory(prefix="cand-clients-") as tmp:
        folder = Path(tmp)
        ca, cert, key = common.make_cert(folder)
        ports = {name: common.free_port() for name in ("sim", "tls", "tls-new", "tcp-new")}
        sim = common.start(
            [args.sim_python, "-m", "failsoft", "sim", "--port", str(ports["sim"])],
            1,
            folder / "sim.log",
        )
        tiny = common.start(
            [sys.executable, str(HERE / "tinyserver.py"), "--cert", str(cert), "--key", str(key),
             "--tls-port", str(ports["tls"]), "--tls-close-port", str(ports["tls-new"]),
             "--close-port", str(ports["tcp-new"])],
            1,
            folder / "tiny.log",
        )  # fmt: skip
        try:
            for name in ports:
                common.wait_port(ports[name], sim if name == "sim" else tiny)
            sim_models(ports["sim"])
            results = measure(args, candidates, ports, str(ca))
        finally:
            common.stop(sim)
            common.stop(tiny)
    report(args, candidates, results)


def available(name: str) -> bool:
    module = {"minimal": "httptools", "failsoft": "failsoft.transport.http"}.get(name, name)
    probe = subprocess.run(
        [sys.executable, "-c", f"import {module}"], env=common.child_env(), capture_output=True
    )
    if probe.returncode:
        print(f"skipping {name}: cannot import {module}", file=sys.stderr)
    return probe.returncode == 0


def tls_stats(port: int) -> dict[str, int]:
    conn = http.client.HTTPConnection(common.HOST, port, timeout=10)
    conn.request("GET", "/_stats")
    stats: dict[str, int] = json.loads(conn.getresponse().read())
    conn.close()
    return stats


def measure(
    args: argparse.Namespace, candidates: list[str], ports: dict[str, int], cert: str
) -> dict[tuple[str, str], list[dict[str, float]]]:
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    loads = []
    for rnd in range(args.rounds):
        loads.append(common.loadavg())
        for index, scenario in enumerate(args.scenarios):
            upstream, stream, concurrency = SCENARIOS[scenario]
            tls = upstream.startswith("tls")
            url = f"{'https' if tls else 'http'}://{common.HOST}:{ports[upstream]}/v1/chat/completions"
            for name in common.rotation(candidates, rnd + index):
                cmd = [sys.executable, __file__, "--worker", name, "--url", url,
                       "--stream", str(int(stream)), "--concurrency", str(concurrency),
                       "--duration", str(args.duration), "--warmup", str(args.warmup)]  # fmt: skip
                env = common.child_env()
                if tls:
                    cmd += ["--cafile", cert]
                    env["SSL_CERT_FILE"] = cert  # for the `failsoft` candidate only
                before = tls_stats(ports["tcp-new"]) if upstream == "tls-new" else {}
                done = subprocess.run(
                    common.pin_cmd(0, cmd), env=env, capture_output=True, text=True
                )
                if done.returncode:
                    print(f"{name} {scenario}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
                    continue
                row = json.loads(done.stdout.strip().splitlines()[-1])
                if row["errors"]:
                    print(done.stderr[-500:], file=sys.stderr)
                if before:
                    after = tls_stats(ports["tcp-new"])
                    handshakes = {k: after[k] - before[k] for k in after}
                    row["resumed"] = handshakes["resumed"] / max(sum(handshakes.values()), 1)
                results.setdefault((name, scenario), []).append(row)
                line = f"{row['rps']:8,.0f} req/s {row['cpu_us']:7,.0f} µs/req"
                print(f"round {rnd + 1} {scenario:11} {name:9} {line}", file=sys.stderr)
    args.loads = [*loads, common.loadavg()]
    return results


def report(
    args: argparse.Namespace,
    candidates: list[str],
    results: dict[tuple[str, str], list[dict[str, float]]],
) -> None:
    names = ["aiohttp", "httptools", "uvloop", "orjson", "pyreqwest", "rnet", "cryptography"]
    common.print_context(names, args.loads)
    print(
        f"rounds {args.rounds} x {args.duration}s; client pinned to core 0, upstreams to core 1\n"
    )
    for metric, title in (("cpu_us", "client CPU µs per request"), ("rps", "req/s")):
        print(f"{title}, median (min-max) over rounds\n")
        print("| candidate | " + " | ".join(args.scenarios) + " |")
        print("|---|" + "---:|" * len(args.scenarios))
        for name in candidates:
            cells = [
                common.summary([r[metric] for r in results.get((name, s), [])])
                for s in args.scenarios
            ]
            print(f"| {name} | " + " | ".join(cells) + " |")
        print()
    for name in candidates:
        resumed = [r.get("resumed", 0.0) for r in results.get((name, "tls-new-c1"), [])]
        if resumed:
            print(f"{name}: TLS sessions resumed on new connections: {max(resumed):.0%}")
    common.write_results(
        args.out, names, args.loads, {f"{n} {s}": rows for (n, s), rows in results.items()}
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
