"""The child processes under test: where they run and how they start and stop.

Each child is pinned to a core when possible, so that the gateway has a core to itself,
and is stopped by its own process id, because this machine is shared with others.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class Pinning:
    method: str
    """"taskset", "sched_setaffinity" or "none"."""
    gateway_core: int | None
    side_core: int | None
    """Core shared by the simulator, the stamp upstream and the load generator."""
    note: str

    @classmethod
    def plan(cls, enabled: bool = True) -> Pinning:
        if not hasattr(os, "sched_getaffinity"):
            return cls("none", None, None, "no CPU affinity on this platform: nothing pinned")
        cpus = sorted(os.sched_getaffinity(0))
        if not enabled:
            return cls("none", None, None, "pinning disabled (--no-pin)")
        if len(cpus) < 2:
            return cls("none", None, None, f"only {len(cpus)} usable CPU: nothing pinned")
        method = "taskset" if shutil.which("taskset") else "sched_setaffinity"
        note = (
            f"gateway on core {cpus[0]}; simulator, stamp upstream and load generator "
            f"on core {cpus[1]}"
        )
        if method != "taskset":
            note += " (taskset not found: pinned with os.sched_setaffinity)"
        if len(cpus) > 2:
            note += f"; {len(cpus) - 2} more cores left idle"
        return cls(method, cpus[0], cpus[1], note)

    def command(self, core: int | None, argv: list[str]) -> list[str]:
        if self.method == "taskset" and core is not None:
            return ["taskset", "-c", str(core), *argv]
        return argv

    def preexec(self, core: int | None) -> Callable[[], None] | None:
        if self.method == "sched_setaffinity" and core is not None:
            return lambda: os.sched_setaffinity(0, {core})
        return None

    def pin_self(self) -> None:
        if self.side_core is not None:
            os.sched_setaffinity(0, {self.side_core})


@dataclass(slots=True)
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start_child(
    name: str,
    argv: list[str],
    core: int | None,
    pinning: Pinning,
    workdir: Path,
    env: dict[str, str] | None = None,
) -> Child:
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            pinning.command(core, argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=pinning.preexec(core),
            cwd=workdir,
            env=env,
        )
    return Child(name, proc, log)


def http_call(
    port: int, method: str, path: str, body: Any = None, timeout: float = 5.0
) -> tuple[int, Any]:
    """A blocking control-plane call to 127.0.0.1 (never used while measuring)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        data = orjson.dumps(body) if body is not None else None
        headers = {"content-type": "application/json"} if data is not None else {}
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        try:
            payload: Any = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            payload = raw.decode("utf-8", "replace")
        return resp.status, payload
    finally:
        conn.close()


def wait_ready(child: Child, port: int, path: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited at start:\n{child.log_tail()}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            status, _ = http_call(port, "GET", path, timeout=1.0)
            if status < 500:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{child.name} did not answer {path} within {timeout}s:\n{child.log_tail()}")


def python_cmd(*args: str) -> list[str]:
    return [sys.executable, *args]


def serve_cmd(config: Path, port: int, log_level: str) -> list[str]:
    """`failsoft serve` on 127.0.0.1 with this config, port and log level."""
    return python_cmd(
        "-m",
        "failsoft",
        "serve",
        "--config",
        str(config),
        "--host",
        HOST,
        "--port",
        str(port),
        "--log-level",
        log_level,
    )
