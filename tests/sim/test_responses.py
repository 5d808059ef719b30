"""`POST /v1/responses` against the real openai SDK: answers, tools, validation, faults."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import openai
import pytest

from failsoft.sim import SimServer

from .helpers import GPT, KEY, sse_events

WEATHER: Any = [
    {
        "type": "function",
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]
TEXT_ORDER = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    *["response.output_text.delta"] * 16,
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


def test_text_non_streaming(oai: openai.OpenAI) -> None:
    response = oai.responses.create(model=GPT, input="Say hello", instructions="Be brief.")
    assert response.status == "completed"
    assert response.id.startswith("resp_")
    assert response.output_text.startswith(f"Simulated answer from {GPT}: ")
    [message] = response.output
    assert message.type == "message" and message.role == "assistant"
    assert response.usage is not None
    assert response.usage.output_tokens == 16
    assert response.usage.total_tokens == response.usage.input_tokens + 16


def test_same_answer_as_chat_completions(oai: openai.OpenAI) -> None:
    chat = oai.chat.completions.create(model=GPT, messages=[{"role": "user", "content": "Hi"}])
    items: Any = [{"role": "user", "content": [{"type": "input_text", "text": "Hi"}]}]
    response = oai.responses.create(model=GPT, input=items)
    assert response.output_text == chat.choices[0].message.content


def test_stream_helper_text(oai: openai.OpenAI) -> None:
    with oai.responses.stream(model=GPT, input="Say hello") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds == TEXT_ORDER
    assert final.output_text == oai.responses.create(model=GPT, input="Say hello").output_text


async def test_create_stream_async(aoai: openai.AsyncOpenAI) -> None:
    stream = await aoai.responses.create(model=GPT, input="Say hello", stream=True)
    deltas = [event.delta async for event in stream if event.type == "response.output_text.delta"]
    assert "".join(deltas).startswith("Simulated answer")


def test_tool_round_trip(oai: openai.OpenAI) -> None:
    first = oai.responses.create(model=GPT, input="What's the weather in Paris?", tools=WEATHER)
    [call] = first.output
    assert call.type == "function_call"
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
    history: Any = [
        {"role": "user", "content": "What's the weather in Paris?"},
        {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": "{}"},
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21C"},
    ]
    second = oai.responses.create(model=GPT, input=history, tools=WEATHER)
    assert second.output_text == f"Simulated answer from {GPT}: the tool said sunny, 21C."


def test_tool_call_stream(oai: openai.OpenAI) -> None:
    with oai.responses.stream(model=GPT, input="Weather in Oslo?", tools=WEATHER) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert kinds[-3:] == [
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert kinds.count("response.function_call_arguments.delta") >= 2
    [call] = final.output
    assert call.type == "function_call" and json.loads(call.arguments) == {"city": "Oslo"}


def test_max_output_tokens_is_incomplete(sim: SimServer, oai: openai.OpenAI) -> None:
    sim.set_model(GPT, answer_words=40)
    response = oai.responses.create(model=GPT, input="Say hello", max_output_tokens=16)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    with oai.responses.stream(model=GPT, input="Say hello", max_output_tokens=16) as stream:
        kinds = [event.type for event in stream]
    assert kinds[-1] == "response.incomplete"


def _bad(oai: openai.OpenAI, items: Any, **extra: Any) -> dict[str, Any]:
    with pytest.raises(openai.BadRequestError) as caught:
        oai.responses.create(model=GPT, input=items, **extra)
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["type"] == "invalid_request_error"
    assert set(body) == {"message", "type", "param", "code"}
    return body


def test_strict_validation(oai: openai.OpenAI) -> None:
    call = {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"}
    orphan = {"type": "function_call_output", "call_id": "call_9", "output": "x"}
    answer = {"type": "function_call_output", "call_id": "call_1", "output": "x"}
    hello = {"role": "user", "content": "hi"}
    assert "call_id call_9" in _bad(oai, [hello, call, orphan])["message"]
    assert "call_id call_1" in _bad(oai, [hello, answer, call])["message"]  # output before call
    assert "call_1" in _bad(oai, [hello, call, hello])["message"]  # a call left unanswered
    assert _bad(oai, [hello, {"type": "bogus"}])["param"] == "input[1].type"
    wrong_part = {"role": "assistant", "content": [{"type": "input_text", "text": "x"}]}
    assert _bad(oai, [hello, wrong_part])["param"] == "input[1].content[0].type"
    assert _bad(oai, [{"role": "tool", "content": "x"}])["param"] == "input[0].role"
    reasoning = {"type": "reasoning", "id": "rs_1", "summary": []}
    assert "rs_1" in _bad(oai, [hello, reasoning, hello])["message"]
    assert _bad(oai, "hi", max_output_tokens=5)["code"] == "integer_below_min_value"
    forced = {"type": "function", "name": "get_time"}
    assert _bad(oai, "hi", tools=WEATHER, tool_choice=forced)["param"] == "tool_choice"
    assert _bad(oai, "hi", tool_choice="always")["code"] == "invalid_value"
    with pytest.raises(openai.NotFoundError, match="not persisted"):
        oai.responses.create(model=GPT, input=[hello, {"type": "item_reference", "id": "msg_1"}])
    assert _bad(oai, "hi", previous_response_id="resp_x")["code"] == "previous_response_not_found"


def test_reasoning_round_trip(oai: openai.OpenAI) -> None:
    """An issued `encrypted_content` goes back with the call; a changed one is refused."""
    ask: Any = {"reasoning": {"effort": "low"}, "include": ["reasoning.encrypted_content"]}
    first = oai.responses.create(model=GPT, input="Weather in Paris?", tools=WEATHER, **ask)
    reasoning, call = first.output
    assert reasoning.type == "reasoning" and call.type == "function_call"
    assert reasoning.encrypted_content and reasoning.summary == []
    assert first.usage is not None and first.usage.output_tokens_details.reasoning_tokens > 0
    issued = reasoning.model_dump(exclude_none=True)
    history: Any = [
        {"role": "user", "content": "Weather in Paris?"},
        issued,
        call.model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": call.call_id, "output": "rain"},
    ]
    second = oai.responses.create(model=GPT, input=history, tools=WEATHER, **ask)
    assert second.output_text.endswith("the tool said rain.")
    history[1] = {**issued, "encrypted_content": issued["encrypted_content"][:-4] + "AAA="}
    assert _bad(oai, history, tools=WEATHER)["code"] == "invalid_encrypted_content"
    history[1] = {"type": "reasoning", "id": reasoning.id, "summary": []}
    with pytest.raises(openai.NotFoundError, match="Items are not persisted"):
        oai.responses.create(model=GPT, input=history, tools=WEATHER)


def test_reasoning_summary_stream(oai: openai.OpenAI) -> None:
    reasoning: Any = {"effort": "low", "summary": "auto"}
    with oai.responses.stream(model=GPT, input="Say hello", reasoning=reasoning) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[2:5] == [
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
    ]
    assert kinds[-1] == "response.completed"
    first, message = final.output
    assert first.type == "reasoning" and first.summary[0].text.startswith("**Planning")
    assert message.type == "message" and final.output_text.startswith("Simulated answer")


def test_status_faults_surface_as_sdk_errors(sim: SimServer, oai: openai.OpenAI) -> None:
    sim.set_fault(GPT, {"kind": "status", "status": 529})
    with pytest.raises(openai.APIStatusError) as overloaded:
        oai.responses.create(model=GPT, input="hi")
    assert overloaded.value.status_code == 529
    sim.set_fault(GPT, {"kind": "status", "status": 500})
    with pytest.raises(openai.InternalServerError):
        oai.responses.create(model=GPT, input="hi", stream=True)
    assert sim.stats()["models"][GPT]["outcomes"] == {"529": 1, "500": 1}


def test_cut_stream_raises_after_the_events_sent(sim: SimServer, oai: openai.OpenAI) -> None:
    sim.set_fault(GPT, {"kind": "cut", "after": 3})
    kinds: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        kinds.extend(
            event.type for event in oai.responses.create(model=GPT, input="hi", stream=True)
        )
    assert kinds == TEXT_ORDER[:7]


async def _raw(sim: SimServer, body: dict[str, Any]) -> tuple[int, bytes]:
    headers = {"authorization": f"Bearer {KEY}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(sim.url + "/v1/responses", json=body, headers=headers) as response,
    ):
        return response.status, await response.read()


def _numbers(raw: bytes) -> list[tuple[str | None, int]]:
    events = []
    for name, data in sse_events(raw):
        payload = json.loads(data)
        assert payload["type"] == name
        events.append((name, payload["sequence_number"]))
    return events


async def test_raw_stream_order_and_sequence_numbers(sim: SimServer) -> None:
    status, raw = await _raw(sim, {"model": GPT, "input": "hi", "stream": True})
    assert status == 200
    events = _numbers(raw)
    assert [name for name, _ in events] == TEXT_ORDER
    assert [number for _, number in events] == list(range(len(events)))
    body = {"model": GPT, "input": "Weather in Rome?", "tools": WEATHER, "stream": True}
    events = _numbers((await _raw(sim, body))[1])
    assert [number for _, number in events] == list(range(len(events)))
    body = {"model": GPT, "input": "hi", "reasoning": {"summary": "auto"}, "stream": True}
    events = _numbers((await _raw(sim, body))[1])
    assert [number for _, number in events] == list(range(len(events)))
    assert events[-1][0] == "response.completed"


async def test_mid_stream_error_is_numbered_in_order(sim: SimServer) -> None:
    sim.set_fault(GPT, {"kind": "mid_stream_error", "after": 2, "message": "boom"})
    _, raw = await _raw(sim, {"model": GPT, "input": "hi", "stream": True})
    events = _numbers(raw)
    assert events[-1] == ("error", 6)  # 4 opening events and 2 deltas before it
    assert [number for _, number in events] == list(range(len(events)))
    # The SDK does not raise on the in-band error: the caller sees an `error` event, last.
    async with openai.AsyncOpenAI(base_url=sim.url + "/v1", api_key=KEY, max_retries=0) as client:
        stream = await client.responses.create(model=GPT, input="hi", stream=True)
        received = [event async for event in stream]
    last = received[-1]
    assert last.type == "error" and last.message == "boom"
    assert "response.completed" not in [event.type for event in received]


def test_response_echoes_the_request(oai: openai.OpenAI) -> None:
    response = oai.responses.create(
        model=GPT,
        input="Weather in Paris?",
        instructions="Be brief.",
        tools=WEATHER,
        tool_choice="required",
        max_output_tokens=64,
        metadata={"run": "7"},
    )
    assert response.instructions == "Be brief."
    assert response.tool_choice == "required"
    assert response.max_output_tokens == 64
    assert response.metadata == {"run": "7"}
    assert [tool.type for tool in response.tools] == ["function"]


def test_custom_tool_call(oai: openai.OpenAI) -> None:
    patch: Any = [{"type": "custom", "name": "apply_patch", "description": "Edit files."}]
    response = oai.responses.create(model=GPT, input="Fix the typo in README", tools=patch)
    [call] = response.output
    assert call.type == "custom_tool_call"
    assert call.name == "apply_patch" and call.input == "README"
    with oai.responses.stream(model=GPT, input="Fix README", tools=patch) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert "response.custom_tool_call_input.delta" in kinds
    assert kinds[-3:-1] == ["response.custom_tool_call_input.done", "response.output_item.done"]
    assert final.output[0].type == "custom_tool_call"
    history: Any = [
        {"role": "user", "content": "Fix the typo in README"},
        {"type": "custom_tool_call", "call_id": call.call_id, "name": call.name, "input": "x"},
        {"type": "custom_tool_call_output", "call_id": call.call_id, "output": "done"},
    ]
    second = oai.responses.create(model=GPT, input=history, tools=patch)
    assert second.output_text.endswith("the tool said done.")


def test_images_are_seen(oai: openai.OpenAI) -> None:
    image = {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="}
    items: Any = [{"role": "user", "content": [{"type": "input_text", "text": "What?"}, image]}]
    response = oai.responses.create(model=GPT, input=items)
    assert response.output_text.endswith("(saw 1 image: image/png)")


def test_stream_faults_apply(sim: SimServer, oai: openai.OpenAI) -> None:
    sim.set_fault(GPT, {"kind": "slow_first_token", "delay": 0.05, "count": 1})
    with oai.responses.stream(model=GPT, input="hi") as stream:
        assert [event.type for event in stream] == TEXT_ORDER
    sim.set_fault(GPT, {"kind": "malformed", "after": 1, "count": 1})
    with pytest.raises(json.JSONDecodeError):
        list(oai.responses.create(model=GPT, input="hi", stream=True))
    sim.set_fault(GPT, {"kind": "cut"})
    with pytest.raises(openai.APIConnectionError):
        oai.responses.create(model=GPT, input="hi")
    outcomes = sim.stats()["models"][GPT]["outcomes"]
    assert outcomes == {"200": 1, "malformed": 1, "cut": 1}


def test_hang_times_out_in_the_sdk(sim: SimServer) -> None:
    sim.set_fault(GPT, {"kind": "hang"})
    with (
        openai.OpenAI(base_url=sim.url + "/v1", api_key=KEY, max_retries=0, timeout=0.2) as client,
        pytest.raises(openai.APITimeoutError),
    ):
        client.responses.create(model=GPT, input="hi")


def test_get_is_not_allowed(sim: SimServer, oai: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        oai.get("/responses", cast_to=object)
    assert caught.value.status_code == 405


async def test_malformed_content_keeps_the_fragment(sim: SimServer) -> None:
    sim.set_fault(GPT, {"kind": "malformed", "target": "content", "after": 1})
    _, raw = await _raw(sim, {"model": GPT, "input": "hi", "stream": True})
    frames = sse_events(raw)
    broken = frames[5]
    assert broken[0] == "response.output_text.delta"
    assert '"delta":" answer"' in broken[1] and "sequence_number" not in broken[1]
    assert frames[-1][0] == "response.completed"


async def test_stored_responses_are_not_served(sim: SimServer) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(sim.url + "/v1/responses/resp_1", headers={"authorization": "Bearer x"}) as got,
    ):
        assert got.status == 404
        assert (await got.json())["error"]["type"] == "invalid_request_error"


def test_preface_and_parallel_calls(sim: SimServer, oai: openai.OpenAI) -> None:
    sim.set_model(GPT, tool_calls=2, tool_preface="Let me check.")
    with oai.responses.stream(model=GPT, input="Weather in Lima?", tools=WEATHER) as stream:
        added = [event.output_index for event in stream if event.type.endswith("item.added")]
        final = stream.get_final_response()
    assert added == [0, 1, 2]
    assert [item.type for item in final.output] == ["message", "function_call", "function_call"]
    assert final.output_text == "Let me check."
    calls = [item for item in final.output if item.type == "function_call"]
    assert [json.loads(call.arguments) for call in calls] == [{"city": "Lima"}, {"city": "Lima-2"}]
    assert len({call.call_id for call in calls}) == 2
