"""Errors, warnings and refusals across dialects, as the real SDKs see them.

An upstream error in one dialect reaches the caller in the caller's shape, with the status
that makes its SDK raise the right exception class; what a translation dropped is named in
`x-failsoft-warning`; what it cannot carry is a 400 in the caller's dialect before any
upstream is called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest

from failsoft import Gateway
from failsoft.sim import SimServer
from tests.translate.conftest import UPSTREAMS, translate_config
from tests.translate.sdk import ask_anthropic, ask_openai

HI = [{"role": "user", "content": "Tell me about retries"}]
OPENAI_EXC = {
    400: openai.BadRequestError,
    404: openai.NotFoundError,
    422: openai.UnprocessableEntityError,
}
ANTHROPIC_EXC = {
    400: anthropic.BadRequestError,
    404: anthropic.NotFoundError,
    413: anthropic.RequestTooLargeError,
    422: anthropic.UnprocessableEntityError,
}


@pytest.mark.parametrize("status", sorted(OPENAI_EXC))
@pytest.mark.parametrize("upstream", ["anthropic", "gemini"])
def test_openai_caller_gets_upstream_refusals_in_its_shape(
    toai: openai.OpenAI, sim: SimServer, upstream: str, status: int
) -> None:
    virtual, model = UPSTREAMS[upstream]
    sim.set_fault(model, {"kind": "status", "status": status, "message": "no thanks"})
    with pytest.raises(OPENAI_EXC[status]) as caught:
        toai.chat.completions.create(model=virtual, messages=HI)  # type: ignore[arg-type]
    body = caught.value.response.json()
    assert set(body["error"]) >= {"message", "type", "param", "code"}
    assert body["error"]["message"] == "no thanks"
    assert caught.value.response.headers["x-failsoft-trail"] == f"{upstream}/{model}:{status}"


@pytest.mark.parametrize("status", sorted(ANTHROPIC_EXC))
@pytest.mark.parametrize("upstream", ["openai", "gemini"])
def test_anthropic_caller_gets_upstream_refusals_in_its_shape(
    tant: anthropic.Anthropic, sim: SimServer, upstream: str, status: int
) -> None:
    virtual, model = UPSTREAMS[upstream]
    sim.set_fault(model, {"kind": "status", "status": status, "message": "no thanks"})
    with pytest.raises(ANTHROPIC_EXC[status]) as caught:
        tant.messages.create(model=virtual, max_tokens=50, messages=HI)  # type: ignore[arg-type]
    body = caught.value.response.json()
    assert body["type"] == "error"
    expected = {400: "invalid_request_error", 403: "permission_error", 404: "not_found_error",
                413: "request_too_large", 422: "invalid_request_error"}  # fmt: skip
    assert body["error"]["type"] == expected[status]
    assert body["error"]["message"] == "no thanks"


def test_a_translated_targets_refusal_moves_on_to_the_next(
    toai: openai.OpenAI, sim: SimServer, direct: Callable[..., str]
) -> None:
    """A 400 from a target that got a translation may refuse failsoft's writing, not the
    caller's request: the next target is tried, and breakers are not charged."""
    sim.set_fault("claude-opus-4-7", {"kind": "status", "status": 400})
    raw = toai.chat.completions.with_raw_response.create(model="claude-then-gpt", messages=HI)  # type: ignore[arg-type]
    assert raw.parse().choices[0].message.content == direct("claude-sonnet-4-5", HI)
    assert raw.headers["x-failsoft-trail"].startswith("anthropic/claude-opus-4-7:400,")


def test_a_403_from_another_dialect_fails_over(toai: openai.OpenAI, sim: SimServer) -> None:
    """A 403 refuses failsoft's account (a region, a model not enabled), not the caller:
    an ordinary failure of that target, whatever its dialect."""
    sim.set_fault("claude-opus-4-7", {"kind": "status", "status": 403})
    raw = toai.chat.completions.with_raw_response.create(model="claude-then-gpt", messages=HI)  # type: ignore[arg-type]
    assert raw.headers["x-failsoft-trail"] == (
        "anthropic/claude-opus-4-7:403,anthropic/claude-sonnet-4-5:200"
    )


def test_a_native_targets_refusal_is_relayed_at_once(
    tant: anthropic.Anthropic, sim: SimServer
) -> None:
    sim.set_fault("claude-opus-4-7", {"kind": "status", "status": 400})
    with pytest.raises(anthropic.BadRequestError):
        tant.messages.create(model="claude-then-gpt", max_tokens=50, messages=HI)  # type: ignore[arg-type]
    assert sim.attempts("claude-sonnet-4-5") == 0 and sim.attempts("gpt-4o") == 0


def test_context_length_from_gemini_moves_on_and_is_named_for_openai(
    toai: openai.OpenAI, sim: SimServer
) -> None:
    sim.set_fault(
        "gemini-3-pro-preview", {"kind": "status", "status": 400, "body": "context_length"}
    )
    answer = toai.chat.completions.create(model="gemini-then-gpt", messages=HI)  # type: ignore[arg-type]
    assert answer.model == "gpt-4o"
    with pytest.raises(openai.BadRequestError) as caught:
        toai.chat.completions.create(model="via-gemini3", messages=HI)  # type: ignore[arg-type]
    assert caught.value.code == "context_length_exceeded"
    assert "input token count" in caught.value.message


def test_gemini_daily_quota_opens_the_breaker_for_long(toai: openai.OpenAI, sim: SimServer) -> None:
    sim.set_fault(
        "gemini-3-pro-preview", {"kind": "status", "status": 429, "body": "insufficient_quota"}
    )
    for _ in range(3):
        answer = toai.chat.completions.create(model="gemini-then-gpt", messages=HI)  # type: ignore[arg-type]
        assert answer.model == "gpt-4o"
    assert sim.attempts("gemini-3-pro-preview") == 1


def test_exhaustion_is_in_the_callers_shape(
    tant: anthropic.Anthropic, toai: openai.OpenAI, sim: SimServer
) -> None:
    for model in ("claude-opus-4-7", "claude-sonnet-4-5", "gpt-4o", "gemini-3-pro-preview"):
        sim.set_fault(model, {"kind": "status", "status": 503})
    with pytest.raises(anthropic.OverloadedError) as ant_caught:
        tant.messages.create(model="claude-then-gpt", max_tokens=50, messages=HI)  # type: ignore[arg-type]
    assert ant_caught.value.response.json()["error"]["type"] == "overloaded_error"
    assert "openai/gpt-4o:503" in ant_caught.value.response.headers["x-failsoft-trail"]
    with pytest.raises(openai.InternalServerError) as oai_caught:
        toai.chat.completions.create(model="gemini-then-gpt", messages=HI)  # type: ignore[arg-type]
    assert oai_caught.value.status_code == 503
    assert (
        "gemini/gemini-3-pro-preview:503" in oai_caught.value.response.headers["x-failsoft-trail"]
    )


@pytest.mark.parametrize("upstream", ["anthropic", "gemini"])
def test_openai_stream_gets_a_translated_mid_stream_error(
    toai: openai.OpenAI, sim: SimServer, upstream: str
) -> None:
    virtual, model = UPSTREAMS[upstream]
    sim.set_fault(model, {"kind": "mid_stream_error", "after": 3})
    seen = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in toai.chat.completions.create(model=virtual, messages=HI, stream=True):  # type: ignore[arg-type]
            seen.append(chunk)
    assert not isinstance(caught.value, openai.APIStatusError)
    assert "".join(c.choices[0].delta.content or "" for c in seen if c.choices).startswith(
        "Simulated answer"
    )


@pytest.mark.parametrize("upstream", ["openai", "gemini"])
def test_anthropic_stream_gets_a_translated_mid_stream_error(
    tant: anthropic.Anthropic, sim: SimServer, upstream: str
) -> None:
    virtual, model = UPSTREAMS[upstream]
    sim.set_fault(model, {"kind": "mid_stream_error", "after": 3})
    with pytest.raises(anthropic.APIStatusError) as caught:
        with tant.messages.stream(model=virtual, max_tokens=50, messages=HI) as stream:  # type: ignore[arg-type]
            for _ in stream.text_stream:
                pass
    expected = "api_error" if upstream == "openai" else "overloaded_error"
    assert caught.value.body["error"]["type"] == expected  # type: ignore[index]


@pytest.mark.parametrize("caller", ["openai", "anthropic"])
def test_a_cut_translated_stream_never_ends_silently(
    toai: openai.OpenAI, tant: anthropic.Anthropic, sim: SimServer, caller: str
) -> None:
    sim.set_fault("gemini-2.5-flash", {"kind": "cut", "after": 3, "stream": True})
    with pytest.raises((openai.APIError, anthropic.APIError)):
        if caller == "openai":
            ask_openai(toai, "helper", "via-gemini", HI)
        else:
            ask_anthropic(tant, "helper", "via-gemini", HI)


def test_dropped_fields_are_named_in_a_warning_header(
    toai: openai.OpenAI, tant: anthropic.Anthropic, sim: SimServer
) -> None:
    raw = toai.chat.completions.with_raw_response.create(
        model="via-anthropic",
        messages=HI,
        seed=7,
        logprobs=True,  # type: ignore[arg-type]
    )
    warning = raw.headers["x-failsoft-warning"]
    assert "seed" in warning and "logprobs" in warning
    assert "seed" not in sim.requests("claude-opus-4-7")[-1].body
    native = toai.chat.completions.with_raw_response.create(model="via-openai", messages=HI, seed=7)  # type: ignore[arg-type]
    assert "x-failsoft-warning" not in native.headers
    streamed = tant.messages.with_raw_response.create(
        model="via-openai",
        max_tokens=50,
        messages=HI,
        extra_body={"top_k": 5},  # anthropic 2.x (API 2026-10-21) no longer has the argument
        stream=True,  # type: ignore[arg-type]
    )
    assert "top_k" in streamed.headers["x-failsoft-warning"]
    streamed.http_response.read()


def test_api_2026_10_21_gets_no_sampling_parameters(toai: openai.OpenAI, sim: SimServer) -> None:
    """Anthropic API 2026-10-21 refuses temperature/top_p outright; 2023-06-01 takes them."""
    raw = toai.chat.completions.with_raw_response.create(
        model="via-anthropic-next",
        messages=HI,
        temperature=0.3,
        top_p=0.9,  # type: ignore[arg-type]
    )
    assert raw.parse().choices[0].message.content
    sent = sim.requests("claude-opus-4-7")[-1]
    assert sent.headers["anthropic-version"] == "2026-10-21"
    assert "temperature" not in sent.body and "top_p" not in sent.body
    assert "temperature" in raw.headers["x-failsoft-warning"]
    toai.chat.completions.create(model="via-anthropic", messages=HI, temperature=0.3)  # type: ignore[arg-type]
    assert sim.requests("claude-opus-4-7")[-1].body["temperature"] == 0.3


def test_untranslatable_requests_get_a_400_in_the_callers_dialect(
    toai: openai.OpenAI, tant: anthropic.Anthropic, sim: SimServer
) -> None:
    with pytest.raises(openai.BadRequestError) as oai_caught:
        toai.chat.completions.create(model="via-anthropic", messages=HI, n=2)  # type: ignore[arg-type]
    assert oai_caught.value.code == "untranslatable_request"
    assert "anthropic/claude-opus-4-7" in oai_caught.value.message
    document: list[Any] = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Summarise"},
                {
                    "type": "document",
                    "source": {"type": "text", "media_type": "text/plain", "data": "x"},
                },
            ],
        }
    ]
    with pytest.raises(anthropic.BadRequestError) as ant_caught:
        tant.messages.create(model="via-gemini", max_tokens=50, messages=document)  # type: ignore[arg-type]
    assert ant_caught.value.response.json()["error"]["type"] == "invalid_request_error"
    assert sim.attempts("gemini-2.5-flash") == 0
    assert sim.attempts("claude-opus-4-7") == 0


def test_an_untranslatable_target_is_skipped_in_a_mixed_plan(
    toai: openai.OpenAI, sim: SimServer
) -> None:
    """`n: 2` goes natively to GPT; when GPT fails, Claude cannot take it: an outage, named."""
    answer = toai.chat.completions.create(model="gpt-then-claude", messages=HI, n=2)  # type: ignore[arg-type]
    assert answer.model == "gpt-4o"
    sim.set_fault("gpt-4o", {"kind": "status", "status": 503})
    with pytest.raises(openai.InternalServerError) as caught:
        toai.chat.completions.create(model="gpt-then-claude", messages=HI, n=2)  # type: ignore[arg-type]
    trail = caught.value.response.headers["x-failsoft-trail"]
    assert trail == "openai/gpt-4o:503,anthropic/claude-opus-4-7:untranslatable"
    assert sim.attempts("claude-opus-4-7") == 0


async def test_library_mode_reports_warnings(sim: SimServer) -> None:
    async with Gateway(translate_config(sim.url)) as gw:
        reply = await gw.chat_completions({"model": "via-gemini", "messages": HI, "logprobs": True})
        assert any("logprobs" in w for w in reply.warnings)
        assert reply.body["model"] == "gemini-2.5-flash"
        async with gw.stream_messages(
            {"model": "via-openai", "max_tokens": 20, "messages": HI, "top_k": 3}
        ) as stream:
            events = [event async for event in stream]
        assert any("top_k" in w for w in stream.warnings)
        assert events[0]["type"] == "message_start" and events[-1]["type"] == "message_stop"
