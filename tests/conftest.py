"""Fixtures shared by the gateway tests: a simulator, a gateway in front of it, SDK clients.

Everything runs on 127.0.0.1: the simulator (`failsoft.sim`) and the gateway (uvicorn) each
on their own event loop in a daemon thread, so the tests can drive them with the real,
synchronous `openai` and `anthropic` SDKs. Deadlines are short (via config) so failure
tests finish quickly without sleeping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import anthropic
import openai
import pytest

from failsoft.config import Config, parse_config
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer

PROVIDER_KEY = "sk-provider-test-0123456789"
"""What the gateway sends upstream; the simulator refuses anything else."""
CALLER_KEY = "sk-caller-test-9876543210"
"""What the SDKs send to the gateway; it must never travel upstream."""

BASE_CONFIG = """
providers:
  anthropic: {{dialect: anthropic, base_url: "{sim}", api_key: "{key}"}}
  openai: {{dialect: openai, base_url: "{sim}/v1", api_key: "{key}"}}
models:
  claude: [anthropic/claude-opus-4-7, anthropic/claude-sonnet-4-5]
  gpt: [openai/gpt-4o, openai/gpt-4o-mini]
  claude-one: [anthropic/claude-opus-4-7]
  gpt-one: [openai/gpt-4o]
  chain: [openai/gpt-4o, openai/gpt-4o-mini, openai/gpt-4.1]
deadlines: {{connect: 1, first_token: 0.5, idle: 0.5, total: 8}}
retry: {{max_attempts: 1}}  # one attempt per target here: same-target retries live in tests/chaos
# Mid-stream resume is on by default; the tests on this gateway check what a broken stream
# ends with when nothing can finish it (tests/chaos/test_resume*.py cover resume itself).
resume: {{enabled: false}}
{extra}
"""


def make_config(sim_url: str, extra: str = "") -> Config:
    return parse_config(BASE_CONFIG.format(sim=sim_url, key=PROVIDER_KEY, extra=extra))


@pytest.fixture(scope="session")
def sim_server() -> Iterator[SimServer]:
    with SimServer(api_key=PROVIDER_KEY).run_in_thread() as server:
        yield server


@pytest.fixture
def sim(sim_server: SimServer) -> Iterator[SimServer]:
    """The shared simulator, with faults, stats and request log cleared for each test."""
    sim_server.reset()
    yield sim_server
    sim_server.reset()


@pytest.fixture(scope="session")
def gateway_server(sim_server: SimServer) -> Iterator[GatewayThread]:
    with GatewayThread(make_config(sim_server.url)).running() as gw:
        yield gw


@pytest.fixture
def gateway(gateway_server: GatewayThread, sim: SimServer) -> GatewayThread:
    """The shared gateway (BASE_CONFIG) in front of a freshly reset simulator, with nothing
    remembered about targets from earlier tests (breakers closed, budgets full)."""
    gateway_server.runtime.reset()
    return gateway_server


@pytest.fixture
def make_gateway(sim: SimServer) -> Iterator[Callable[[str], GatewayThread]]:
    """A gateway with extra config appended to BASE_CONFIG (e.g. a `server:` section)."""
    started: list[GatewayThread] = []

    def make(extra: str = "", *, config: Config | None = None) -> GatewayThread:
        gw = GatewayThread(config or make_config(sim.url, extra)).start()
        started.append(gw)
        return gw

    yield make
    for gw in started:
        gw.stop()


@pytest.fixture
def oai(gateway: GatewayThread) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=CALLER_KEY, max_retries=0) as c:
        yield c


@pytest.fixture
def ant(gateway: GatewayThread) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=gateway.url, api_key=CALLER_KEY, max_retries=0) as c:
        yield c
