"""What Claude Code asks of a gateway besides messages: `HEAD /`, `count_tokens`, its own
model names, and an output limit no fallback model may exceed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from failsoft.config import parse_config
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from failsoft.sim.anthropic_input import prompt
from failsoft.translate.estimate import IMAGE_TOKENS, estimate_tokens
from tests.conftest import CALLER_KEY, PROVIDER_KEY
from tests.helpers import request

CONFIG = """
providers:
  anthropic: {{dialect: anthropic, base_url: "{sim}", api_key: "{key}"}}
  refused: {{dialect: anthropic, base_url: "{sim}", api_key: "sk-wrong-key-000000000"}}
  openai: {{dialect: openai, base_url: "{sim}/v1", api_key: "{key}",
           max_output_tokens: {{gpt-4o: 1000}}}}
models:
  coding:
    targets: [anthropic/claude-opus-4-7, openai/gpt-4o]
    aliases: [claude-opus-4-8, "claude-*"]
  fast:
    targets: [anthropic/claude-3-haiku-20240307]
    aliases: ["*-haiku-*"]
  gpt: [openai/gpt-4o]
  broken-count: [refused/claude-opus-4-7, openai/gpt-4o]
deadlines: {{connect: 1, first_token: 0.5, idle: 0.5, total: 8}}
retry: {{max_attempts: 1}}
"""
ASK: list[Any] = [{"role": "user", "content": "Count me, please."}]
HAIKU = "claude-3-haiku-20240307"


@pytest.fixture(scope="module")
def module_gateway(sim_server: SimServer) -> Iterator[GatewayThread]:
    config = parse_config(CONFIG.format(sim=sim_server.url, key=PROVIDER_KEY))
    with GatewayThread(config).running() as gw:
        yield gw


@pytest.fixture
def gw(module_gateway: GatewayThread, sim: SimServer) -> GatewayThread:
    module_gateway.runtime.reset()
    return module_gateway


@pytest.fixture
def client(gw: GatewayThread) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=gw.url, api_key=CALLER_KEY, max_retries=0) as c:
        yield c


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_the_root_answers_200(gw: GatewayThread, method: str) -> None:
    answer = request(gw.url + "/", method)
    assert answer.status == 200
    if method == "GET":
        assert b"failsoft" in answer.body and b"/status" in answer.body
        assert PROVIDER_KEY.encode() not in answer.body


def test_count_tokens_is_asked_of_an_anthropic_target(
    client: anthropic.Anthropic, sim: SimServer
) -> None:
    body: dict[str, Any] = {"model": "claude-opus-4-7", "system": "Be brief.", "messages": ASK}
    raw = client.messages.with_raw_response.count_tokens(
        model="claude-opus-4-8", system="Be brief.", messages=ASK
    )
    assert raw.parse().input_tokens == prompt(body).input_tokens
    assert "x-failsoft-estimate" not in raw.headers
    assert raw.headers["x-failsoft-provider"] == "anthropic"
    assert raw.headers["x-failsoft-model"] == "claude-opus-4-7"
    assert sim.attempts("claude-opus-4-7") == 0  # a count is not a completion


def test_count_tokens_is_estimated_without_an_anthropic_target(
    client: anthropic.Anthropic,
) -> None:
    tools: list[Any] = [{"name": "Bash", "input_schema": {"type": "object"}}]
    raw = client.messages.with_raw_response.count_tokens(model="gpt", messages=ASK, tools=tools)
    assert raw.headers["x-failsoft-estimate"] == "true"
    expected = estimate_tokens({"messages": ASK, "tools": tools})
    assert raw.parse().input_tokens == expected > estimate_tokens({"messages": ASK}) > 0


def test_a_failed_upstream_count_falls_back_to_the_estimate(client: anthropic.Anthropic) -> None:
    raw = client.messages.with_raw_response.count_tokens(model="broken-count", messages=ASK)
    assert raw.headers["x-failsoft-estimate"] == "true"
    assert raw.parse().input_tokens == estimate_tokens({"messages": ASK})


def test_count_tokens_refuses_what_it_cannot_count(
    client: anthropic.Anthropic, gw: GatewayThread
) -> None:
    with pytest.raises(anthropic.NotFoundError):
        client.messages.count_tokens(model="no-such-model", messages=ASK)
    bad = request(gw.url + "/v1/messages/count_tokens", body={"model": "gpt"})
    assert bad.status == 400
    assert bad.json()["error"]["type"] == "invalid_request_error"


def test_the_estimate_counts_every_part() -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": ""}}
    assert estimate_tokens({"messages": [{"role": "user", "content": "x"}]}) == 1
    assert estimate_tokens({"messages": [{"role": "user", "content": [image]}]}) == 1 + IMAGE_TOKENS
    assert estimate_tokens({"system": "a" * 40, "messages": []}) == 10


def test_aliases_and_patterns_reach_their_plans(
    client: anthropic.Anthropic, gw: GatewayThread, sim: SimServer
) -> None:
    for name in ("claude-opus-4-8", "claude-sonnet-9", "claude-haiku-4-5-20251001"):
        answer = client.messages.create(model=name, max_tokens=20, messages=ASK)
        assert answer.model == "claude-opus-4-7"  # `claude-*` comes first in the config
    answer = client.messages.create(model="x-haiku-y", max_tokens=20, messages=ASK)
    assert answer.model == "claude-3-haiku-20240307"
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="gpt-9", max_tokens=20, messages=ASK)
    listed = [m.id for m in client.models.list()]
    assert listed == ["coding", "fast", "gpt", "broken-count", "claude-opus-4-8"]
    summary = gw.runtime.callers.summary()  # what the status page shows per virtual model
    assert summary["coding"]["requests"] == 3
    assert summary["fast"]["requests"] == 1
    assert not any(name.startswith(("claude-", "x-")) for name in summary)


@pytest.fixture
def haiku_limit(sim: SimServer) -> Iterator[None]:
    """The simulated Claude 3 Haiku refuses more than its real 4096 output tokens."""
    sim.set_model(HAIKU, max_output_tokens=4096)
    yield
    sim.set_model(HAIKU, max_output_tokens=None)


def test_max_tokens_is_lowered_to_the_target_models_limit(
    client: anthropic.Anthropic, sim: SimServer, haiku_limit: None
) -> None:
    """Same dialect: Claude 3 Haiku writes at most 4096 tokens, and refuses a request for
    more; the thinking budget stays below the lowered limit. The caller's bytes go unchanged
    when they fit."""
    with anthropic.Anthropic(base_url=sim.url, api_key=PROVIDER_KEY, max_retries=0) as direct:
        with pytest.raises(anthropic.BadRequestError) as refused:
            direct.messages.create(model=HAIKU, max_tokens=64000, messages=ASK, timeout=30)
    assert "maximum allowed number of output tokens" in refused.value.message
    raw = client.messages.with_raw_response.create(
        model="fast",
        max_tokens=64000,
        thinking={"type": "enabled", "budget_tokens": 31999},
        messages=ASK,
        timeout=30,
    )
    assert raw.parse().content
    note = "max_tokens 64000 lowered to 4096 (claude-3-haiku-20240307's output limit)"
    assert raw.headers["x-failsoft-warning"] == note
    body = sim.requests("claude-3-haiku-20240307")[-1].body
    assert body["max_tokens"] == 4096
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 4095}
    fits = client.messages.with_raw_response.create(model="fast", max_tokens=4096, messages=ASK)
    assert "x-failsoft-warning" not in fits.headers
    assert sim.requests("claude-3-haiku-20240307")[-1].body["max_tokens"] == 4096


def test_the_configured_output_limit_wins_over_the_built_in_one(
    gw: GatewayThread, sim: SimServer
) -> None:
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=CALLER_KEY, max_retries=0) as oai:
        raw = oai.chat.completions.with_raw_response.create(
            model="gpt", messages=ASK, max_completion_tokens=16000
        )
    assert raw.headers["x-failsoft-warning"] == (
        "max_completion_tokens 16000 lowered to 1000 (gpt-4o's output limit)"
    )
    assert sim.requests("gpt-4o")[-1].body["max_completion_tokens"] == 1000
