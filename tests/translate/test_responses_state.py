"""Responses API conversation state (`responses.store`) through the real openai SDK:
`previous_response_id` continued on another provider, `retrieve`, `delete`, input items,
retention, the caller's `store: false`, and the 400 with storage off."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from failsoft.clock import FakeClock
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.conftest import CALLER_KEY
from tests.helpers import request
from tests.services import POSTGRES_URL, require

STORE = "responses: {store: true}\n"
FIRST = "Remember the word marmalade"
SECOND = "Which word did I ask you to remember?"


@pytest.fixture
def keeping(make_translating: Callable[[str], GatewayThread]) -> GatewayThread:
    return make_translating(STORE)


def client(gw: GatewayThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=CALLER_KEY, max_retries=0)


def ask(oai: openai.OpenAI, stream: bool, **kw: Any) -> Any:
    """The final `Response`, from `create` or from the SDK's stream helper."""
    if not stream:
        return oai.responses.create(**kw)
    with oai.responses.stream(**kw) as events:
        for _ in events:
            pass
        return events.get_final_response()


def sent_text(body: Any) -> str:
    """Everything an upstream request carried, as one string to search."""
    return json.dumps(body)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize(
    ("second", "model"), [("via-openai", "gpt-4o"), ("via-gemini", "gemini-2.5-flash")]
)
def test_a_conversation_begun_on_anthropic_continues_elsewhere(
    keeping: GatewayThread, sim: SimServer, stream: bool, second: str, model: str
) -> None:
    with client(keeping) as oai:
        r1 = ask(oai, stream, model="via-anthropic", input=FIRST, instructions="Be terse.")
        assert r1.id.startswith("resp_") and r1.output_text
        r2 = ask(
            oai,
            stream,
            model=second,
            input=SECOND,
            previous_response_id=r1.id,
            instructions="Answer in French.",
        )
    assert r2.output_text and r2.id != r1.id
    upstream = sent_text(sim.requests(model)[-1].body)
    # The whole history reached the second provider: turn 1's question and its answer...
    assert FIRST in upstream and r1.output_text in upstream and SECOND in upstream
    # ...but not turn 1's instructions, which applied to that response only.
    assert "Be terse." not in upstream and "Answer in French." in upstream


def test_three_turns_chain_and_a_tool_call_is_carried(
    keeping: GatewayThread, sim: SimServer
) -> None:
    tools: list[Any] = [
        {
            "type": "function",
            "name": "get_weather",
            "description": "The current weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        }
    ]
    with client(keeping) as oai:
        r1 = oai.responses.create(
            model="via-anthropic", input="What is the weather in Paris?", tools=tools
        )
        calls = [item for item in r1.output if item.type == "function_call"]
        assert calls, r1.output
        r2 = oai.responses.create(
            model="via-openai",
            previous_response_id=r1.id,
            tools=tools,
            input=[
                {"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny"}
            ],
        )
        r3 = oai.responses.create(model="via-gemini", previous_response_id=r2.id, input="Thanks")
    assert r3.output_text
    upstream = sent_text(sim.requests("gemini-2.5-flash")[-1].body)
    assert "What is the weather in Paris?" in upstream and "sunny" in upstream
    assert r2.output_text in upstream and "Thanks" in upstream


def test_retrieve_delete_and_input_items(keeping: GatewayThread) -> None:
    with client(keeping) as oai:
        r1 = oai.responses.create(model="via-anthropic", input=FIRST)
        r2 = oai.responses.create(model="via-openai", input=SECOND, previous_response_id=r1.id)
        got = oai.responses.retrieve(r2.id)
        assert got.id == r2.id and got.output_text == r2.output_text
        assert got.previous_response_id == r1.id
        items = oai.responses.input_items.list(r2.id, order="asc")
        kinds = [(i.type, getattr(i, "role", None)) for i in items.data]
        assert kinds == [("message", "user"), ("message", "assistant"), ("message", "user")]
        oai.responses.delete(r2.id)
        with pytest.raises(openai.NotFoundError) as info:
            oai.responses.retrieve(r2.id)
        with pytest.raises(openai.BadRequestError) as bad:
            oai.responses.create(model="via-openai", input="again", previous_response_id=r2.id)
        with pytest.raises(openai.NotFoundError):
            oai.responses.delete(r2.id)
    error: Any = info.value.body
    assert error["type"] == "invalid_request_error" and r2.id in error["message"]
    body: Any = bad.value.body
    assert body["code"] == "previous_response_not_found"
    assert body["param"] == "previous_response_id"


def test_input_items_are_paged_as_openai_pages_them(keeping: GatewayThread) -> None:
    with client(keeping) as oai:
        r1 = oai.responses.create(model="via-openai", input=FIRST)
        r2 = oai.responses.create(model="via-openai", input=SECOND, previous_response_id=r1.id)
    url = f"{keeping.url}/v1/responses/{r2.id}/input_items"
    whole = request(url, method="GET").json()
    assert whole["object"] == "list" and len(whole["data"]) == 3 and not whole["has_more"]
    assert whole["data"][0]["content"][0]["text"] == SECOND  # newest first by default
    first = request(url + "?order=asc&limit=2", method="GET").json()
    assert first["has_more"] and first["data"][0]["content"][0]["text"] == FIRST
    rest = request(f"{url}?order=asc&after={first['last_id']}", method="GET").json()
    assert [i["id"] for i in rest["data"]] == [whole["data"][0]["id"]] and not rest["has_more"]
    bad = request(url + "?limit=0", method="GET")
    assert bad.status == 400 and bad.json()["error"]["param"] == "limit"


def test_a_failed_answer_is_not_kept(
    make_translating: Callable[[str], GatewayThread], sim: SimServer
) -> None:
    """A stream that breaks after the commit point ends `response.failed`: nothing to
    continue from, so nothing is kept."""
    gw = make_translating(STORE + "resume: {enabled: false}\n")
    sim.set_fault("gpt-4o", {"kind": "cut", "after": 3, "stream": True})
    raw = request(
        gw.url + "/v1/responses", body={"model": "via-openai", "input": FIRST, "stream": True}
    )
    assert b"response.failed" in raw.body
    created = json.loads(raw.body.split(b"data: ", 1)[1].split(b"\n", 1)[0])
    ident = created["response"]["id"]
    assert request(f"{gw.url}/v1/responses/{ident}", method="GET").status == 404


def test_unknown_ids_and_routes_get_openai_shaped_errors(keeping: GatewayThread) -> None:
    missing = request(keeping.url + "/v1/responses/resp_nope", method="GET")
    assert missing.status == 404
    assert missing.json()["error"]["type"] == "invalid_request_error"
    assert missing.json()["error"]["code"] == "response_not_found"
    wrong = request(keeping.url + "/v1/responses/resp_nope", method="PUT")
    assert wrong.status == 405 and "GET" in wrong.headers["allow"]
    deep = request(keeping.url + "/v1/responses/resp_nope/other", method="GET")
    assert deep.status == 404


def test_the_callers_store_false_is_respected(keeping: GatewayThread) -> None:
    with client(keeping) as oai:
        r1 = oai.responses.create(model="via-openai", input=FIRST, store=False)
        with pytest.raises(openai.NotFoundError):
            oai.responses.retrieve(r1.id)
        with pytest.raises(openai.BadRequestError):
            oai.responses.create(model="via-openai", input=SECOND, previous_response_id=r1.id)


def test_kept_responses_expire_after_the_retention(
    make_translating: Callable[[str], GatewayThread],
) -> None:
    gw = make_translating("responses: {store: true, retention: 60}\n")
    clock = FakeClock()
    gw.runtime.conversations.clock = clock
    with client(gw) as oai:
        r1 = oai.responses.create(model="via-anthropic", input=FIRST)
        clock.advance(59)
        assert oai.responses.retrieve(r1.id).id == r1.id
        clock.advance(2)
        with pytest.raises(openai.NotFoundError):
            oai.responses.retrieve(r1.id)
        with pytest.raises(openai.BadRequestError):
            oai.responses.create(model="via-openai", input=SECOND, previous_response_id=r1.id)


def test_a_response_over_max_bytes_is_not_kept(
    make_translating: Callable[[str], GatewayThread],
) -> None:
    gw = make_translating("responses: {store: true, max_bytes: 200}\n")
    with client(gw) as oai:
        r1 = oai.responses.create(model="via-openai", input=FIRST)
        assert r1.output_text
        with pytest.raises(openai.NotFoundError):
            oai.responses.retrieve(r1.id)


def test_with_storage_off_nothing_is_kept(tgw: GatewayThread) -> None:
    with client(tgw) as oai:
        r1 = oai.responses.create(model="via-openai", input=FIRST)
        with pytest.raises(openai.NotFoundError):
            oai.responses.retrieve(r1.id)
        with pytest.raises(openai.BadRequestError) as info:
            oai.responses.create(model="via-anthropic", input=SECOND, previous_response_id=r1.id)
    body: Any = info.value.body
    assert body["param"] == "previous_response_id"
    assert "responses: {store: true}" in body["message"]


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/state.db"
    else:
        require("PostgreSQL", "127.0.0.1", 5432)
        yield POSTGRES_URL


def test_conversations_survive_a_restart_in_a_durable_store(
    make_translating: Callable[[str], GatewayThread], store_url: str
) -> None:
    """The record is in the store, not only in the process: a new gateway on the same
    store continues the conversation."""
    extra = f"{STORE}store: {{url: '{store_url}'}}\n"
    first = make_translating(extra)
    with client(first) as oai:
        r1 = ask(oai, True, model="via-anthropic", input=FIRST)
    first.stop()
    second = make_translating(extra)
    with client(second) as oai:
        assert oai.responses.retrieve(r1.id).output_text == r1.output_text
        r2 = oai.responses.create(model="via-openai", input=SECOND, previous_response_id=r1.id)
        assert r2.output_text
        oai.responses.delete(r1.id)
        oai.responses.delete(r2.id)
