"""Child processes for the deployment tests: `failsoft serve`, `failsoft sim`, HAProxy, a
private Redis. Each writes its output to a file (shown when a test fails) and is stopped
by its own pid when the test ends."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

STARTUP = 30.0
"""Seconds a child may take to listen (a cold interpreter imports failsoft in ~1-2 s)."""


def free_port() -> int:
    """A free port for a child process to bind a moment later.

    Chosen below the kernel's ephemeral range: a port the kernel hands out (bind to port 0)
    may be taken, before the child binds it, as the source port of any outgoing connection
    on the machine (the instances' own connections to Redis and PostgreSQL included).
    """
    low = _ephemeral_low()
    for _ in range(200):
        port = random.randrange(10_000, low) if low > 10_100 else 0
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            found: int = sock.getsockname()[1]
            return found
    raise RuntimeError("no free port below the ephemeral range")


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ranges:
            return int(ranges.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0  # unknown: let the kernel choose


def failsoft_command(args: Sequence[str]) -> list[str]:
    """The image's `failsoft ...` as this interpreter runs it (installed or on PYTHONPATH)."""
    assert args[0] == "failsoft", args
    return [sys.executable, "-m", "failsoft", *args[1:]]


class Child:
    def __init__(
        self, name: str, argv: Sequence[str], log: Path, env: dict[str, str] | None, cwd: Path
    ) -> None:
        self.name = name
        self.log_path = log
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            list(argv),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_until(
        self, condition: Callable[[], bool], what: str, timeout: float = STARTUP
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            if not self.alive():
                raise AssertionError(
                    f"{self.name} exited ({self.process.returncode}) before {what}:\n"
                    + self.output()[-4000:]
                )
            time.sleep(0.05)
        raise AssertionError(f"{self.name}: no {what} within {timeout}s:\n{self.output()[-4000:]}")

    def signal(self, sig: signal.Signals) -> None:
        if self.alive():
            self.process.send_signal(sig)

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()


class Children:
    """The processes one test started; all stopped (by pid) at the end."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[Child] = []

    def start(
        self,
        name: str,
        argv: Sequence[str],
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Child:
        workdir = cwd or self.directory / name
        workdir.mkdir(parents=True, exist_ok=True)
        child = Child(name, argv, self.directory / f"{name}.log", env, workdir)
        self.started.append(child)
        return child

    def stop_all(self) -> None:
        for child in reversed(self.started):
            child.stop()


@contextmanager
def children(directory: Path) -> Iterator[Children]:
    group = Children(directory)
    try:
        yield group
    finally:
        group.stop_all()


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The status of a GET, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, urllib.error.URLError):
        return None


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False
