"""Silent and slow upstreams: bounded by the deadlines, never retried while silent."""

from __future__ import annotations

import time

import anthropic
import openai
import pytest

from failsoft.sim import SimServer
from tests.chaos.conftest import HI


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_no_response_at_all(oai: openai.OpenAI, sim: SimServer, stream: bool) -> None:
    sim.set_fault("gpt-4o", {"kind": "hang"})
    started = time.monotonic()
    reply = oai.chat.completions.with_raw_response.create(model="gpt", messages=HI, stream=stream)
    elapsed = time.monotonic() - started
    # first_token (0.6 s) is shorter than first_byte (1 s), so it is what ends the wait.
    assert reply.headers["x-failsoft-trail"] == (
        "openai/gpt-4o:first_token_timeout,openai/gpt-4o-mini:200"
    )
    assert 0.55 <= elapsed < 1.5
    assert sim.attempts("gpt-4o") == 1  # a silent target is not retried


def test_no_response_and_no_backup_ends_at_the_deadline(oai: openai.OpenAI, sim: SimServer) -> None:
    sim.set_fault("gpt-4o", {"kind": "hang"})
    started = time.monotonic()
    with pytest.raises(openai.InternalServerError) as info:
        oai.chat.completions.create(model="gpt-solo", messages=HI)
    elapsed = time.monotonic() - started
    # The last target waits past first_token, but first_byte (1 s) still ends the silence.
    assert info.value.response.headers["x-failsoft-trail"] == "openai/gpt-4o:first_byte_timeout"
    assert 0.95 <= elapsed < 2.0
    assert sim.attempts("gpt-4o") == 1


def test_slow_first_token_fails_over_at_the_ttft_limit(
    ant: anthropic.Anthropic, sim: SimServer
) -> None:
    sim.set_fault("claude-opus-4-7", {"kind": "slow_first_token", "delay": 3.0})
    started = time.monotonic()
    with ant.messages.stream(model="claude", max_tokens=64, messages=HI) as stream:
        trail = stream.response.headers["x-failsoft-trail"]
        message = stream.get_final_message()
    elapsed = time.monotonic() - started
    assert trail == "anthropic/claude-opus-4-7:first_token_timeout,anthropic/claude-sonnet-4-5:200"
    assert message.model == "claude-sonnet-4-5"
    assert 0.55 <= elapsed < 1.5


def test_slow_first_token_without_a_backup_is_waited_for(
    oai: openai.OpenAI, sim: SimServer
) -> None:
    """With nobody else to ask, a slow model is better than no model: no TTFT failover."""
    sim.set_fault("gpt-4o", {"kind": "slow_first_token", "delay": 1.5})
    started = time.monotonic()
    chunks = list(oai.chat.completions.create(model="gpt-solo", messages=HI, stream=True))
    assert time.monotonic() - started >= 1.4
    assert chunks[0].model == "gpt-4o"
    assert sim.attempts("gpt-4o") == 1


def test_no_first_byte_fails_over_at_the_first_byte_limit(
    chaos,
    sim: SimServer,  # type: ignore[no-untyped-def]
) -> None:
    gw = chaos({"deadlines": {"first_byte": 0.4, "first_token": 5}})
    sim.set_fault("gpt-4o", {"kind": "slow_headers", "delay": 3.0})
    started = time.monotonic()
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client:
        reply = client.chat.completions.with_raw_response.create(model="gpt", messages=HI)
    assert reply.headers["x-failsoft-trail"] == (
        "openai/gpt-4o:first_byte_timeout,openai/gpt-4o-mini:200"
    )
    assert 0.35 <= time.monotonic() - started < 1.2
