"""A gateway whose virtual models each lead to one upstream dialect, for the SDK tests of
translation: `via-openai`, `via-anthropic`, `via-gemini` (and `via-gemini3`, whose calls
carry thought signatures), `via-responses` (an OpenAI provider with `api: responses`), plus
mixed plans for failover across dialects."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import anthropic
import openai
import pytest

from failsoft.config import Config, parse_config
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.conftest import CALLER_KEY, PROVIDER_KEY

TRANSLATE_CONFIG = """
providers:
  anthropic: {{dialect: anthropic, base_url: "{sim}", api_key: "{key}"}}
  anthropic-next: {{dialect: anthropic, base_url: "{sim}", api_key: "{key}",
                    anthropic_version: "2026-10-21"}}
  openai: {{dialect: openai, base_url: "{sim}/v1", api_key: "{key}"}}
  gemini: {{dialect: gemini, base_url: "{sim}", api_key: "{key}"}}
  openai-plain: {{dialect: openai, base_url: "{sim}/v1", api_key: "{key}", always_stream: false}}
  anthropic-plain: {{dialect: anthropic, base_url: "{sim}", api_key: "{key}", always_stream: false}}
  gemini-plain: {{dialect: gemini, base_url: "{sim}", api_key: "{key}", always_stream: false}}
  openai-responses: {{dialect: openai, api: responses, base_url: "{sim}/v1", api_key: "{key}"}}
  responses-plain: {{dialect: openai, api: responses, base_url: "{sim}/v1", api_key: "{key}",
                    always_stream: false}}
models:
  via-openai: [openai/gpt-4o]
  via-anthropic: [anthropic/claude-opus-4-7]
  via-anthropic-next: [anthropic-next/claude-opus-4-7]
  via-gemini: [gemini/gemini-2.5-flash]
  via-gemini3: [gemini/gemini-3-pro-preview]
  via-o4: [openai/o4-mini]
  plain-openai: [openai-plain/gpt-4o]
  plain-anthropic: [anthropic-plain/claude-opus-4-7]
  plain-gemini: [gemini-plain/gemini-2.5-flash]
  claude-then-gpt: [anthropic/claude-opus-4-7, anthropic/claude-sonnet-4-5, openai/gpt-4o]
  claude-then-gemini: [anthropic/claude-opus-4-7, gemini/gemini-2.5-flash]
  gpt-then-claude: [openai/gpt-4o, anthropic/claude-opus-4-7]
  gemini-then-gpt: [gemini/gemini-3-pro-preview, openai/gpt-4o]
  via-responses: [openai-responses/gpt-5-pro]
  plain-responses: [responses-plain/gpt-5-pro]
  responses-then-claude: [openai-responses/gpt-5-pro, anthropic/claude-opus-4-7]
  claude-then-responses: [anthropic/claude-opus-4-7, openai-responses/gpt-5-pro]
deadlines: {{connect: 1, first_token: 0.5, idle: 0.5, total: 8}}
retry: {{max_attempts: 1}}
{extra}
"""

UPSTREAMS = {
    "openai": ("via-openai", "gpt-4o"),
    "anthropic": ("via-anthropic", "claude-opus-4-7"),
    "gemini": ("via-gemini", "gemini-2.5-flash"),
}
"""upstream dialect → (virtual model, the simulator's model behind it)"""


def translate_config(sim_url: str, extra: str = "") -> Config:
    return parse_config(TRANSLATE_CONFIG.format(sim=sim_url, key=PROVIDER_KEY, extra=extra))


@pytest.fixture(scope="session")
def translating_server(sim_server: SimServer) -> Iterator[GatewayThread]:
    with GatewayThread(translate_config(sim_server.url)).running() as gw:
        yield gw


@pytest.fixture
def tgw(translating_server: GatewayThread, sim: SimServer) -> GatewayThread:
    translating_server.runtime.reset()
    return translating_server


@pytest.fixture
def make_translating(sim: SimServer) -> Iterator[Callable[[str], GatewayThread]]:
    started: list[GatewayThread] = []

    def make(extra: str = "") -> GatewayThread:
        gw = GatewayThread(translate_config(sim.url, extra)).start()
        started.append(gw)
        return gw

    yield make
    for gw in started:
        gw.stop()


@pytest.fixture
def toai(tgw: GatewayThread) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=tgw.url + "/v1", api_key=CALLER_KEY, max_retries=0) as c:
        yield c


@pytest.fixture
def tant(tgw: GatewayThread) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=tgw.url, api_key=CALLER_KEY, max_retries=0) as c:
        yield c


@pytest.fixture
def direct(sim: SimServer) -> Iterator[Callable[[str, list[object]], str]]:
    """What the simulator answers these messages directly (OpenAI dialect, no gateway): the
    oracle for text that crossed a translation, since its words depend only on the model and
    the newest user turn."""
    with openai.OpenAI(base_url=sim.url + "/v1", api_key=PROVIDER_KEY, max_retries=0) as c:

        def ask(model: str, messages: list[object]) -> str:
            answer = c.chat.completions.create(model=model, messages=messages)  # type: ignore[arg-type]
            return answer.choices[0].message.content or ""

        yield ask
