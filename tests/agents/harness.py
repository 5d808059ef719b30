"""One coding-agent run against failsoft and the simulator, and what it left behind.

The agent gets a gateway of its own whose virtual model `agent` leads to a failing primary
and a healthy fallback of another dialect, an empty temporary HOME (so it reads nothing of
this machine's configuration) and an environment built from scratch: only PATH, locale and
what the test adds. Every proxy variable points at a trap on 127.0.0.1 (127.0.0.1 and
localhost exempted), so anything an agent would send elsewhere (telemetry, update checks, a
plugin catalogue) fails at once instead of leaving the machine, and the test sees it tried.
(A client that ignored proxy variables would escape the trap; under `strace -e connect` none
of the three pinned versions connects anywhere but 127.0.0.1.)
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from failsoft.config import parse_config
from failsoft.events import AttemptFinished, RequestFinished
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.conftest import PROVIDER_KEY

RUN_TIMEOUT = 90.0
"""Seconds an agent may take; a healthy run takes a few."""
CALLER_KEY = "sk-agent-caller-0123456789"
"""What the agents send to failsoft (never forwarded upstream)."""
TASK = "run: echo hello-failsoft"
"""The prompt; the simulated model answers it with a shell tool call running this command."""
COMMAND = "echo hello-failsoft"
OUTPUT = "hello-failsoft"
"""What the command prints: the final answer quotes the tool result, so it shows there."""

FAULTS: dict[str, dict[str, Any]] = {
    "overloaded": {"kind": "status", "status": 529},
    "cut": {"kind": "cut", "after": 0},
}
"""How the primary fails: a 529 before any byte, or a stream that ends before its first
event (the cut comes after the 200 headers, so only the gateway can tell)."""

AGENT_CONFIG = """
providers:
  anthropic: {{dialect: anthropic, base_url: "{sim}", api_key: "{key}"}}
  openai: {{dialect: openai, base_url: "{sim}/v1", api_key: "{key}"}}
  responses: {{dialect: openai, api: responses, base_url: "{sim}/v1", api_key: "{key}"}}
  gemini: {{dialect: gemini, base_url: "{sim}", api_key: "{key}"}}
models:
  agent: [{primary}, {fallback}]
deadlines: {{connect: 2, first_token: 20, idle: 20, total: 60}}
retry: {{max_attempts: 1}}   # the primary fails once per request, then the fallback answers
breaker: {{failures: 1000, min_requests: 1000}}   # every request tries the primary first
hedge: {{enabled: false}}
status: {{enabled: false}}
"""


@dataclass
class AgentRun:
    """What one agent run did: its exit, its output, and what the gateway and simulator saw."""

    command: list[str]
    returncode: int | None
    """None when the run was killed at RUN_TIMEOUT."""
    stdout: str
    stderr: str
    seconds: float
    attempts: dict[str, int]
    """Simulator attempts per upstream model."""
    trails: list[str]
    """Per gateway request, the attempts made, `provider/model:outcome,...` (as
    `x-failsoft-trail` says them), in the order the requests finished."""
    answered_by: list[str]
    """Per gateway request, the target that answered (`-` when none did)."""
    bodies: dict[str, list[Any]] = field(default_factory=dict)
    """Per upstream model, the request bodies the simulator received, oldest first."""
    access: list[str] = field(default_factory=list)
    """`failsoft.access` log lines (none until the access log exists)."""
    strays: list[str] = field(default_factory=list)
    """What the agent tried to send elsewhere than 127.0.0.1, through the proxy trap."""

    def describe(self) -> str:
        """For assertion messages: enough to see what went wrong without rerunning."""
        return (
            f"exit {self.returncode} after {self.seconds:.1f} s; trails {self.trails}; "
            f"simulator attempts {self.attempts}\n--- stdout\n{self.stdout[-3000:]}\n"
            f"--- stderr\n{self.stderr[-3000:]}"
        )


class ProxyTrap:
    """The proxy every agent is given: it records the first line of each connection (`CONNECT
    github.com:443 HTTP/1.1`) and closes it, so traffic meant for anywhere but 127.0.0.1
    fails at once and a test can see that it was tried."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self.seen: list[str] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="proxy-trap", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:  # the accept timeout, or closed
                continue
            with conn:
                conn.settimeout(2.0)
                try:
                    first = conn.recv(512).split(b"\r\n", 1)[0]
                except OSError:
                    first = b"(nothing sent)"
                self.seen.append(first.decode("latin-1"))

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(2.0)
        self._sock.close()


def base_env(home: Path, proxy: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "TMPDIR": str(home / "tmp"),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "NO_COLOR": "1",
    }
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        env[name] = proxy
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    return env


class _AccessLines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@dataclass
class Seen:
    """A gateway for one agent run and what it reports while the agent runs."""

    gateway: GatewayThread
    attempts: list[AttemptFinished]
    requests: list[RequestFinished]
    access: list[str]


@contextmanager
def agent_gateway(
    sim: SimServer, primary: str, fallback: str, fault: Mapping[str, Any]
) -> Iterator[Seen]:
    """A gateway whose model `agent` is [primary, fallback], the primary failing with `fault`,
    with its attempt and request events and its access log lines collected."""
    config = parse_config(
        AGENT_CONFIG.format(sim=sim.url, key=PROVIDER_KEY, primary=primary, fallback=fallback)
    )
    sim.set_fault(primary.split("/", 1)[1], dict(fault))
    attempts: list[AttemptFinished] = []
    requests: list[RequestFinished] = []
    access = _AccessLines()
    logger = logging.getLogger("failsoft.access")
    previous = logger.level
    logger.addHandler(access)
    logger.setLevel(logging.INFO)
    gateway = GatewayThread(config)
    gateway.runtime.hub.subscribe(AttemptFinished, attempts.append)
    gateway.runtime.hub.subscribe(RequestFinished, requests.append)
    try:
        with gateway.running():
            yield Seen(gateway, attempts, requests, access.lines)
    finally:
        logger.removeHandler(access)
        logger.setLevel(previous)


def _kill_group(pid: int) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def run_agent(
    command: Sequence[str],
    env: Mapping[str, str],
    cwd: Path,
    sim: SimServer,
    models: Sequence[str],
    seen: Seen | None = None,
    trap: ProxyTrap | None = None,
) -> AgentRun:
    """Run the agent to its end (or RUN_TIMEOUT) and collect what it did."""
    attempts = seen.attempts if seen else []
    requests = seen.requests if seen else []
    access = seen.access if seen else []
    started = time.monotonic()
    # A session of its own, killed whole: Gemini CLI relaunches itself as a child process,
    # which outlived its parent (and kept running) when only the parent was killed.
    process = subprocess.Popen(
        list(command),
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    returncode: int | None
    try:
        stdout, stderr = process.communicate(timeout=RUN_TIMEOUT)
        returncode = process.returncode
    except subprocess.TimeoutExpired:
        returncode = None
        _kill_group(process.pid)
        stdout, stderr = process.communicate()
        stderr = _text(stderr) + f"\n[killed after {RUN_TIMEOUT:.0f} s]"
        stdout = _text(stdout)
    finally:
        _kill_group(process.pid)  # whatever it left behind once it ended
    seconds = time.monotonic() - started
    by_request: dict[str, list[str]] = defaultdict(list)
    for attempt in list(attempts):
        by_request[attempt.request_id].append(f"{attempt.target.label}:{attempt.outcome}")
    finished = list(requests)
    return AgentRun(
        command=list(command),
        returncode=returncode,
        stdout=stdout,
        stderr=stderr,
        seconds=seconds,
        attempts={model: sim.attempts(model) for model in models},
        trails=[",".join(by_request.get(done.request_id, ())) for done in finished],
        answered_by=[done.target.label if done.target else "-" for done in finished],
        bodies={model: [record.body for record in sim.requests(model)] for model in models},
        access=list(access),
        strays=list(trap.seen) if trap else [],
    )


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


EnvMaker = Callable[[Path, str, str], dict[str, str]]
"""(HOME, the URL the agent is pointed at, the proxy trap's URL) → the agent's environment."""


def drive(
    sim: SimServer,
    command: Sequence[str],
    make_env: EnvMaker,
    tmp: pytest.TempPathFactory,
    models: Sequence[str],
    plan: tuple[str, str, Mapping[str, Any]] | None = None,
) -> AgentRun:
    """Run the agent once: against a gateway whose `agent` model is plan's (primary,
    fallback) with the primary failing as plan's fault, or (no plan) at the simulator itself."""
    home, work = tmp.mktemp("home"), tmp.mktemp("work")
    trap = ProxyTrap()
    try:
        if plan is None:
            env = make_env(home, sim.url, trap.url)
            return run_agent(command, env, work, sim, models, None, trap)
        primary, fallback, fault = plan
        with agent_gateway(sim, primary, fallback, fault) as seen:
            env = make_env(home, seen.gateway.url, trap.url)
            return run_agent(command, env, work, sim, models, seen, trap)
    finally:
        trap.close()
