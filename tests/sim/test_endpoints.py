"""The healthy paths, seen through the real SDKs: answers, streams, models, validation."""

from __future__ import annotations

import aiohttp
import anthropic
import openai
import pytest

from failsoft.sim import SimServer

from .helpers import GPT, MODEL, user


def test_openai_non_streaming(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(model=GPT, messages=user())
    assert completion.id.startswith("chatcmpl-")
    assert completion.object == "chat.completion"
    assert completion.model == GPT
    assert completion.system_fingerprint
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.refusal is None
    assert choice.message.content is not None
    assert choice.message.content.startswith(f"Simulated answer from {GPT}: ")
    usage = completion.usage
    assert usage is not None
    assert usage.completion_tokens == len(choice.message.content.split(" "))
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 0
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 0


def test_openai_streaming_with_usage(oai: openai.OpenAI) -> None:
    whole = oai.chat.completions.create(model=GPT, messages=user()).choices[0].message.content
    chunks = list(
        oai.chat.completions.create(
            model=GPT, messages=user(), stream=True, stream_options={"include_usage": True}
        )
    )
    first, *content, finish, usage = chunks
    assert first.choices[0].delta.role == "assistant"
    assert first.choices[0].delta.content == ""
    assert "".join(c.choices[0].delta.content or "" for c in content) == whole
    assert all(c.choices[0].delta.content for c in content)
    assert finish.choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks[:-1])
    assert usage.choices == []
    assert usage.usage is not None
    assert usage.usage.completion_tokens == len(content)
    assert len({c.id for c in chunks}) == 1


def test_openai_streaming_without_usage(oai: openai.OpenAI) -> None:
    chunks = list(oai.chat.completions.create(model=GPT, messages=user(), stream=True))
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None and c.choices for c in chunks)


def test_openai_stream_helper(oai: openai.OpenAI) -> None:
    with oai.chat.completions.stream(
        model=GPT, messages=user(), stream_options={"include_usage": True}
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].finish_reason == "stop"
    assert final.choices[0].message.content is not None
    assert final.choices[0].message.content.startswith("Simulated answer")
    assert final.usage is not None


async def test_openai_async_client(aoai: openai.AsyncOpenAI) -> None:
    completion = await aoai.chat.completions.create(model=GPT, messages=user("async"))
    stream = await aoai.chat.completions.create(model=GPT, messages=user("async"), stream=True)
    pieces = [chunk.choices[0].delta.content or "" async for chunk in stream]
    assert "".join(pieces) == completion.choices[0].message.content


def test_anthropic_non_streaming(ant: anthropic.Anthropic) -> None:
    message = ant.messages.create(model=MODEL, max_tokens=100, messages=user())
    assert message.id.startswith("msg_")
    assert message.type == "message"
    assert message.role == "assistant"
    assert message.model == MODEL
    assert message.stop_reason == "end_turn"
    assert message.stop_sequence is None
    block = message.content[0]
    assert block.type == "text"
    assert block.text.startswith(f"Simulated answer from {MODEL}: ")
    assert message.usage.output_tokens == len(block.text.split(" "))
    assert message.usage.input_tokens >= 1
    assert message.usage.cache_read_input_tokens == 0
    assert message.usage.cache_creation_input_tokens == 0
    assert message.usage.service_tier == "standard"


def test_anthropic_stream_helper(ant: anthropic.Anthropic) -> None:
    whole = ant.messages.create(model=MODEL, max_tokens=100, messages=user())
    with ant.messages.stream(model=MODEL, max_tokens=100, messages=user()) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert final.stop_reason == "end_turn"
    assert text == whole.content[0].text  # type: ignore[union-attr]
    assert final.content[0].text == text  # type: ignore[union-attr]
    assert final.usage.output_tokens == whole.usage.output_tokens


def test_anthropic_raw_stream_event_order(ant: anthropic.Anthropic) -> None:
    events = list(ant.messages.create(model=MODEL, max_tokens=100, messages=user(), stream=True))
    types = [event.type for event in events]
    deltas = types.count("content_block_delta")
    assert deltas > 3
    assert types == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * deltas,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[0].message.usage.output_tokens == 1  # type: ignore[union-attr]
    assert events[-2].usage.output_tokens == deltas  # type: ignore[union-attr]


async def test_anthropic_async_stream_helper(aant: anthropic.AsyncAnthropic) -> None:
    async with aant.messages.stream(model=MODEL, max_tokens=100, messages=user()) as stream:
        final = await stream.get_final_message()
    whole = await aant.messages.create(model=MODEL, max_tokens=100, messages=user())
    assert final.stop_reason == "end_turn"
    assert final.content[0].text == whole.content[0].text  # type: ignore[union-attr]


def test_same_prompt_same_answer_different_prompt_different_answer(
    oai: openai.OpenAI, ant: anthropic.Anthropic
) -> None:
    def ask(text: str) -> str | None:
        return (
            oai.chat.completions.create(model=GPT, messages=user(text)).choices[0].message.content
        )

    assert ask("one") == ask("one")
    assert ask("one") != ask("two")
    claude = ant.messages.create(model=MODEL, max_tokens=100, messages=user("one"))
    words = claude.content[0].text.split(" ")  # type: ignore[union-attr]
    assert words[4:] == (ask("one") or "").split(" ")[4:]  # same words, other model prefix


def test_max_tokens_truncates(oai: openai.OpenAI, ant: anthropic.Anthropic) -> None:
    short = oai.chat.completions.create(model=GPT, messages=user(), max_completion_tokens=5)
    assert short.choices[0].finish_reason == "length"
    assert short.usage is not None
    assert short.usage.completion_tokens == 5
    legacy = oai.chat.completions.create(model=GPT, messages=user(), max_tokens=3)
    assert legacy.choices[0].message.content == "Simulated answer from"
    message = ant.messages.create(model=MODEL, max_tokens=3, messages=user())
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 3
    with ant.messages.stream(model=MODEL, max_tokens=4, messages=user()) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "max_tokens"
    assert final.content[0].text == f"Simulated answer from {MODEL}:"  # type: ignore[union-attr]


def test_model_settings_change_the_answer(sim: SimServer, oai: openai.OpenAI) -> None:
    sim.set_model(GPT, answer_words=3)
    three = oai.chat.completions.create(model=GPT, messages=user())
    assert three.usage is not None
    assert three.usage.completion_tokens == 4 + 3
    sim.set_model(GPT, answer="Fixed text here.")
    fixed = oai.chat.completions.create(model=GPT, messages=user())
    assert fixed.choices[0].message.content == "Fixed text here."


def test_models_list_both_shapes(
    sim: SimServer, oai: openai.OpenAI, ant: anthropic.Anthropic
) -> None:
    ant.messages.create(model=MODEL, max_tokens=10, messages=user())
    openai_ids = [model.id for model in oai.models.list()]
    assert openai_ids == [GPT, MODEL]
    infos = list(ant.models.list())
    assert [info.id for info in infos] == [GPT, MODEL]
    assert infos[0].type == "model"
    assert sim.attempts(GPT) == 0  # listing is not an attempt


def test_api_key_is_enforced_in_both_dialects() -> None:
    with SimServer(api_key="sk-right").run_in_thread() as sim:
        wrong_o = openai.OpenAI(base_url=sim.url + "/v1", api_key="sk-wrong", max_retries=0)
        wrong_a = anthropic.Anthropic(base_url=sim.url, api_key="sk-wrong", max_retries=0)
        right_a = anthropic.Anthropic(base_url=sim.url, api_key="sk-right", max_retries=0)
        with wrong_o, wrong_a, right_a:
            with pytest.raises(openai.AuthenticationError) as o_error:
                wrong_o.chat.completions.create(model=GPT, messages=user())
            assert o_error.value.code == "invalid_api_key"
            with pytest.raises(anthropic.AuthenticationError) as a_error:
                wrong_a.messages.create(model=MODEL, max_tokens=10, messages=user())
            assert a_error.value.type == "authentication_error"
            with pytest.raises(anthropic.AuthenticationError):
                wrong_a.models.list()
            assert right_a.messages.create(model=MODEL, max_tokens=10, messages=user()).content
        assert [r.outcome for r in sim.requests()] == ["401", "401", "200"]


async def test_x_api_key_header_is_accepted() -> None:
    with SimServer(api_key="sk-right").run_in_thread() as sim:
        headers = {"x-api-key": "sk-right", "anthropic-version": "2023-06-01"}
        body = {"model": MODEL, "max_tokens": 10, "messages": user()}
        async with (
            aiohttp.ClientSession() as http,
            http.post(sim.url + "/v1/messages", json=body, headers=headers) as resp,
        ):
            assert resp.status == 200
            assert resp.headers["request-id"].startswith("req_")
        assert sim.requests()[0].auth == "x-api-key"


@pytest.mark.parametrize(
    ("path", "headers", "body", "status", "message"),
    [
        ("/v1/messages", {}, {"model": MODEL, "max_tokens": 5, "messages": []}, 400,
         "anthropic-version: header is required"),
        ("/v1/messages", {"anthropic-version": "x"}, {"model": MODEL, "messages": []}, 400,
         "max_tokens: Field required"),
        ("/v1/messages", {"anthropic-version": "x"}, {"max_tokens": 5, "messages": []}, 400,
         "model: Field required"),
        ("/v1/messages", {"anthropic-version": "x"}, {"model": MODEL, "max_tokens": 5}, 400,
         "messages: Field required"),
        ("/v1/chat/completions", {}, {"model": GPT}, 400,
         "Missing required parameter: 'messages'."),
        ("/v1/chat/completions", {}, {"messages": []}, 400, "you must provide a model parameter"),
    ],
)  # fmt: skip
async def test_validation_errors_in_dialect_shape(
    sim: SimServer, path: str, headers: dict[str, str], body: object, status: int, message: str
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(sim.url + path, json=body, headers=headers) as resp,
    ):
        assert resp.status == status
        payload = await resp.json()
    if path == "/v1/messages":
        assert payload["type"] == "error"
        assert payload["error"] == {
            "type": "invalid_request_error",
            "message": message,
            "details": None,
        }
        assert payload["request_id"].startswith("req_")
    else:
        assert payload["error"]["message"] == message
        assert payload["error"]["type"] == "invalid_request_error"


async def test_invalid_json_unknown_path_and_wrong_method(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(sim.url + "/v1/chat/completions", data=b"{nope") as resp:
            assert resp.status == 400
            assert "not valid JSON" in (await resp.json())["error"]["message"]
        headers = {"anthropic-version": "2023-06-01"}
        async with http.post(sim.url + "/v1/messages", data=b"[1]", headers=headers) as resp:
            assert resp.status == 400
            assert (await resp.json())["type"] == "error"
        async with http.get(sim.url + "/v2/nothing") as resp:
            assert resp.status == 404
            assert (await resp.json())["error"] == {
                "message": "Invalid URL (GET /v2/nothing)",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        async with http.get(sim.url + "/v1/messages", headers=headers) as resp:
            assert resp.status == 405
    assert sim.stats()["models"]["(unknown)"]["outcomes"] == {"400": 2}
