"""The fuzz suite's settings and its gateway: `failsoft serve` as a real process (so its
memory can be read from /proc and its whole log checked), the simulator as its upstream,
targets of every dialect so requests are translated both ways.

Hypothesis runs under the `failsoft-fuzz` profile: a fixed number of examples
(`FAILSOFT_FUZZ_EXAMPLES`, default 100 per test), derandomized and without an example
database, so CI runs the same inputs every time; `FAILSOFT_FUZZ_RANDOM=1` draws new ones
(with pytest's `--hypothesis-seed=N` to repeat a run).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from failsoft.sim import SimServer
from tests.conftest import PROVIDER_KEY
from tests.fuzz.wire import exchange
from tests.test_cli import free_port

_RANDOM = os.environ.get("FAILSOFT_FUZZ_RANDOM", "") not in ("", "0")
settings.register_profile(
    "failsoft-fuzz",
    max_examples=int(os.environ.get("FAILSOFT_FUZZ_EXAMPLES", "100")),
    deadline=None,
    derandomize=not _RANDOM,
    database=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
FUZZ = settings.get_profile("failsoft-fuzz")
"""Used as `@FUZZ` on every property; never loaded globally (other suites keep theirs)."""

ADMIN_TOKEN = "fuzz-admin-token-" + "0" * 32
CONFIG = """
providers:
  openai: {{dialect: openai, base_url: "{sim}/v1", api_key: "{key}"}}
  anthropic: {{dialect: anthropic, base_url: "{sim}", api_key: "{key}"}}
  gemini: {{dialect: gemini, base_url: "{sim}", api_key: "{key}"}}
  openai-responses: {{dialect: openai, api: responses, base_url: "{sim}/v1", api_key: "{key}"}}
  openai-plain: {{dialect: openai, base_url: "{sim}/v1", api_key: "{key}", always_stream: false}}
models:
  gpt: [openai/gpt-4o]
  claude: [anthropic/claude-opus-4-7]
  gem: [gemini/gemini-2.5-flash]
  resp: [openai-responses/gpt-5-pro]
  plain: [openai-plain/gpt-4o]
  gpt-then-claude: [openai/gpt-4o, anthropic/claude-opus-4-7]
  claude-then-gpt: [anthropic/claude-opus-4-7, openai/gpt-4o]
  to-gemini: [gemini/gemini-3-pro-preview, openai/gpt-4o]
  to-responses: [openai-responses/gpt-5-pro, anthropic/claude-sonnet-4-5]
deadlines: {{connect: 1, first_token: 2, idle: 2, total: 8}}
retry: {{max_attempts: 1}}
resume: {{enabled: false}}
admin: {{token: "{token}"}}
store: {{url: "memory://"}}
"""
MODELS = ("gpt", "claude", "gem", "resp", "plain", "gpt-then-claude", "claude-then-gpt",
          "to-gemini", "to-responses")  # fmt: skip

_BAD_LINE = re.compile(
    r"Traceback|^\S+ \S+ (?:ERROR|CRITICAL)\b|translation failed|: unreadable \w+ request"
)
"""A traceback anywhere, a line logged at ERROR or above (`time level logger: ...`), or the
nets behind the door at work: a translator that crashed on what the door let through (the
target skipped, a fallback answering instead: translate/bridge.py), a request the door
passed that its parser could not read (a 400 without the field's name: server/chat.py)."""


@dataclass
class Gateway:
    """A `failsoft serve` process and where it writes its log."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path
    idle_rss: int = 0

    def rss(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def assert_clean_log(self) -> None:
        """No traceback, no ERROR line: every bad input was refused on purpose."""
        assert self.process.poll() is None, "the gateway exited"
        bad = [
            line
            for line in self.log.read_text(errors="replace").splitlines()
            if _BAD_LINE.search(line)
        ]
        assert not bad, "\n".join(bad[:20])


@pytest.fixture(scope="module")
def fuzz_gateway(
    sim_server: SimServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    home = tmp_path_factory.mktemp("fuzz-gateway")
    path = home / "gw.yaml"
    path.write_text(CONFIG.format(sim=sim_server.url, key=PROVIDER_KEY, token=ADMIN_TOKEN))
    port = free_port()
    log = home / "gateway.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "failsoft", "serve", "--config", str(path), "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=home,
        )
    gw = Gateway(port, process, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if exchange(port, "GET", "/healthz", timeout=1).status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the gateway did not come up"
            time.sleep(0.05)
        gw.idle_rss = warm_up(gw)
        yield gw
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def warm_up(gw: Gateway) -> int:
    """One good request on each surface (so lazily built things exist), then the RSS: the
    idle size the fuzzed gateway is compared with."""
    from tests.fuzz.bodies import VALID

    for path, body in VALID:
        got = exchange(gw.port, "POST", path, [(b"content-type", b"application/json")], body)
        assert got.status == 200, (path, got.status, got.body[:300])
    return gw.rss()
