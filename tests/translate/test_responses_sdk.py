"""`POST /v1/responses` through the real openai SDK, to targets of every dialect.

A Responses caller is translated for these targets (test_responses_target.py has the
Responses target, which gets its bytes as they are). Each answer is
read three ways: `responses.create`, the raw event stream (`create(stream=True)`, checked
against the grammar: order, one response id, `sequence_number` from 0 up by one), and the
SDK's `responses.stream()` helper, which assembles the final response itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.helpers import request
from tests.translate.conftest import UPSTREAMS
from tests.translate.sdk import (
    IMAGE_URL,
    MODES,
    PNG,
    QUESTION,
    REPORT_SCHEMA,
    WEATHER_SCHEMA,
    openai_image_turn,
    report,
)

TOOLS: list[Any] = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": WEATHER_SCHEMA,
    }
]
OVERLOADED = {"kind": "status", "status": 529}
HI = "Say something about breakers"


def ask(client: openai.OpenAI, mode: str, model: str, input: Any, **kw: Any) -> Any:
    """The final `Response` object, read as `mode` says."""
    if mode == "plain":
        return client.responses.create(model=model, input=input, **kw)
    if mode == "helper":
        with client.responses.stream(model=model, input=input, **kw) as stream:
            for _ in stream:
                pass
            return stream.get_final_response()
    events = list(client.responses.create(model=model, input=input, stream=True, **kw))
    check_grammar([e.model_dump() for e in events])
    return events[-1].response


def check_grammar(events: list[dict[str, Any]]) -> None:
    """A complete Responses stream: lifecycle order, one id, numbered 0, 1, 2, ..."""
    kinds = [e["type"] for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"], kinds
    assert kinds[-1] in ("response.completed", "response.incomplete"), kinds
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    ids = {e["response"]["id"] for e in events if "response" in e}
    assert len(ids) == 1 and next(iter(ids)).startswith("resp_")
    opened: set[int] = set()
    for event in events:  # every item is added before its deltas and done after them
        kind, index = event["type"], event.get("output_index")
        if kind == "response.output_item.added":
            assert index not in opened
            opened.add(index)
        elif kind == "response.output_item.done":
            opened.remove(index)
        elif index is not None:
            assert index in opened, (kind, index)
    assert not opened


def raw_events(gw: GatewayThread, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The SSE events as sent: `(event name, data)`; the name must match the data's type.
    Comments (keep-alives while a broken stream is being resumed) are skipped."""
    response = request(gw.url + "/v1/responses", body={**body, "stream": True})
    assert response.status == 200, response.body
    assert response.headers["content-type"].startswith("text/event-stream")
    out = []
    for frame in response.body.decode().split("\n\n"):
        fields = [line for line in frame.split("\n") if line and not line.startswith(":")]
        if not fields:
            continue
        lines = dict(line.split(": ", 1) for line in fields)
        data = json.loads(lines["data"])
        assert lines["event"] == data["type"]
        out.append((lines["event"], data))
    return out


def calls(response: Any) -> list[Any]:
    return [item for item in response.output if item.type in ("function_call", "custom_tool_call")]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_text(
    toai: openai.OpenAI, upstream: str, mode: str, direct: Callable[..., str], sim: SimServer
) -> None:
    virtual, model = UPSTREAMS[upstream]
    response = ask(toai, mode, virtual, QUESTION, instructions="Be brief.")
    assert response.output_text == direct(model, [{"role": "user", "content": QUESTION}])
    assert response.status == "completed"
    assert response.model == model
    assert response.usage.output_tokens == len(response.output_text.split(" "))
    assert response.usage.input_tokens > 0
    assert sim.requests(model)[0].dialect == upstream


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_tool_round_trip(toai: openai.OpenAI, upstream: str, mode: str, sim: SimServer) -> None:
    virtual, model = UPSTREAMS[upstream]
    items: list[Any] = [{"role": "user", "content": QUESTION}]
    first = ask(toai, mode, virtual, items, tools=TOOLS)
    [call] = calls(first)
    assert call.type == "function_call"
    assert (call.name, json.loads(call.arguments)) == ("get_weather", {"location": "Paris"})
    assert call.call_id
    items += [
        {"type": "function_call", "call_id": call.call_id, "name": call.name,
         "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21°C"},
    ]  # fmt: skip
    second = ask(toai, mode, virtual, items, tools=TOOLS)
    assert second.output_text == f"Simulated answer from {model}: the tool said sunny, 21°C."
    assert calls(second) == []
    assert [r.outcome for r in sim.requests(model)] == ["200", "200"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_image_input(
    toai: openai.OpenAI, upstream: str, mode: str, direct: Callable[..., str]
) -> None:
    virtual, model = UPSTREAMS[upstream]
    text = "What is in these pictures?"
    parts = [
        {"type": "input_text", "text": text},
        {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}", "detail": "auto"},
        {"type": "input_image", "image_url": IMAGE_URL, "detail": "low"},
    ]
    response = ask(toai, mode, virtual, [{"role": "user", "content": parts}])
    assert response.output_text == direct(model, [openai_image_turn(text)])
    assert response.output_text.endswith("(saw 2 images: image/png, url)")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_json_schema_output(
    toai: openai.OpenAI, upstream: str, mode: str, sim: SimServer, direct: Callable[..., str]
) -> None:
    virtual, model = UPSTREAMS[upstream]
    fmt = {"type": "json_schema", "name": "report", "schema": REPORT_SCHEMA, "strict": True}
    response = ask(toai, mode, virtual, QUESTION, text={"format": fmt})
    expected = report(direct(model, [{"role": "user", "content": QUESTION}]))
    assert json.loads(response.output_text) == expected
    assert sim.requests(model)[0].dialect == upstream


class Report(BaseModel):
    summary: str
    temperature: float
    sunny: bool


@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_the_sdk_parses_structured_output(
    toai: openai.OpenAI, upstream: str, direct: Callable[..., str]
) -> None:
    """`responses.parse` with a pydantic model: the schema the SDK derives crosses too."""
    virtual, model = UPSTREAMS[upstream]
    parsed = toai.responses.parse(model=virtual, input=QUESTION, text_format=Report).output_parsed
    expected = report(direct(model, [{"role": "user", "content": QUESTION}]))
    assert parsed == Report(**expected)


@pytest.mark.parametrize("mode", MODES)
def test_custom_tool_calls_come_back_as_custom_items(toai: openai.OpenAI, mode: str) -> None:
    tools = [{"type": "custom", "name": "apply_patch", "description": "Apply a patch."}]
    response = ask(toai, mode, "via-anthropic", "Fix the bug", tools=tools)
    [call] = calls(response)
    assert call.type == "custom_tool_call"
    assert call.name == "apply_patch"
    assert isinstance(call.input, str)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("virtual", "down", "backup"),
    [
        ("claude-then-gpt", ["claude-opus-4-7", "claude-sonnet-4-5"], "gpt-4o"),
        ("claude-then-gemini", ["claude-opus-4-7"], "gemini-2.5-flash"),
        ("gpt-then-claude", ["gpt-4o"], "claude-opus-4-7"),
    ],
)
def test_overloaded_primary_fails_over_across_dialects(
    toai: openai.OpenAI,
    sim: SimServer,
    direct: Callable[..., str],
    mode: str,
    virtual: str,
    down: list[str],
    backup: str,
) -> None:
    for model in down:
        sim.set_fault(model, OVERLOADED)
    response = ask(toai, mode, virtual, HI)
    assert response.output_text == direct(backup, [{"role": "user", "content": HI}])
    assert response.model == backup
    assert all(sim.attempts(model) == 1 for model in down)


def test_a_stream_cut_before_its_first_byte_fails_over(
    tgw: GatewayThread, sim: SimServer, direct: Callable[..., str]
) -> None:
    sim.set_fault("gemini-3-pro-preview", {"kind": "cut", "after": 0, "stream": True})
    events = raw_events(tgw, {"model": "gemini-then-gpt", "input": HI})
    check_grammar([data for _, data in events])
    text = "".join(d["delta"] for kind, d in events if kind == "response.output_text.delta")
    assert text == direct("gpt-4o", [{"role": "user", "content": HI}])
    assert sim.attempts("gemini-3-pro-preview") == 1


@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_raw_stream_grammar(tgw: GatewayThread, upstream: str) -> None:
    virtual, _ = UPSTREAMS[upstream]
    events = raw_events(tgw, {"model": virtual, "input": QUESTION, "tools": TOOLS})
    kinds = [kind for kind, _ in events]
    check_grammar([data for _, data in events])
    assert kinds[-4:] == [
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ] or kinds[-3:] == [
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    done = events[-1][1]["response"]
    assert done["status"] == "completed" and done["usage"]["output_tokens"] > 0


def test_a_break_after_the_commit_point_ends_with_numbered_error_events(
    tgw: GatewayThread, sim: SimServer
) -> None:
    sim.set_fault("gpt-4o", {"kind": "cut", "after": 3, "stream": True})
    events = raw_events(tgw, {"model": "via-openai", "input": HI})
    kinds = [kind for kind, _ in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-2:] == ["error", "response.failed"]
    assert [d["sequence_number"] for _, d in events] == list(range(len(events)))
    error, failed = events[-2][1], events[-1][1]
    assert error["code"] == "stream_interrupted" and "failsoft" in error["message"]
    assert failed["response"]["status"] == "failed"
    assert failed["response"]["error"]["message"] == error["message"]


def test_previous_response_id_without_storage_says_how_to_turn_it_on(
    toai: openai.OpenAI, sim: SimServer
) -> None:
    """Storage is off (the default) and no target speaks Responses: nothing can hold the
    conversation, and the 400 says how to turn failsoft's own storage on."""
    with pytest.raises(openai.BadRequestError) as info:
        toai.responses.create(model="via-openai", input="and then?", previous_response_id="resp_1")
    body: Any = info.value.body
    assert (body["param"], body["code"]) == ("previous_response_id", "unsupported_parameter")
    assert body["type"] == "invalid_request_error"
    assert "keeps no conversations" in body["message"]
    assert "responses.store" in body["message"]
    assert sim.requests() == []


def test_a_conversation_object_needs_a_responses_target(
    toai: openai.OpenAI, sim: SimServer
) -> None:
    """Only a Responses target (`api: responses`) could take it: others are skipped as
    untranslatable, and with none left the caller gets a 400 naming the field."""
    with pytest.raises(openai.BadRequestError) as info:
        toai.responses.create(model="via-openai", input="and then?", conversation="conv_1")
    body: Any = info.value.body
    assert body["code"] == "untranslatable_request"
    assert body["type"] == "invalid_request_error"
    assert "'conversation'" in body["message"]
    assert "conversation state" in body["message"]
    assert sim.requests() == []


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "via-openai"}, "input"),
        ({"model": "via-openai", "input": 3}, "input"),
        ({"input": "hi"}, "model"),
        ({"model": "via-openai", "input": "hi", "stream": "yes"}, "stream"),
        ({"model": "via-openai", "input": [{"type": "function_call_output"}]}, None),
        ({"model": "via-openai", "input": [{"type": "no_such_item"}]}, None),
        ({"model": "via-openai", "input": "hi", "tools": "all"}, "tools"),
    ],
)
def test_malformed_input_gets_a_400_in_the_openai_shape(
    tgw: GatewayThread, sim: SimServer, body: dict[str, Any], param: str | None
) -> None:
    response = request(tgw.url + "/v1/responses", body=body)
    assert response.status == 400, response.body
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["message"]
    assert sim.requests("gpt-4o") == []


def test_not_json_gets_a_400(tgw: GatewayThread) -> None:
    response = request(
        tgw.url + "/v1/responses", body=b"{", headers={"content-type": "application/json"}
    )
    assert response.status == 400
    assert "not valid JSON" in response.json()["error"]["message"]


def test_every_target_down_is_a_503_the_sdk_retries(toai: openai.OpenAI, sim: SimServer) -> None:
    sim.set_fault("gpt-4o", OVERLOADED)
    with pytest.raises(openai.InternalServerError) as info:
        toai.responses.create(model="via-openai", input=HI)
    assert info.value.status_code == 503
    body: Any = info.value.body
    assert body["code"] == "all_targets_failed"
    assert info.value.response.headers["x-should-retry"] == "true"


def test_what_cannot_be_carried_is_named_in_a_warning(tgw: GatewayThread) -> None:
    tools = [{"type": "web_search"}, *TOOLS]
    body = {"model": "via-gemini", "input": HI, "tools": tools, "top_logprobs": 2}
    response = request(tgw.url + "/v1/responses", body=body)
    assert response.status == 200, response.body
    warning = response.headers["x-failsoft-warning"]
    assert "web_search" in warning and "top_logprobs" in warning
    assert response.json()["object"] == "response"


@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_reasoning_items_from_an_earlier_turn_do_not_stop_the_conversation(
    toai: openai.OpenAI, upstream: str
) -> None:
    virtual, model = UPSTREAMS[upstream]
    items: list[Any] = [
        {"role": "user", "content": "Hello"},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "opaque"},
        {"role": "assistant", "content": [{"type": "output_text", "text": "Hi."}]},
        {"role": "user", "content": QUESTION},
    ]
    response = toai.responses.create(model=virtual, input=items)
    assert response.status == "completed"
    assert response.output_text.startswith(f"Simulated answer from {model}")


@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_an_upstream_mid_stream_error_becomes_numbered_error_events(
    tgw: GatewayThread, sim: SimServer, upstream: str
) -> None:
    virtual, model = UPSTREAMS[upstream]
    sim.set_fault(model, {"kind": "mid_stream_error", "after": 3})
    events = raw_events(tgw, {"model": virtual, "input": HI})
    assert [kind for kind, _ in events][-2:] == ["error", "response.failed"]
    assert [d["sequence_number"] for _, d in events] == list(range(len(events)))
    error = events[-2][1]
    assert error["code"] == "server_error" and error["message"]
    assert events[-1][1]["response"]["error"]["code"] == "server_error"


@pytest.mark.parametrize("upstream", ["anthropic", "gemini"])
def test_an_upstream_refusal_is_in_the_openai_shape(
    toai: openai.OpenAI, sim: SimServer, upstream: str
) -> None:
    virtual, model = UPSTREAMS[upstream]
    sim.set_fault(model, {"kind": "status", "status": 400, "body": "context_length"})
    with pytest.raises(openai.BadRequestError) as caught:
        toai.responses.create(model=virtual, input=HI)
    assert caught.value.code == "context_length_exceeded"
    body: Any = caught.value.body
    assert body["type"] == "invalid_request_error"
