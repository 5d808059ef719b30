"""When every target fails: 503 on the OpenAI surface, 529 on the Anthropic one, in the
caller's error shape, with Retry-After, x-should-retry, and every attempt named."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest

from failsoft.config import parse_config
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.conftest import PROVIDER_KEY


def test_openai_exhaustion(oai: openai.OpenAI, sim: SimServer) -> None:
    sim.set_fault("gpt-4o", {"kind": "status", "status": 529})
    sim.set_fault("gpt-4o-mini", {"kind": "reset"})
    with pytest.raises(openai.InternalServerError) as info:
        oai.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "hi"}])
    error = info.value
    assert error.status_code == 503
    assert error.code == "all_targets_failed"
    assert error.type == "service_unavailable_error"
    assert "openai/gpt-4o → 529" in error.message
    assert "openai/gpt-4o-mini → reset" in error.message
    headers = error.response.headers
    assert headers["x-failsoft-trail"] == "openai/gpt-4o:529,openai/gpt-4o-mini:reset"
    assert headers["x-failsoft-attempts"] == "2"
    assert headers["x-should-retry"] == "true"
    assert int(headers["retry-after"]) >= 1
    assert "x-failsoft-model" not in headers


def test_anthropic_exhaustion_streaming(ant: anthropic.Anthropic, sim: SimServer) -> None:
    sim.set_fault("claude-opus-4-7", {"kind": "status", "status": 529})
    sim.set_fault("claude-sonnet-4-5", {"kind": "status", "status": 500})
    with (
        pytest.raises(anthropic.OverloadedError) as info,
        ant.messages.stream(
            model="claude", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        ),
    ):
        pass
    error = info.value
    assert error.status_code == 529
    assert isinstance(error.body, dict)
    assert error.body["type"] == "error"
    assert error.body["error"]["type"] == "overloaded_error"
    assert "anthropic/claude-opus-4-7 → 529" in error.message
    assert "anthropic/claude-sonnet-4-5 → 500" in error.message
    assert error.response.headers["request-id"].startswith("fs_")


def test_retry_after_passes_on_the_upstream_hint(oai: openai.OpenAI, sim: SimServer) -> None:
    sim.set_fault("*", {"kind": "status", "status": 429, "retry_after": 7})
    with pytest.raises(openai.InternalServerError) as info:
        oai.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "hi"}])
    assert info.value.response.headers["retry-after"] == "7"
    assert info.value.response.headers["retry-after-ms"] == "7000"


def test_sdk_retries_exhaustion_when_told_to(gateway: GatewayThread, sim: SimServer) -> None:
    """x-should-retry: true + retry-after-ms lets the SDK retry; the retry then succeeds."""
    sim.set_fault("claude-opus-4-7", {"kind": "status", "status": 529, "count": 1})
    with anthropic.Anthropic(base_url=gateway.url, api_key="k", max_retries=1) as client:
        # claude-one has a single target: the first call exhausts it, the SDK's retry works.
        message = client.messages.create(
            model="claude-one", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        )
    assert message.model == "claude-opus-4-7"
    assert sim.attempts("claude-opus-4-7") == 2


def test_deadline_header_bounds_the_whole_request(oai: openai.OpenAI, sim: SimServer) -> None:
    sim.set_fault("*", {"kind": "hang"})
    with pytest.raises(openai.InternalServerError) as info:
        oai.chat.completions.create(
            model="gpt",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-failsoft-timeout": "0.3"},
        )
    # The 0.3 s deadline ran out during the first attempt; the second was never started.
    assert "deadline" in info.value.message
    assert sim.attempts("gpt-4o-mini") == 0


COUNTING = """
providers:
  anthropic: {{dialect: anthropic, base_url: "{sim}", api_key: "{key}"}}
  openai: {{dialect: openai, base_url: "{sim}/v1", api_key: "{key}"}}
models:
  gpt: [openai/gpt-4o, openai/gpt-4o-mini]
  claude-then-gpt: [anthropic/claude-opus-4-7, openai/gpt-4o]
deadlines: {{connect: 1, first_token: 2, idle: 2, total: 8}}
retry: {{max_attempts: 2, backoff: {{base: 0.01, cap: 0.02}}}}
breaker: {{failures: 100}}
"""


def test_targets_count_as_targets_and_only_real_attempts_as_attempts(
    make_gateway: Callable[..., GatewayThread], sim: SimServer
) -> None:
    """A retried target is one target in "all N targets failed" (and appears once per
    attempt in the trail); a target skipped as untranslatable is not an attempt."""
    config = parse_config(COUNTING.format(sim=sim.url, key=PROVIDER_KEY))
    gw = make_gateway(config=config)
    hi: Any = [{"role": "user", "content": "hi"}]
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client:
        sim.set_fault("*", {"kind": "status", "status": 500})
        with pytest.raises(openai.InternalServerError) as retried:
            client.chat.completions.create(model="gpt", messages=hi)
        sim.clear_faults()
        # `n: 2` has no Anthropic equivalent: Claude is skipped, GPT answers.
        skipped = client.chat.completions.with_raw_response.create(
            model="claude-then-gpt", messages=hi, n=2
        )
        sim.set_fault("gpt-4o", {"kind": "status", "status": 503})
        with pytest.raises(openai.InternalServerError) as untranslatable:
            client.chat.completions.create(model="claude-then-gpt", messages=hi, n=2)
    headers = retried.value.response.headers
    assert headers["x-failsoft-trail"] == (
        "openai/gpt-4o:500,openai/gpt-4o:500,openai/gpt-4o-mini:500,openai/gpt-4o-mini:500"
    )
    assert headers["x-failsoft-attempts"] == "4"
    assert "- failsoft: all 2 targets failed for model 'gpt':" in retried.value.message
    assert skipped.headers["x-failsoft-trail"] == (
        "anthropic/claude-opus-4-7:untranslatable,openai/gpt-4o:200"
    )
    assert skipped.headers["x-failsoft-attempts"] == "1"
    headers = untranslatable.value.response.headers
    assert headers["x-failsoft-attempts"] == "2"  # the retried GPT; Claude was never asked
    assert "- failsoft: all 2 targets failed for model 'claude-then-gpt':" in (
        untranslatable.value.message
    )
    assert sim.attempts("claude-opus-4-7") == 0
