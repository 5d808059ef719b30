"""When every target fails: 503 on the OpenAI surface, 529 on the Anthropic one, in the
caller's error shape, with Retry-After, x-should-retry, and every attempt named."""

from __future__ import annotations

import anthropic
import openai
import pytest

from failsoft.serve import GatewayThread
from failsoft.sim import SimServer


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
