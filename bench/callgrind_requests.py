"""Instructions per request, counted with callgrind: repeatable where wall-clock A/B runs on a
shared machine are not.

The gateway runs under valgrind with instrumentation off; after 50 warm-up requests it is
switched on for N non-streaming requests through `gpt: [sim/gpt-4o, sim/gpt-4o-mini]` (the
simulator and this client run outside valgrind; `--model gpt-ns` for targets with
`always_stream: false`, `gemini` / `responses` for those upstreams; `--words 500` for longer
answers; `--concurrency 16` sends them on 16 connections at once), then it
counts 8 s of the gateway's idle work (health evaluation, ~0.5-0.9 M instructions/s) and
subtracts that rate over the requests' wall time.

    python bench/callgrind_requests.py --src src --requests 1000 --extra "log: {access: false}"

`--stream` makes them streaming requests whose answer the simulator paces (`--chunk-delay`,
`--words`), so that events arrive one by one as in bench/run.py's relay section; the
instructions are then also given per SSE event the caller received.

    python bench/callgrind_requests.py --src src --requests 100 --stream

`--anthropic` sends them to `/v1/messages` instead (with `--model claude`: an Anthropic
caller on an Anthropic target, nothing translated).
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

CONFIG = """
providers:
  sim: {{dialect: openai, base_url: "http://127.0.0.1:{sim}/v1", api_key: "k"}}
  simNS: {{dialect: openai, base_url: "http://127.0.0.1:{sim}/v1", api_key: "k",
          always_stream: false}}
  simG: {{dialect: gemini, base_url: "http://127.0.0.1:{sim}", api_key: "k"}}
  simR: {{dialect: openai, api: responses, base_url: "http://127.0.0.1:{sim}/v1", api_key: "k"}}
  simA: {{dialect: anthropic, base_url: "http://127.0.0.1:{sim}", api_key: "k"}}
models:
  claude: [simA/claude-sonnet-4-5]
  gpt: [sim/gpt-4o, sim/gpt-4o-mini]
  gpt-ns: [simNS/gpt-4o, simNS/gpt-4o-mini]
  gemini: [simG/gemini-2.5-flash]
  responses: [simR/gpt-4.1]
{extra}
"""


def _wait_for(port: int, seconds: float = 300.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listening on {port} after {seconds:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--src", default="src", help="the failsoft sources to measure")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--extra", default="", help="config appended (YAML)")
    parser.add_argument("--port", type=int, default=19400)
    parser.add_argument(
        "--model",
        default="gpt",
        help="gpt, gpt-ns (always_stream: false), gemini or responses (a Gemini or Responses "
        "upstream, the answer translated to a chat.completion), or claude (an Anthropic "
        "target: translated)",
    )
    parser.add_argument(
        "--words", type=int, help="the simulator's answer_words (default 12; 16 with --stream)"
    )
    parser.add_argument("--concurrency", type=int, default=1, help="connections at once")
    parser.add_argument("--stream", action="store_true", help="streaming requests (relay)")
    parser.add_argument("--chunk-delay", type=float, default=0.002, help="with --stream")
    parser.add_argument(
        "--anthropic",
        action="store_true",
        help="an Anthropic caller (POST /v1/messages): with --model claude, no translation",
    )
    args = parser.parse_args()
    path = "/v1/messages" if args.anthropic else "/v1/chat/completions"
    sim_port = args.port + 1
    work = tempfile.mkdtemp(prefix="failsoft-callgrind-")
    config = os.path.join(work, "failsoft.yaml")
    with open(config, "w") as f:
        f.write(CONFIG.format(sim=sim_port, extra=args.extra))
    env = dict(os.environ, PYTHONPATH=os.path.abspath(args.src))
    out = os.path.join(work, "callgrind.out")
    quiet = subprocess.DEVNULL
    sim = subprocess.Popen(
        [sys.executable, "-m", "failsoft", "sim", "--port", str(sim_port)],
        env=env,
        stdout=quiet,
        stderr=quiet,
    )
    command = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
    command += [f"--callgrind-out-file={out}", sys.executable, "-m", "failsoft", "serve"]
    command += ["-c", config, "--port", str(args.port)]
    with open(os.path.join(work, "gateway.log"), "w") as log:
        gateway = subprocess.Popen(command, env=env, stdout=quiet, stderr=log, cwd=work)
    try:
        _wait_for(sim_port)
        _wait_for(args.port)
        hi = [{"role": "user", "content": "hi " * 50}]
        request: dict[str, object] = {"model": args.model, "messages": hi}
        if args.anthropic:
            request["max_tokens"] = 1024
        if args.stream:
            request["stream"] = True
            _pace(sim_port, args.chunk_delay, 16 if args.words is None else args.words)
        body = json.dumps(request)
        conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=60)
        events = 0

        def send(count: int) -> None:
            nonlocal events
            for _ in range(count):
                headers = {"content-type": "application/json"}
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                events += response.read().count(b"\n\n")
                assert response.status == 200, response.status

        if args.words is not None and not args.stream:
            for name in ("gpt-4o", "gpt-4o-mini", "gemini-2.5-flash", "gpt-4.1"):
                setting = json.dumps({"model": name, "answer_words": args.words})
                control_conn = http.client.HTTPConnection("127.0.0.1", sim_port, timeout=60)
                control_conn.request("POST", "/_sim/models", body=setting)
                assert control_conn.getresponse().status == 200
                control_conn.close()
        send(50)
        events = 0
        control = ["callgrind_control", "-i"]
        subprocess.run([*control, "on", str(gateway.pid)], check=True, stdout=quiet, stderr=quiet)
        started = time.monotonic()
        if args.concurrency > 1:
            asyncio.run(_concurrent(args.port, body, args.requests, args.concurrency, path))
        else:
            send(args.requests)
        wall = time.monotonic() - started
        dump = ["callgrind_control", "-d", str(gateway.pid)]
        subprocess.run(dump, check=True, stdout=quiet, stderr=quiet)
        idle_started = time.monotonic()
        time.sleep(8)
        subprocess.run(dump, check=True, stdout=quiet, stderr=quiet)
        idle_wall = time.monotonic() - idle_started
        subprocess.run([*control, "off", str(gateway.pid)], check=True, stdout=quiet, stderr=quiet)
        conn.close()
    finally:
        gateway.send_signal(signal.SIGINT)
        gateway.wait()
        sim.terminate()
        sim.wait()
    busy, idle = _totals(out)[:2]
    rate = idle / idle_wall
    net = busy - rate * wall
    print(
        f"{net / args.requests / 1e6:.3f} M instructions per request net of idle work "
        f"(raw {busy / args.requests / 1e6:.3f} M; idle {rate / 1e6:.2f} M/s; "
        f"{args.requests} requests in {wall:.1f} s under valgrind; {work})"
    )
    if args.stream and events:
        print(f"{net / events / 1e3:.1f} k instructions per SSE event ({events} events)")


def _pace(sim_port: int, delay: float, words: int) -> None:
    """The simulator's models of `gpt` and `claude` answer `words` words, `delay` seconds
    apart."""
    for model in ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5"):
        conn = http.client.HTTPConnection("127.0.0.1", sim_port, timeout=10)
        settings = {"model": model, "chunk_delay": delay, "answer_words": words}
        conn.request("POST", "/_sim/models", body=json.dumps(settings))
        response = conn.getresponse()
        response.read()
        assert response.status == 200, response.status
        conn.close()


def _totals(out: str) -> list[int]:
    """The instruction totals of each dump (`out.1`, `out.2`, ...), in order."""
    totals = []
    names = glob.glob(out + ".*")
    for name in sorted(names, key=lambda n: int(n.rsplit(".", 1)[1])):
        with open(name) as f:
            for line in f:
                if line.startswith(("summary:", "totals:")):
                    totals.append(int(line.split()[1]))
                    break
    return totals


async def _concurrent(
    port: int, body: str, total: int, connections: int, path: str = "/v1/chat/completions"
) -> None:
    import aiohttp

    left = total
    url = f"http://127.0.0.1:{port}{path}"
    headers = {"content-type": "application/json"}
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    assert response.status == 200, response.status

        await asyncio.gather(*[worker() for _ in range(connections)])


if __name__ == "__main__":
    main()
