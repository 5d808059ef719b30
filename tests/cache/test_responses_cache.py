"""The answer cache and the degradation ladder for Responses callers (`/v1/responses`),
through the real openai SDK: hits (whole and replayed as a numbered stream), what is never
stored, stale answers during an outage, lighter targets and the static answer."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.cache.test_gateway_cache import config_for
from tests.helpers import request
from tests.translate.test_responses_sdk import check_grammar

QUESTION = "Tell me about caches"
STATIC = "We are having trouble; try again soon."


@pytest.fixture
def gw(sim: SimServer) -> Iterator[GatewayThread]:
    with GatewayThread(config_for(sim)).running() as gateway:
        yield gateway


def oai(gw: GatewayThread, key: str = "caller-a") -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)


def ask(client: openai.OpenAI, model: str = "gpt", **kw: Any) -> Any:
    kw.setdefault("input", QUESTION)
    return client.responses.with_raw_response.create(model=model, **kw)


def events_of(raw: Any) -> list[dict[str, Any]]:
    return [event.model_dump() for event in raw.parse()]


def test_a_repeated_request_hits(gw: GatewayThread, sim: SimServer) -> None:
    with oai(gw) as client:
        first = ask(client, instructions="Be brief.")
        second = ask(client, instructions="Be brief.", metadata={"trace": "x"}, store=False)
        other = ask(client, instructions="Be long.")
    assert first.headers["x-failsoft-cache"] == "MISS"
    assert second.headers["x-failsoft-cache"] == "HIT"  # metadata and store change nothing
    assert second.headers["x-failsoft-rung"] == "targets"
    assert int(second.headers["age"]) >= 0
    assert other.headers["x-failsoft-cache"] == "MISS"  # the instructions do
    assert second.parse().output_text == first.parse().output_text
    assert second.parse().id == first.parse().id
    assert sim.attempts("gpt-4o") == 2


@pytest.mark.parametrize("first_as", ["stream", "plain"])
def test_answers_are_stored_and_replayed_as_numbered_streams(
    gw: GatewayThread, sim: SimServer, first_as: str
) -> None:
    with oai(gw) as client:
        if first_as == "stream":
            with client.responses.stream(model="claude", input=QUESTION) as stream:
                first = stream.get_final_response()
        else:
            first = client.responses.create(model="claude", input=QUESTION)
        raw = ask(client, "claude", stream=True)
        assert raw.headers["x-failsoft-cache"] == "HIT"
        events = events_of(raw)
        check_grammar(events)
        text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
        assert text == first.output_text
        assert events[-1]["response"]["id"] == first.id
        with client.responses.stream(model="claude", input=QUESTION) as stream:
            replayed = stream.get_final_response()
        assert replayed.output_text == first.output_text
        assert replayed.usage is not None and first.usage is not None
        assert replayed.usage.output_tokens == first.usage.output_tokens
        plain = ask(client, "claude")
        assert plain.headers["x-failsoft-cache"] == "HIT"
        assert plain.parse().output_text == first.output_text
    assert sim.attempts("claude-opus-4-7") == 1


def test_tool_calls_replay_with_their_arguments(gw: GatewayThread) -> None:
    tools: Any = [{"type": "function", "name": "get_weather", "parameters": {
        "type": "object", "properties": {"location": {"type": "string"}}}}]  # fmt: skip
    question = "What's the weather in Paris?"
    with oai(gw) as client:
        first = client.responses.create(model="gpt", input=question, tools=tools)
        raw = ask(client, input=question, tools=tools, stream=True)
        assert raw.headers["x-failsoft-cache"] == "HIT"
        events = events_of(raw)
    check_grammar(events)
    (call,) = [i for i in first.output if i.type == "function_call"]
    (again,) = [i for i in events[-1]["response"]["output"] if i["type"] == "function_call"]
    assert again["arguments"] == call.arguments
    (done,) = [e for e in events if e["type"] == "response.function_call_arguments.done"]
    assert done["arguments"] == call.arguments


def test_truncated_and_broken_answers_are_never_stored(gw: GatewayThread, sim: SimServer) -> None:
    sim.set_model("gpt-4o", answer=" ".join(["word"] * 40))
    try:
        with oai(gw) as client:
            cut = ask(client, max_output_tokens=16)
            assert cut.parse().status == "incomplete"
            assert ask(client, max_output_tokens=16).headers["x-failsoft-cache"] == "MISS"
    finally:
        sim.set_model("gpt-4o", answer=None)
    with oai(gw) as client:
        sim.set_fault("gpt-4o", {"kind": "cut", "after": 3, "stream": True, "count": 1})
        question = "a stream that breaks"
        kinds = [e.type for e in client.responses.create(model="gpt", input=question, stream=True)]
        assert kinds[-2:] == ["error", "response.failed"]
        assert ask(client, input=question).headers["x-failsoft-cache"] == "MISS"


def test_outage_serves_stale_answers(sim: SimServer) -> None:
    with GatewayThread(config_for(sim, ttl=0.2)).running() as gw, oai(gw) as client:
        seen = ask(client).parse().output_text
        time.sleep(0.25)  # past its TTL, within stale_if_error
        sim.set_fault("*", {"kind": "status", "status": 503})
        stale = ask(client)
        assert stale.headers["x-failsoft-cache"] == "STALE"
        assert stale.headers["x-failsoft-rung"] == "stale"
        assert "openai/gpt-4o:503" in stale.headers["x-failsoft-trail"]
        assert stale.parse().output_text == seen
        raw = ask(client, stream=True)
        assert raw.headers["x-failsoft-cache"] == "STALE"
        events = events_of(raw)
        check_grammar(events)
        assert events[-1]["response"]["output"][0]["content"][0]["text"] == seen
        with pytest.raises(openai.InternalServerError):
            client.responses.create(model="gpt", input="never asked before")


def test_the_ladder_lighter_then_static(gw: GatewayThread, sim: SimServer) -> None:
    sim.set_fault("gpt-4.1", {"kind": "status", "status": 503})
    with oai(gw) as client:
        lighter = ask(client, model="laddered")
        assert lighter.headers["x-failsoft-rung"] == "lighter"
        assert lighter.parse().model == "gpt-4o-mini"
        sim.set_fault("gpt-4o-mini", {"kind": "status", "status": 503})
        static = ask(client, model="laddered")
        assert static.headers["x-failsoft-rung"] == "static"
        assert static.parse().output_text == STATIC
        assert static.parse().status == "completed"
        with client.responses.stream(model="static-only", input=QUESTION) as stream:
            assert stream.get_final_response().output_text == STATIC


def test_the_raw_replay_is_one_event_per_frame(gw: GatewayThread) -> None:
    """Named events whose name is their type, as the SDK's SSE reader expects."""
    ask_body = {"model": "gpt", "input": QUESTION}
    request(gw.url + "/v1/responses", body=ask_body)
    response = request(gw.url + "/v1/responses", body={**ask_body, "stream": True})
    assert response.headers["x-failsoft-cache"] == "HIT"
    frames = [f for f in response.body.decode().split("\n\n") if f.strip()]
    for frame in frames:
        name, data = frame.split("\n")
        assert name == "event: " + json.loads(data.removeprefix("data: "))["type"]


# --- keys and the semantic cache (pure) ------------------------------------------------


def test_the_key_follows_what_decides_the_answer() -> None:
    from failsoft.cache.key import cache_key

    body: dict[str, Any] = {"model": "gpt", "input": QUESTION, "instructions": "Be brief."}
    key = cache_key("responses", "gpt", body)
    same = {**body, "stream": True, "store": False, "metadata": {"a": "b"}, "user": "u"}
    assert cache_key("responses", "gpt", same) == key
    assert cache_key("openai", "gpt", body) != key  # the stored body is in the dialect
    for change in (
        {"input": "other"},
        {"instructions": "Be long."},
        {"text": {"format": {"type": "json_object"}}},
        {"reasoning": {"effort": "high"}},
        {"max_output_tokens": 100},
        {"include": ["reasoning.encrypted_content"]},
    ):
        assert cache_key("responses", "gpt", {**body, **change}) != key, change


def test_the_semantic_cache_reads_the_last_user_turn_of_input() -> None:
    from failsoft.cache.semantic import last_user_text, scope_for

    assert last_user_text("responses", {"input": "What is a breaker?"}) == "What is a breaker"
    turns: list[Any] = [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": [{"type": "input_text", "text": "What is a breaker?"}]},
    ]
    assert last_user_text("responses", {"input": turns}) == "What is a breaker"
    image = {"type": "input_image", "image_url": "data:image/png;base64,AAAA"}
    with_image = [*turns[:-1], {"role": "user", "content": [image]}]
    assert last_user_text("responses", {"input": with_image}) is None
    output = [*turns, {"type": "function_call_output", "call_id": "c", "output": "1"}]
    assert last_user_text("responses", {"input": output}) is None
    assert last_user_text("responses", {"input": 3}) is None
    # The scope drops the last turn (and, without history, every turn but the developer's).
    one = scope_for("", "gpt", "responses", {"input": turns})
    other_question = [*turns[:-1], {"role": "user", "content": "Another one?"}]
    assert scope_for("", "gpt", "responses", {"input": other_question}) == one
    assert scope_for("", "gpt", "responses", {"input": turns}, history=True) != scope_for(
        "", "gpt", "responses", {"input": turns[-1:]}, history=True
    )
    assert scope_for("", "gpt", "responses", {"input": "x"}) == scope_for(
        "", "gpt", "responses", {"input": "y"}
    )
