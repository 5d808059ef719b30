"""An OpenAI provider with `api: responses` as a target, through the real SDKs.

Chat Completions and Anthropic callers reach a Responses-only model (`via-responses`,
`gpt-5-pro` at the simulator's strict `/v1/responses`) translated, streaming and not, with
tools, images and JSON-schema output; a Responses caller gets its own bytes through, and
the upstream's answer and stream back as they were. Failover runs both ways between a
Responses target and an Anthropic one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest

from failsoft.sim import SimServer
from tests.helpers import request
from tests.translate.sdk import (
    ANTHROPIC_TOOLS,
    MODES,
    OPENAI_TOOLS,
    QUESTION,
    anthropic_history,
    ask_anthropic,
    ask_openai,
    openai_history,
    openai_image_turn,
)
from tests.translate.test_responses_sdk import OVERLOADED, TOOLS, check_grammar

MODEL = "gpt-5-pro"
HI: list[Any] = [{"role": "user", "content": "Say something about breakers"}]


def sent(sim: SimServer, model: str = MODEL) -> Any:
    """What the simulator received last for `model` at `/v1/responses` (the oracle `direct`
    asks it at Chat Completions)."""
    records = [r for r in sim.requests(model) if r.path.endswith("/v1/responses")]
    assert records
    return records[-1].body


def sse(body: bytes) -> list[tuple[str, dict[str, Any]]]:
    """`(event name, data)` per event; comments (a resume's keep-alives) skipped."""
    out = []
    for frame in body.decode().split("\n\n"):
        fields = [line for line in frame.split("\n") if line and not line.startswith(":")]
        if fields:
            lines = dict(line.split(": ", 1) for line in fields)
            out.append((lines["event"], json.loads(lines["data"])))
    return out


# --------------------------------------------------------------------------- other callers


@pytest.mark.parametrize("mode", MODES)
def test_chat_caller_gets_text(
    toai: openai.OpenAI, sim: SimServer, direct: Callable[..., str], mode: str
) -> None:
    result = ask_openai(toai, mode, "via-responses", HI)
    assert result.text == direct(MODEL, HI)
    assert result.model == MODEL
    assert result.finish == "stop"
    assert result.output_tokens == len(result.text.split(" "))
    body = sent(sim)
    assert body["input"] == [{"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": HI[0]["content"]}]}]  # fmt: skip
    assert body["stream"] is True and body["store"] is False
    assert "stream_options" not in body and "messages" not in body


def test_chat_caller_without_always_stream(
    toai: openai.OpenAI, sim: SimServer, direct: Callable[..., str]
) -> None:
    result = ask_openai(toai, "plain", "plain-responses", HI, max_tokens=200)
    assert result.text == direct(MODEL, HI)
    body = sent(sim)
    assert "stream" not in body and body["max_output_tokens"] == 200


def test_a_limit_below_the_apis_smallest_is_raised(toai: openai.OpenAI, sim: SimServer) -> None:
    raw = toai.chat.completions.with_raw_response.create(
        model="via-responses", messages=HI, max_tokens=5
    )
    assert raw.parse().choices[0].message.content
    assert sent(sim)["max_output_tokens"] == 16
    assert "max_tokens raised to 16" in raw.headers["x-failsoft-warning"]


@pytest.mark.parametrize("mode", MODES)
def test_chat_caller_tool_round_trip(toai: openai.OpenAI, sim: SimServer, mode: str) -> None:
    messages: list[Any] = [{"role": "user", "content": QUESTION}]
    first = ask_openai(toai, mode, "via-responses", messages, tools=OPENAI_TOOLS)
    [call] = first.calls
    assert (call.name, call.arguments) == ("get_weather", {"location": "Paris"})
    assert first.finish == "tool_calls"
    assert sent(sim)["tools"][0]["name"] == "get_weather"
    messages += [
        openai_history(first),
        {"role": "tool", "tool_call_id": call.id, "content": "rain"},
    ]
    second = ask_openai(toai, mode, "via-responses", messages, tools=OPENAI_TOOLS)
    assert second.text == f"Simulated answer from {MODEL}: the tool said rain."
    items = sent(sim)["input"]
    assert items[1]["type"] == "function_call" and items[1]["call_id"] == call.id
    assert json.loads(items[1]["arguments"]) == {"location": "Paris"}
    assert items[2] == {"type": "function_call_output", "call_id": call.id, "output": "rain"}


def test_chat_caller_images_and_json_schema(toai: openai.OpenAI, sim: SimServer) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    fmt: Any = {"type": "json_schema", "json_schema": {"name": "out", "schema": schema}}
    toai.chat.completions.create(
        model="via-responses", messages=[openai_image_turn("What is this?")], response_format=fmt
    )
    body = sent(sim)
    parts = body["input"][0]["content"]
    assert [p["type"] for p in parts] == ["input_text", "input_image", "input_image"]
    assert parts[1]["image_url"].startswith("data:image/png;base64,")
    assert body["text"]["format"] == {"type": "json_schema", "name": "out", "schema": schema}


@pytest.mark.parametrize("mode", MODES)
def test_anthropic_caller_text_and_tools(
    tant: anthropic.Anthropic, sim: SimServer, direct: Callable[..., str], mode: str
) -> None:
    plain = ask_anthropic(tant, mode, "via-responses", HI)
    assert plain.text == direct(MODEL, HI)
    assert plain.finish == "end_turn" and plain.model == MODEL
    messages: list[Any] = [{"role": "user", "content": QUESTION}]
    first = ask_anthropic(tant, mode, "via-responses", messages, tools=ANTHROPIC_TOOLS)
    [call] = first.calls
    assert (call.name, call.arguments) == ("get_weather", {"location": "Paris"})
    assert first.finish == "tool_use"
    messages += [
        anthropic_history(first),
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "rain"}],
        },
    ]
    second = ask_anthropic(tant, mode, "via-responses", messages, tools=ANTHROPIC_TOOLS)
    assert second.text == f"Simulated answer from {MODEL}: the tool said rain."
    assert sent(sim)["input"][2]["call_id"] == call.id


# --------------------------------------------------------------------------- passthrough


def test_responses_caller_gets_its_bytes_through(tgw: Any, sim: SimServer) -> None:
    body = {
        "model": "via-responses",
        "input": [{"role": "user", "content": QUESTION}],
        "tools": TOOLS,
        "include": ["reasoning.encrypted_content"],
        "truncation": "auto",
        "stream": True,
    }
    response = request(tgw.url + "/v1/responses", body=body)
    assert response.status == 200, response.body
    assert sent(sim) == {**body, "model": MODEL}
    events = sse(response.body)
    check_grammar([data for _, data in events])
    assert all(name == data["type"] for name, data in events)
    final = events[-1][1]["response"]
    assert final["truncation"] == "auto"  # the simulator's echo: the caller's own field
    assert [item["type"] for item in final["output"]] == ["function_call"]
    assert "x-failsoft-warning" not in response.headers


@pytest.mark.parametrize("model", ["via-responses", "plain-responses"])
def test_responses_caller_plain(tgw: Any, sim: SimServer, model: str) -> None:
    body = {"model": model, "input": QUESTION, "instructions": "Be brief.", "top_logprobs": 2}
    response = request(tgw.url + "/v1/responses", body=body)
    assert response.status == 200, response.body
    answer = response.json()
    assert answer["object"] == "response" and answer["status"] == "completed"
    assert answer["instructions"] == "Be brief."
    assert answer["id"].startswith("resp_")
    expected = {**body, "model": MODEL}
    if model == "via-responses":
        expected["stream"] = True  # failsoft asks for a stream and assembles it
    assert sent(sim) == expected


def test_previous_response_id_reaches_only_a_responses_target(tgw: Any, sim: SimServer) -> None:
    body = {"input": "and then?", "previous_response_id": "resp_earlier"}
    response = request(tgw.url + "/v1/responses", body={**body, "model": "via-responses"})
    # The simulator keeps no conversations: its refusal comes back as it said it.
    assert response.status == 400, response.body
    assert response.json()["error"]["code"] == "previous_response_not_found"
    assert sent(sim)["previous_response_id"] == "resp_earlier"
    sim.reset()
    response = request(tgw.url + "/v1/responses", body={**body, "model": "via-openai"})
    assert response.status == 400, response.body
    error = response.json()["error"]  # no target could carry it: say how storage helps
    assert (error["code"], error["param"]) == ("unsupported_parameter", "previous_response_id")
    assert "responses.store" in error["message"]
    assert sim.requests() == []


def test_previous_response_id_skips_targets_that_cannot_carry_it(tgw: Any, sim: SimServer) -> None:
    """Storage off, a plan of Anthropic then Responses: only the second can hold the
    conversation, so the first is passed over without a request."""
    body = {"model": "claude-then-responses", "input": "and then?", "previous_response_id": "r_1"}
    response = request(tgw.url + "/v1/responses", body=body)
    assert response.status == 400, response.body  # the simulator keeps no conversations
    assert response.json()["error"]["code"] == "previous_response_not_found"
    assert [r.model for r in sim.requests()] == ["gpt-5-pro"]
    assert "untranslatable" in response.headers["x-failsoft-trail"]


# --------------------------------------------------------------------------- failover


@pytest.mark.parametrize("mode", MODES)
def test_responses_target_overloaded_falls_over_to_anthropic(
    toai: openai.OpenAI, sim: SimServer, direct: Callable[..., str], mode: str
) -> None:
    sim.set_fault(MODEL, OVERLOADED)
    result = ask_openai(toai, mode, "responses-then-claude", HI)
    assert result.text == direct("claude-opus-4-7", HI)
    assert result.model == "claude-opus-4-7"


@pytest.mark.parametrize("mode", MODES)
def test_anthropic_overloaded_falls_over_to_a_responses_target(
    tant: anthropic.Anthropic, sim: SimServer, direct: Callable[..., str], mode: str
) -> None:
    sim.set_fault("claude-opus-4-7", OVERLOADED)
    result = ask_anthropic(tant, mode, "claude-then-responses", HI)
    assert result.text == direct(MODEL, HI)
    assert result.model == MODEL


def test_responses_caller_falls_over_from_passthrough_to_translation(
    toai: openai.OpenAI, sim: SimServer, direct: Callable[..., str]
) -> None:
    sim.set_fault(MODEL, OVERLOADED)
    events = list(toai.responses.create(model="responses-then-claude", input=HI, stream=True))
    check_grammar([e.model_dump() for e in events])
    assert events[-1].response.output_text == direct("claude-opus-4-7", HI)  # type: ignore[union-attr]


def test_responses_stream_cut_before_content_fails_over(
    toai: openai.OpenAI, sim: SimServer, direct: Callable[..., str]
) -> None:
    sim.set_fault(MODEL, {"kind": "cut", "after": 0, "stream": True})
    result = ask_openai(toai, "stream", "responses-then-claude", HI)
    assert result.text == direct("claude-opus-4-7", HI)
    assert sim.requests(MODEL)[-1].outcome == "cut"


@pytest.mark.parametrize("caller", ["chat", "responses"])
def test_an_error_event_before_content_fails_over(
    toai: openai.OpenAI, sim: SimServer, direct: Callable[..., str], caller: str
) -> None:
    sim.set_fault(MODEL, {"kind": "mid_stream_error", "after": 0, "message": "boom"})
    if caller == "chat":
        text = ask_openai(toai, "stream", "responses-then-claude", HI).text
    else:
        events = list(toai.responses.create(model="responses-then-claude", input=HI, stream=True))
        check_grammar([e.model_dump() for e in events])
        text = events[-1].response.output_text  # type: ignore[union-attr]
    assert text == direct("claude-opus-4-7", HI)
    assert sim.requests(MODEL)[-1].outcome == "mid_stream_error"


def test_mid_stream_error_ends_a_chat_callers_stream(toai: openai.OpenAI, sim: SimServer) -> None:
    sim.set_fault(MODEL, {"kind": "mid_stream_error", "after": 2, "message": "boom"})
    stream = toai.chat.completions.create(model="via-responses", messages=HI, stream=True)
    got: list[str] = []
    with pytest.raises(openai.APIError, match="boom"):
        for chunk in stream:
            got.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
    assert "".join(got)  # committed: content came first


def test_mid_stream_error_ends_an_anthropic_callers_stream(
    tant: anthropic.Anthropic, sim: SimServer
) -> None:
    sim.set_fault(MODEL, {"kind": "mid_stream_error", "after": 2, "message": "boom"})
    stream = tant.messages.create(model="via-responses", max_tokens=100, messages=HI, stream=True)
    with pytest.raises(anthropic.APIStatusError, match="boom"):
        for _ in stream:
            pass


def test_mid_stream_error_relayed_to_a_responses_caller(tgw: Any, sim: SimServer) -> None:
    """The upstream's error ends the stream (its message as it came) when the answer is not
    resumed (the only target's continuation is not relayed), with `response.failed` after
    it, numbered on."""
    sim.set_fault(MODEL, {"kind": "mid_stream_error", "after": 2, "message": "boom"})
    body = {"model": "via-responses", "input": "Say something", "stream": True}
    response = request(tgw.url + "/v1/responses", body=body)
    events = sse(response.body)
    assert [name for name, _ in events[-2:]] == ["error", "response.failed"]
    assert events[-2][1]["message"] == "boom"
    numbers = [data["sequence_number"] for _, data in events]
    assert numbers == list(range(len(events)))


def test_a_relayed_stream_cut_mid_way_ends_numbered_on(tgw: Any, sim: SimServer) -> None:
    sim.set_fault(MODEL, {"kind": "cut", "after": 2, "stream": True})
    body = {"model": "via-responses", "input": "Say something", "stream": True}
    events = sse(request(tgw.url + "/v1/responses", body=body).body)
    assert [name for name, _ in events[-2:]] == ["error", "response.failed"]
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    error, failed = events[-2][1], events[-1][1]
    assert error["code"] == "stream_interrupted" and "failsoft" in error["message"]
    assert failed["response"]["id"] == events[0][1]["response"]["id"]
    assert failed["response"]["status"] == "failed"


@pytest.mark.parametrize("target", ["extra", "content"])
def test_broken_events_from_a_responses_target(
    tgw: Any, toai: openai.OpenAI, sim: SimServer, direct: Callable[..., str], target: str
) -> None:
    """One that carries nothing is dropped, on both paths; one that loses text is a break."""
    fault = {"kind": "malformed", "after": 2, "target": target, "stream": True}
    sim.set_fault(MODEL, fault)
    body = {"model": "via-responses", "input": HI, "stream": True}
    events = sse(request(tgw.url + "/v1/responses", body=body).body)
    sim.set_fault(MODEL, fault)
    if target == "extra":
        check_grammar([data for _, data in events])  # the junk is gone, nothing else
        assert ask_openai(toai, "stream", "via-responses", HI).text == direct(MODEL, HI)
    else:
        assert [name for name, _ in events[-2:]] == ["error", "response.failed"]
        with pytest.raises(openai.APIError):
            ask_openai(toai, "stream", "via-responses", HI)
