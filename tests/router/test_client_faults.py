"""The caller's own faults are relayed at once: no failover, no retry, one upstream attempt.

(A 401 or 403 is not the caller's: failsoft sent its own key. See test_refused_keys.py.)"""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from failsoft.sim import SimServer

OPENAI_FAULTS: list[tuple[int, type[openai.APIStatusError]]] = [
    (400, openai.BadRequestError),
    (404, openai.NotFoundError),
    (413, openai.APIStatusError),
    (422, openai.UnprocessableEntityError),
]
ANTHROPIC_FAULTS: list[tuple[int, type[anthropic.APIStatusError]]] = [
    (400, anthropic.BadRequestError),
    (404, anthropic.NotFoundError),
    (413, anthropic.APIStatusError),
    (422, anthropic.UnprocessableEntityError),
]


@pytest.mark.parametrize(("status", "exc"), OPENAI_FAULTS, ids=[str(s) for s, _ in OPENAI_FAULTS])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_openai_client_fault_not_retried(
    oai: openai.OpenAI, sim: SimServer, status: int, exc: type[Exception], stream: bool
) -> None:
    sim.set_fault("gpt-4o", {"kind": "status", "status": status})
    with pytest.raises(exc) as info:
        result: Any = oai.chat.completions.create(
            model="gpt", messages=[{"role": "user", "content": "hi"}], stream=stream
        )
        for _ in result if stream else ():
            pass
    error = info.value
    assert isinstance(error, openai.APIStatusError)
    assert error.status_code == status
    assert error.response.headers["x-failsoft-trail"] == f"openai/gpt-4o:{status}"
    assert error.response.headers["x-should-retry"] == "false"
    assert sim.attempts("gpt-4o") == 1
    assert sim.attempts("gpt-4o-mini") == 0


@pytest.mark.parametrize(
    ("status", "exc"), ANTHROPIC_FAULTS, ids=[str(s) for s, _ in ANTHROPIC_FAULTS]
)
def test_anthropic_client_fault_not_retried(
    ant: anthropic.Anthropic, sim: SimServer, status: int, exc: type[Exception]
) -> None:
    sim.set_fault("claude-opus-4-7", {"kind": "status", "status": status})
    with pytest.raises(exc) as info:
        ant.messages.create(
            model="claude", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        )
    error = info.value
    assert isinstance(error, anthropic.APIStatusError)
    assert error.status_code == status
    assert isinstance(error.body, dict)
    assert error.body["type"] == "error"  # the provider's own error body, relayed
    assert sim.attempts("claude-opus-4-7") == 1
    assert sim.attempts("claude-sonnet-4-5") == 0


def test_sdk_does_not_retry_a_relayed_client_fault(gateway: Any, sim: SimServer) -> None:
    sim.set_fault("gpt-4o", {"kind": "status", "status": 400})
    with (
        openai.OpenAI(base_url=gateway.url + "/v1", api_key="k", max_retries=2) as client,
        pytest.raises(openai.BadRequestError),
    ):
        client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "hi"}])
    assert sim.attempts("gpt-4o") == 1


def test_content_policy_is_not_failed_over(ant: anthropic.Anthropic, sim: SimServer) -> None:
    sim.set_fault("claude-opus-4-7", {"kind": "status", "status": 400, "body": "content_policy"})
    with pytest.raises(anthropic.BadRequestError):
        ant.messages.create(
            model="claude", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        )
    assert sim.attempts("claude-sonnet-4-5") == 0


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_context_length_moves_to_the_next_target(
    oai: openai.OpenAI, sim: SimServer, stream: bool
) -> None:
    sim.set_fault("gpt-4o", {"kind": "status", "status": 400, "body": "context_length"})
    if stream:
        with oai.chat.completions.with_streaming_response.create(
            model="gpt", messages=[{"role": "user", "content": "hi"}], stream=True
        ) as raw:
            trail = raw.headers["x-failsoft-trail"]
            model = next(iter(raw.parse())).model
    else:
        resp = oai.chat.completions.with_raw_response.create(
            model="gpt", messages=[{"role": "user", "content": "hi"}]
        )
        trail = resp.headers["x-failsoft-trail"]
        model = resp.parse().model
    assert model == "gpt-4o-mini"
    assert trail == "openai/gpt-4o:400,openai/gpt-4o-mini:200"


def test_context_length_everywhere_is_the_callers_fault(
    ant: anthropic.Anthropic, sim: SimServer
) -> None:
    sim.set_fault("*", {"kind": "status", "status": 400, "body": "context_length"})
    with pytest.raises(anthropic.BadRequestError) as info:
        ant.messages.create(
            model="claude", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        )
    assert "prompt is too long" in info.value.message
    assert info.value.response.headers["x-failsoft-attempts"] == "2"
