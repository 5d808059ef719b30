"""Every fault kind as the real SDKs experience it.

Where the SDKs differ, the test pins what each one does, because that is what a
gateway in front of the simulator will have to cope with.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from typing import Any

import aiohttp
import anthropic
import openai
import pytest
from openai.types.chat import ChatCompletionChunk

from failsoft.sim import SimServer

from .helpers import ANTHROPIC_STREAM_BROKEN, GPT, KEY, MODEL, user


def stream_events(client: anthropic.Anthropic, **options: Any) -> list[str]:
    """Event types received before the stream ended (or raised)."""
    received: list[str] = []
    with client.messages.stream(model=MODEL, max_tokens=100, messages=user(), **options) as s:
        for event in s:
            received.append(event.type)
    return received


def content(chunks: Iterable[ChatCompletionChunk]) -> Iterator[str]:
    for chunk in chunks:
        yield chunk.choices[0].delta.content or ""


# --- status ---------------------------------------------------------------------------


def test_status_faults_raise_the_sdk_classes(
    sim: SimServer, oai: openai.OpenAI, ant: anthropic.Anthropic
) -> None:
    sim.set_fault(MODEL, {"kind": "status", "status": 529})
    with pytest.raises(anthropic.OverloadedError) as overloaded:
        ant.messages.create(model=MODEL, max_tokens=10, messages=user())
    assert overloaded.value.type == "overloaded_error"
    assert overloaded.value.request_id == overloaded.value.response.headers["request-id"]

    sim.set_fault(GPT, {"kind": "status", "status": 500})
    with pytest.raises(openai.InternalServerError) as internal:
        oai.chat.completions.create(model=GPT, messages=user())
    assert internal.value.type == "server_error"

    sim.set_fault(GPT, {"kind": "status", "status": 429, "retry_after": 7})
    with pytest.raises(openai.RateLimitError) as limited:
        oai.chat.completions.create(model=GPT, messages=user())
    assert limited.value.response.headers["retry-after"] == "7"
    assert limited.value.code == "rate_limit_exceeded"

    sim.set_fault(GPT, {"kind": "status", "body": "context_length"})
    with pytest.raises(openai.BadRequestError) as too_long:
        oai.chat.completions.create(model=GPT, messages=user())
    assert too_long.value.code == "context_length_exceeded"
    assert too_long.value.param == "messages"

    sim.set_fault(MODEL, {"kind": "status", "body": "context_length"})
    with pytest.raises(anthropic.BadRequestError, match="prompt is too long"):
        ant.messages.create(model=MODEL, max_tokens=10, messages=user())


def test_status_fault_in_a_streaming_request_is_an_http_error(
    sim: SimServer, ant: anthropic.Anthropic
) -> None:
    sim.set_fault(MODEL, {"kind": "status", "status": 529})
    with pytest.raises(anthropic.OverloadedError):
        stream_events(ant)


def test_quota_and_policy_presets(
    sim: SimServer, oai: openai.OpenAI, ant: anthropic.Anthropic
) -> None:
    sim.set_fault(GPT, {"kind": "status", "body": "insufficient_quota"})
    with pytest.raises(openai.RateLimitError) as quota:
        oai.chat.completions.create(model=GPT, messages=user())
    assert (quota.value.type, quota.value.code) == ("insufficient_quota", "insufficient_quota")

    sim.set_fault(MODEL, {"kind": "status", "body": "insufficient_quota"})
    with pytest.raises(anthropic.RateLimitError) as spend:
        ant.messages.create(model=MODEL, max_tokens=10, messages=user())
    assert isinstance(spend.value, anthropic.EnforcedSpendLimitReachedError)
    assert spend.value.body["error"]["details"] == {  # type: ignore[index]
        "error_code": "enforced_spend_limit_reached"
    }

    sim.set_fault(GPT, {"kind": "status", "body": "content_policy"})
    with pytest.raises(openai.BadRequestError) as policy:
        oai.chat.completions.create(model=GPT, messages=user())
    assert policy.value.code == "content_policy_violation"

    sim.set_fault(MODEL, {"kind": "status", "body": "content_policy"})
    with pytest.raises(anthropic.BadRequestError, match="Usage Policy"):
        ant.messages.create(model=MODEL, max_tokens=10, messages=user())


@pytest.mark.parametrize(
    ("status", "anthropic_type", "openai_type"),
    [
        (400, "invalid_request_error", "invalid_request_error"),
        (401, "authentication_error", "invalid_request_error"),
        (403, "permission_error", "request_forbidden"),
        (404, "not_found_error", "invalid_request_error"),
        (413, "request_too_large", "invalid_request_error"),
        (422, "invalid_request_error", "invalid_request_error"),
        (429, "rate_limit_error", "requests"),
        (500, "api_error", "server_error"),
        (502, "api_error", "server_error"),
        (503, "api_error", "service_unavailable_error"),
        (504, "timeout_error", "server_error"),
        (529, "overloaded_error", "service_unavailable_error"),
    ],
)
async def test_error_bodies_per_status(
    sim: SimServer, status: int, anthropic_type: str, openai_type: str
) -> None:
    sim.set_fault("*", {"kind": "status", "status": status})
    async with aiohttp.ClientSession() as http:
        async with http.post(
            sim.url + "/v1/messages",
            json={"model": MODEL, "max_tokens": 5, "messages": user()},
            headers={"anthropic-version": "2023-06-01"},
        ) as resp:
            assert resp.status == status
            body = await resp.json()
            assert body["type"] == "error"
            assert body["error"]["type"] == anthropic_type
            assert body["error"]["message"]
            assert body["request_id"] == resp.headers["request-id"]
        async with http.post(
            sim.url + "/v1/chat/completions", json={"model": GPT, "messages": user()}
        ) as resp:
            assert resp.status == status
            error = (await resp.json())["error"]
            assert set(error) == {"message", "type", "param", "code"}
            assert error["type"] == openai_type
            assert resp.headers["x-request-id"].startswith("req_")


async def test_custom_error_fields_and_retry_headers(sim: SimServer) -> None:
    sim.set_fault(
        GPT,
        {
            "kind": "status",
            "status": 503,
            "message": "try later",
            "type": "custom_type",
            "code": "custom_code",
            "retry_after": 1.5,
            "retry_after_ms": 1500,
            "should_retry": False,
        },
    )
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            sim.url + "/v1/chat/completions", json={"model": GPT, "messages": user()}
        ) as resp,
    ):
        body = await resp.json()
        assert resp.headers["retry-after"] == "1.5"
        assert resp.headers["retry-after-ms"] == "1500"
        assert resp.headers["x-should-retry"] == "false"
    assert body["error"] == {
        "message": "try later",
        "type": "custom_type",
        "param": None,
        "code": "custom_code",
    }


def test_sdk_retries_are_counted_and_logged(sim: SimServer) -> None:
    sim.set_fault(MODEL, {"kind": "status", "status": 529, "retry_after_ms": 1})
    with (
        anthropic.Anthropic(base_url=sim.url, api_key=KEY, max_retries=2) as client,
        pytest.raises(anthropic.OverloadedError),
    ):
        client.messages.create(model=MODEL, max_tokens=10, messages=user())
    assert sim.attempts(MODEL) == 3
    log = sim.requests(MODEL)
    assert [record.retry_count for record in log] == [0, 1, 2]
    assert {record.outcome for record in log} == {"529"}
    assert {record.auth for record in log} == {"authorization"}
    assert all(record.headers["anthropic-version"] for record in log)
    assert sim.stats()["models"][MODEL] == {"attempts": 3, "outcomes": {"529": 3}}


def test_should_retry_false_stops_sdk_retries(sim: SimServer) -> None:
    sim.set_fault(GPT, {"kind": "status", "status": 500, "should_retry": False})
    with (
        openai.OpenAI(base_url=sim.url + "/v1", api_key=KEY, max_retries=2) as client,
        pytest.raises(openai.InternalServerError),
    ):
        client.chat.completions.create(model=GPT, messages=user())
    assert sim.attempts(GPT) == 1


# --- connection-level faults -----------------------------------------------------------


def test_reset_is_a_connection_error(
    sim: SimServer, oai: openai.OpenAI, ant: anthropic.Anthropic
) -> None:
    sim.set_fault("*", {"kind": "reset"})
    with pytest.raises(openai.APIConnectionError):
        oai.chat.completions.create(model=GPT, messages=user())
    with pytest.raises(anthropic.APIConnectionError):
        ant.messages.create(model=MODEL, max_tokens=10, messages=user())
    assert sim.stats()["models"][GPT]["outcomes"] == {"reset": 1}


async def test_hang_times_the_client_out(sim: SimServer) -> None:
    sim.set_fault("*", {"kind": "hang"})
    async with openai.AsyncOpenAI(
        base_url=sim.url + "/v1", api_key=KEY, max_retries=0, timeout=0.3
    ) as client:
        started = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            await client.chat.completions.create(model=GPT, messages=user())
        assert 0.3 <= time.monotonic() - started < 2
    async with anthropic.AsyncAnthropic(
        base_url=sim.url, api_key=KEY, max_retries=0, timeout=0.3
    ) as aclient:
        with pytest.raises(anthropic.APITimeoutError):
            await aclient.messages.create(model=MODEL, max_tokens=10, messages=user())
    assert sim.requests()[-1].outcome == "hang"


def test_slow_headers_delays_then_answers(sim: SimServer, oai: openai.OpenAI) -> None:
    sim.set_fault(GPT, {"kind": "slow_headers", "delay": 0.2})
    started = time.monotonic()
    completion = oai.chat.completions.create(model=GPT, messages=user())
    assert time.monotonic() - started >= 0.2
    assert completion.choices[0].finish_reason == "stop"
    assert sim.requests()[-1].outcome == "200"
    assert sim.requests()[-1].fault == "slow_headers"


def test_slow_first_token_sends_the_preamble_first(
    sim: SimServer, ant: anthropic.Anthropic
) -> None:
    # A wide margin between the two: on a loaded machine the preamble itself can take
    # a few hundred milliseconds to arrive.
    sim.set_fault(MODEL, {"kind": "slow_first_token", "delay": 0.8})
    started = time.monotonic()
    seen: dict[str, float] = {}
    with ant.messages.stream(model=MODEL, max_tokens=100, messages=user()) as stream:
        for event in stream:
            seen.setdefault(event.type, time.monotonic() - started)
        final = stream.get_final_message()
    assert seen["message_start"] < 0.7
    assert seen["content_block_delta"] >= 0.8
    assert final.stop_reason == "end_turn"


def test_slow_first_token_delays_non_streaming(sim: SimServer, oai: openai.OpenAI) -> None:
    sim.set_fault(GPT, {"kind": "slow_first_token", "delay": 0.2})
    started = time.monotonic()
    oai.chat.completions.create(model=GPT, messages=user())
    assert time.monotonic() - started >= 0.2


# --- stream faults -------------------------------------------------------------------------


def test_cut_eof(sim: SimServer, oai: openai.OpenAI, ant: anthropic.Anthropic) -> None:
    """Both SDKs raise a connection error after the events that did arrive."""
    sim.set_fault("*", {"kind": "cut", "after": 3})
    received: list[str] = []
    with (
        pytest.raises(ANTHROPIC_STREAM_BROKEN, match="incomplete chunked read"),
        ant.messages.stream(model=MODEL, max_tokens=100, messages=user()) as stream,
    ):
        received.extend(event.type for event in stream)
    assert received.count("text") == 3
    assert "message_stop" not in received
    pieces: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        pieces.extend(content(oai.chat.completions.create(model=GPT, messages=user(), stream=True)))
    assert len(pieces) == 1 + 3  # role chunk + 3 content chunks
    assert sim.stats()["models"][MODEL]["outcomes"] == {"cut": 1}


def test_cut_reset(sim: SimServer, oai: openai.OpenAI, ant: anthropic.Anthropic) -> None:
    sim.set_fault("*", {"kind": "cut", "after": 1, "mode": "reset"})
    with pytest.raises(ANTHROPIC_STREAM_BROKEN):
        stream_events(ant)
    with pytest.raises(openai.APIConnectionError):
        list(oai.chat.completions.create(model=GPT, messages=user(), stream=True))


def test_cut_non_streaming_sends_half_a_body(sim: SimServer, oai: openai.OpenAI) -> None:
    sim.set_fault(GPT, {"kind": "cut"})
    with pytest.raises(openai.APIConnectionError):
        oai.chat.completions.create(model=GPT, messages=user())


def test_stall_keeps_the_stream_open(sim: SimServer) -> None:
    sim.set_fault("*", {"kind": "stall", "after": 2})
    pieces: list[str] = []
    with openai.OpenAI(base_url=sim.url + "/v1", api_key=KEY, max_retries=0, timeout=0.3) as client:
        with pytest.raises(openai.APITimeoutError):
            pieces.extend(
                content(client.chat.completions.create(model=GPT, messages=user(), stream=True))
            )
        assert len(pieces) == 1 + 2
        sim.set_fault("*", {"kind": "stall"})
        with pytest.raises(openai.APITimeoutError):  # non-streaming: half a body, then silence
            client.chat.completions.create(model=GPT, messages=user())
    assert sim.stats()["models"][GPT]["outcomes"] == {"stall": 2}


def test_malformed_event_breaks_sdk_parsing(
    sim: SimServer, oai: openai.OpenAI, ant: anthropic.Anthropic
) -> None:
    sim.set_fault("*", {"kind": "malformed", "after": 1})
    with pytest.raises(json.JSONDecodeError):
        list(oai.chat.completions.create(model=GPT, messages=user(), stream=True))
    # The extra Anthropic event is a broken `ping`, which the SDK skips without parsing.
    with ant.messages.stream(model=MODEL, max_tokens=100, messages=user()) as stream:
        types = [event.type for event in stream]
        final = stream.get_final_message()
    assert types[-1] == "message_stop"
    assert final.stop_reason == "end_turn"
    sim.clear_faults()
    healthy = ant.messages.create(model=MODEL, max_tokens=100, messages=user())
    assert [b.text for b in final.content if b.type == "text"] == [healthy.content[0].text]
    sim.set_fault("*", {"kind": "malformed", "after": 1, "target": "content"})
    with pytest.raises(json.JSONDecodeError):
        stream_events(ant)
    with pytest.raises(json.JSONDecodeError):
        list(oai.chat.completions.create(model=GPT, messages=user(), stream=True))


def test_no_terminal_ends_silently(
    sim: SimServer, oai: openai.OpenAI, ant: anthropic.Anthropic
) -> None:
    """Both SDKs accept the truncated stream without raising; only the end is missing."""
    sim.set_fault("*", {"kind": "no_terminal"})
    with ant.messages.stream(model=MODEL, max_tokens=100, messages=user()) as stream:
        types = [event.type for event in stream]
        final = stream.get_final_message()
    assert "message_stop" not in types
    assert "message_delta" not in types
    assert types[-1] == "content_block_stop"
    assert final.stop_reason is None
    chunks = list(oai.chat.completions.create(model=GPT, messages=user(), stream=True))
    assert all(chunk.choices[0].finish_reason is None for chunk in chunks)
    assert chunks[-1].choices[0].delta.content  # ended on content
    # the connection stays usable: the same clients go on working
    sim.clear_faults()
    assert stream_events(ant)[-1] == "message_stop"
    assert oai.chat.completions.create(model=GPT, messages=user()).choices


def test_no_terminal_does_not_touch_non_streaming(sim: SimServer, oai: openai.OpenAI) -> None:
    sim.set_fault(GPT, {"kind": "no_terminal", "count": 1})
    assert oai.chat.completions.create(model=GPT, messages=user()).choices[0].finish_reason
    assert sim.faults()["runtime"][GPT]["remaining"] == 1


def test_mid_stream_error(sim: SimServer, oai: openai.OpenAI, ant: anthropic.Anthropic) -> None:
    sim.set_fault("*", {"kind": "mid_stream_error", "after": 2})
    with pytest.raises(anthropic.APIStatusError) as status_error:
        stream_events(ant)
    assert not isinstance(status_error.value, anthropic.OverloadedError)
    assert status_error.value.status_code == 200
    assert status_error.value.type == "overloaded_error"
    with pytest.raises(openai.APIError) as api_error:
        list(oai.chat.completions.create(model=GPT, messages=user(), stream=True))
    assert not isinstance(api_error.value, openai.APIStatusError)
    assert api_error.value.type == "server_error"
    sim.set_fault(MODEL, {"kind": "mid_stream_error", "error_type": "api_error", "message": "boom"})
    with pytest.raises(anthropic.APIStatusError, match="boom") as custom:
        stream_events(ant)
    assert custom.value.type == "api_error"


# --- selection: rate, count, filters, header, precedence --------------------------------


async def _outcomes(sim: SimServer, n: int, **extra: Any) -> list[int]:
    statuses = []
    async with aiohttp.ClientSession() as http:
        for _ in range(n):
            async with http.post(
                sim.url + "/v1/chat/completions",
                json={"model": GPT, "messages": user(), **extra.get("body", {})},
                headers=extra.get("headers", {}),
            ) as resp:
                await resp.read()
                statuses.append(resp.status)
    return statuses


async def test_rate_affects_about_half_deterministically(sim: SimServer) -> None:
    sim.set_fault(GPT, {"kind": "status", "status": 500, "rate": 0.5})
    first = await _outcomes(sim, 60)
    assert 15 <= first.count(500) <= 45
    sim.set_fault(GPT, {"kind": "status", "status": 500, "rate": 0.5})
    assert await _outcomes(sim, 60) == first


async def test_count_affects_exactly_n_then_expires(sim: SimServer) -> None:
    sim.set_fault(GPT, {"kind": "status", "status": 503, "count": 2})
    assert await _outcomes(sim, 4) == [503, 503, 200, 200]
    assert sim.faults()["runtime"] == {}


async def test_stream_filter(sim: SimServer, aoai: openai.AsyncOpenAI) -> None:
    sim.set_fault(GPT, {"kind": "status", "status": 500, "stream": True})
    assert await _outcomes(sim, 1) == [200]
    with pytest.raises(openai.InternalServerError):
        await aoai.chat.completions.create(model=GPT, messages=user(), stream=True)


def test_header_fault(sim: SimServer, oai: openai.OpenAI, ant: anthropic.Anthropic) -> None:
    sim.set_fault("*", {"kind": "status", "status": 500})
    header = {"x-sim-fault": json.dumps({"kind": "status", "status": 429})}
    with pytest.raises(openai.RateLimitError):
        oai.chat.completions.create(model=GPT, messages=user(), extra_headers=header)
    with pytest.raises(anthropic.BadRequestError, match=r"x-sim-fault\.kind: unknown fault kind"):
        ant.messages.create(
            model=MODEL,
            max_tokens=5,
            messages=user(),
            extra_headers={"x-sim-fault": '{"kind": "cutt"}'},
        )
    assert sim.requests()[0].headers["x-sim-fault"] == header["x-sim-fault"]


async def test_model_fault_beats_wildcard(sim: SimServer) -> None:
    sim.set_fault("*", {"kind": "status", "status": 500})
    sim.set_fault(GPT, {"kind": "status", "status": 502})
    assert await _outcomes(sim, 1) == [502]
    sim.clear_faults(GPT)
    assert await _outcomes(sim, 1) == [500]
    sim.clear_faults()
    assert await _outcomes(sim, 1) == [200]
