"""What a caller that stops reading costs the gateway: RSS per slow stream.

    python bench/slow_readers.py [--streams 200] [--rounds 3]

Starts the simulator (in this process) and `failsoft serve` (a subprocess), warms the
gateway up, then opens N streams whose callers read nothing (raw sockets with a 4 KiB
receive buffer) against a model that sends 16 KB events as fast as it may, waits until
the gateway's RSS stops growing (every buffer on the way is full), and prints the growth
per stream, from /proc/<pid>/status VmRSS. `server.send_timeout` is set high so that no
caller is let go during the measurement; after it, the streams are closed and the next
round starts. The bound this is compared with is in docs/operations.md. 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from failsoft.sim import SimServer

KEY = "sk-bench-slow-readers"


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def post(url: str, body: dict[str, object]) -> bytes:
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"content-type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        data: bytes = resp.read()
        return data


def slow_caller(port: int, model: str) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    body = json.dumps(
        {"model": model, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    ).encode()
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        + f"content-length: {len(body)}\r\n\r\n".encode()
        + body
    )
    return sock


def metric(url: str, name: str) -> float:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


def settle(pid: int) -> int:
    """RSS once it has stopped growing for 2 s (sampled every 0.5 s, for at most 60 s)."""
    last, same = -1, 0
    for _ in range(120):
        time.sleep(0.5)
        now = rss_kb(pid)
        same = same + 1 if now == last else 0
        if same == 4:
            break
        last = now
    return last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with SimServer(api_key=KEY).run_in_thread() as sim, tempfile.TemporaryDirectory() as tmp:
        sim.set_model("long", answer=" ".join(["x" * 16000] * 1500), chunk_delay=0.001)
        port = free_port()
        config = Path(tmp) / "gw.yaml"
        config.write_text(
            f"providers:\n  o: {{dialect: openai, base_url: '{sim.url}/v1', api_key: {KEY}}}\n"
            "models:\n  long: [o/long]\n  quick: [o/gpt-4o]\n"
            "server: {send_timeout: 600}\nadmission: {per_target: 100000}\n"
            "deadlines: {first_byte: 120, first_token: 120, total: 600}\n"
            "store: {url: 'memory://'}\nlog: {access: false}\n"
        )
        command = ["serve", "--config", str(config), "--port", str(port), "--log-level", "warning"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "failsoft", *command],
            cwd=tmp,
            env=os.environ.copy(),
        )
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    urllib.request.urlopen(url + "/healthz", timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            for _ in range(20):
                post(url + "/v1/chat/completions", {"model": "quick", "messages": []})
            idle = settle(proc.pid)
            print(f"idle RSS {idle / 1024:.1f} MiB; {args.streams} callers reading nothing")
            for round_ in range(1, args.rounds + 1):
                before = settle(proc.pid)
                with ExitStack() as stack:
                    for n in range(args.streams):
                        stack.enter_context(slow_caller(port, "long"))
                        if n % 20 == 19:  # in steps: the simulator shares this process
                            time.sleep(0.5)
                    full = settle(proc.pid)
                    watched = metric(url, "failsoft_requests_watched")
                per = (full - before) / args.streams
                print(
                    f"round {round_}: {before / 1024:.1f} -> {full / 1024:.1f} MiB, "
                    f"{per:.0f} KiB per slow stream ({watched:g} streams open)"
                )
                time.sleep(2.0)  # the gateway sees the callers leave and closes upstream
        finally:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
