"""Ordered fallback, seen through the real SDKs: the primary fails, the backup answers.

Each failure mode of the primary (529, 500, 503, 429, reset before headers, no response at
all) is tried with both SDKs, streaming and not. The answer must come from the backup, say
so in the headers and in the body's `model`, and the primary must have been tried once.
"""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from failsoft.sim import SimServer

FAULTS: list[tuple[dict[str, Any], str]] = [
    ({"kind": "status", "status": 529}, "529"),
    ({"kind": "status", "status": 500}, "500"),
    ({"kind": "status", "status": 503}, "503"),
    ({"kind": "status", "status": 429, "retry_after": 3}, "429"),
    ({"kind": "reset"}, "reset"),
    ({"kind": "hang"}, "first_token_timeout"),
]
FAULT_IDS = [token for _, token in FAULTS]


def ask_claude(
    ant: anthropic.Anthropic, stream: bool, text: str = "hi", max_tokens: int = 64
) -> tuple[Any, Any]:
    """(headers, message) of one call to the `claude` model, streamed or not."""
    messages: Any = [{"role": "user", "content": text}]
    if stream:
        with ant.messages.stream(model="claude", max_tokens=max_tokens, messages=messages) as s:
            return s.response.headers, s.get_final_message()
    raw = ant.messages.with_raw_response.create(
        model="claude", max_tokens=max_tokens, messages=messages
    )
    return raw.headers, raw.parse()


def _trail(provider: str, primary: str, token: str, backup: str) -> str:
    return f"{provider}/{primary}:{token},{provider}/{backup}:200"


@pytest.mark.parametrize(("fault", "token"), FAULTS, ids=FAULT_IDS)
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_openai_sdk_gets_backup_answer(
    oai: openai.OpenAI, sim: SimServer, fault: dict[str, Any], token: str, stream: bool
) -> None:
    sim.set_fault("gpt-4o", fault)
    messages: Any = [{"role": "user", "content": "What is failover?"}]
    if stream:
        with oai.chat.completions.with_streaming_response.create(
            model="gpt", messages=messages, stream=True
        ) as raw:
            headers = raw.headers
            chunks = list(raw.parse())
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        model = chunks[0].model
        assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)
    else:
        raw_resp = oai.chat.completions.with_raw_response.create(model="gpt", messages=messages)
        headers = raw_resp.headers
        completion = raw_resp.parse()
        text = completion.choices[0].message.content or ""
        model = completion.model
        assert completion.choices[0].finish_reason == "stop"
        assert completion.usage is not None
        assert completion.usage.completion_tokens > 0
    assert text.startswith("Simulated answer from gpt-4o-mini")
    assert model == "gpt-4o-mini"
    assert headers["x-failsoft-provider"] == "openai"
    assert headers["x-failsoft-model"] == "gpt-4o-mini"
    assert headers["x-failsoft-attempts"] == "2"
    assert headers["x-failsoft-trail"] == _trail("openai", "gpt-4o", token, "gpt-4o-mini")
    assert sim.attempts("gpt-4o") == 1
    assert sim.attempts("gpt-4o-mini") == 1


@pytest.mark.parametrize(("fault", "token"), FAULTS, ids=FAULT_IDS)
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_anthropic_sdk_gets_backup_answer(
    ant: anthropic.Anthropic, sim: SimServer, fault: dict[str, Any], token: str, stream: bool
) -> None:
    sim.set_fault("claude-opus-4-7", fault)
    headers, message = ask_claude(ant, stream, "What is failover?", max_tokens=256)
    assert message.stop_reason == "end_turn"
    assert message.model == "claude-sonnet-4-5"
    assert message.content[0].type == "text"
    assert message.content[0].text.startswith("Simulated answer from claude-sonnet-4-5")
    assert message.usage.output_tokens > 0
    assert headers["x-failsoft-provider"] == "anthropic"
    assert headers["x-failsoft-model"] == "claude-sonnet-4-5"
    assert headers["x-failsoft-attempts"] == "2"
    assert headers["x-failsoft-trail"] == _trail(
        "anthropic", "claude-opus-4-7", token, "claude-sonnet-4-5"
    )
    assert sim.attempts("claude-opus-4-7") == 1
    assert sim.attempts("claude-sonnet-4-5") == 1


def test_healthy_primary_answers_alone(oai: openai.OpenAI, sim: SimServer) -> None:
    raw = oai.chat.completions.with_raw_response.create(
        model="gpt", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-failsoft-trail"] == "openai/gpt-4o:200"
    assert raw.headers["x-failsoft-attempts"] == "1"
    assert raw.parse().model == "gpt-4o"
    assert sim.attempts("gpt-4o-mini") == 0


def test_direct_provider_model_is_routed(oai: openai.OpenAI, sim: SimServer) -> None:
    raw = oai.chat.completions.with_raw_response.create(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-failsoft-trail"] == "openai/gpt-4o-mini:200"
    assert raw.parse().model == "gpt-4o-mini"


PRE_CONTENT = [
    (False, {"kind": "cut", "after": 0}, "reset"),
    (False, {"kind": "mid_stream_error", "after": 0}, "stream_error"),
    (False, {"kind": "slow_first_token", "delay": 2.0}, "first_token_timeout"),
    (False, {"kind": "malformed", "after": 0, "target": "content"}, "malformed"),
    (False, {"kind": "no_terminal", "stream": True}, "truncated"),
    (True, {"kind": "cut", "after": 0}, "reset"),
    (True, {"kind": "mid_stream_error", "after": 0}, "stream_error"),
    (True, {"kind": "slow_first_token", "delay": 2.0}, "first_token_timeout"),
    (True, {"kind": "malformed", "after": 0, "target": "content"}, "malformed"),
]


@pytest.mark.parametrize(
    ("stream", "fault", "token"),
    PRE_CONTENT,
    ids=[f"{'stream' if s else 'plain'}-{f['kind']}" for s, f, _ in PRE_CONTENT],
)
def test_failures_before_first_content_fail_over_invisibly(
    ant: anthropic.Anthropic, sim: SimServer, fault: dict[str, Any], token: str, stream: bool
) -> None:
    """Until the first content event, a broken upstream stream is just a failed attempt.

    Non-streaming calls are streamed upstream (always_stream), so every fault here is
    caught before anything reaches the caller in that mode, including `no_terminal`
    (for a streaming caller that one is an in-band error, tested in test_streams).
    """
    sim.set_fault("claude-opus-4-7", fault)
    headers, message = ask_claude(ant, stream)
    assert message.model == "claude-sonnet-4-5"
    assert message.stop_reason == "end_turn"
    assert headers["x-failsoft-trail"] == (
        f"anthropic/claude-opus-4-7:{token},anthropic/claude-sonnet-4-5:200"
    )


@pytest.mark.parametrize("kind", ["cut", "stall", "malformed", "no_terminal", "mid_stream_error"])
def test_non_streaming_call_survives_a_broken_upstream_stream(
    oai: openai.OpenAI, sim: SimServer, kind: str
) -> None:
    """A stream that breaks half-way is invisible to a non-streaming caller: nothing was sent."""
    fault: dict[str, Any] = {"kind": kind, "stream": True}
    if kind != "no_terminal":
        fault["after"] = 3
    if kind == "malformed":
        fault["target"] = "content"  # a broken event that carried text
    sim.set_fault("gpt-4o", fault)
    raw = oai.chat.completions.with_raw_response.create(
        model="gpt", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.parse().model == "gpt-4o-mini"
    assert raw.headers["x-failsoft-trail"].startswith("openai/gpt-4o:")
    assert raw.headers["x-failsoft-trail"].endswith(",openai/gpt-4o-mini:200")


def test_three_targets_fail_over_in_order(oai: openai.OpenAI, sim: SimServer) -> None:
    sim.set_fault("gpt-4o", {"kind": "status", "status": 500})
    sim.set_fault("gpt-4o-mini", {"kind": "reset"})
    raw = oai.chat.completions.with_raw_response.create(
        model="chain", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.parse().model == "gpt-4.1"
    assert raw.headers["x-failsoft-attempts"] == "3"
    assert raw.headers["x-failsoft-trail"] == (
        "openai/gpt-4o:500,openai/gpt-4o-mini:reset,openai/gpt-4.1:200"
    )


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_broken_event_without_content_is_dropped_not_failed_over(
    ant: anthropic.Anthropic, sim: SimServer, stream: bool
) -> None:
    """A broken `ping` carries nothing: the primary's answer comes through whole."""
    sim.set_fault("claude-opus-4-7", {"kind": "malformed", "after": 0})
    headers, message = ask_claude(ant, stream)
    assert message.model == "claude-opus-4-7"
    assert message.stop_reason == "end_turn"
    assert headers["x-failsoft-trail"] == "anthropic/claude-opus-4-7:200"
