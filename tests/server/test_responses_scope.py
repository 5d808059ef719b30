"""Stored Responses (`responses.store`) belong to the key that made them, through the real
openai SDK: another key's `retrieve`, `delete`, `input_items` and `previous_response_id`
answer as if the response did not exist (404 / previous_response_not_found, never 403);
the owner's work. Without `auth:`, any caller who knows an id may read it, as before."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import openai
import orjson
import pytest

from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.test_conversations import answer, make

ALICE = "alice-" + "a1" * 20
BOB = "bob-" + "b2" * 20
KEEP = "responses: {store: true}\n"
AUTH = f"""
auth:
  keys:
    - {{name: alice, key: "{ALICE}"}}
    - {{name: bob, key: "{BOB}"}}
"""
FIRST = "Remember the word marmalade"


@pytest.fixture
def clients(
    make_gateway: Callable[[str], GatewayThread],
) -> Iterator[Callable[[str, str], openai.OpenAI]]:
    made: list[openai.OpenAI] = []
    gateways: dict[str, GatewayThread] = {}

    def make(extra: str, key: str) -> openai.OpenAI:
        if extra not in gateways:
            gateways[extra] = make_gateway(extra)
        client = openai.OpenAI(base_url=gateways[extra].url + "/v1", api_key=key, max_retries=0)
        made.append(client)
        return client

    yield make
    for c in made:
        c.close()


def final(oai: openai.OpenAI, stream: bool, **kw: Any) -> Any:
    if not stream:
        return oai.responses.create(**kw)
    with oai.responses.stream(**kw) as events:
        for _ in events:
            pass
        return events.get_final_response()


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_another_key_finds_nothing(
    clients: Callable[[str, str], openai.OpenAI], sim: SimServer, stream: bool
) -> None:
    alice, bob = clients(KEEP + AUTH, ALICE), clients(KEEP + AUTH, BOB)
    r1 = final(alice, stream, model="gpt", input=FIRST)
    assert r1.id.startswith("resp_")

    with pytest.raises(openai.NotFoundError) as got:
        bob.responses.retrieve(r1.id)
    unknown = "resp_" + "0" * 24
    with pytest.raises(openai.NotFoundError) as missing:
        bob.responses.retrieve(unknown)
    # The same answer as for an id that never existed: nothing confirms it.
    assert got.value.message.replace(r1.id, "ID") == missing.value.message.replace(unknown, "ID")
    assert got.value.code == missing.value.code == "response_not_found"
    with pytest.raises(openai.NotFoundError):
        bob.responses.input_items.list(r1.id)
    with pytest.raises(openai.NotFoundError):
        bob.responses.delete(r1.id)
    before = len(sim.requests("gpt-4o"))
    with pytest.raises(openai.BadRequestError) as refused:
        bob.responses.create(model="gpt", input="and then?", previous_response_id=r1.id)
    assert refused.value.code == "previous_response_not_found"
    assert len(sim.requests("gpt-4o")) == before  # refused before any target was asked

    # Still there for its owner, who can continue, list and delete it.
    assert alice.responses.retrieve(r1.id).output_text == r1.output_text
    items = alice.responses.input_items.list(r1.id)
    assert FIRST in str(items.data[0])
    r2 = final(alice, stream, model="gpt", input="Which word?", previous_response_id=r1.id)
    assert FIRST in str(sim.requests("gpt-4o")[-1].body)
    with pytest.raises(openai.NotFoundError):
        bob.responses.retrieve(r2.id)
    alice.responses.delete(r1.id)
    with pytest.raises(openai.NotFoundError):
        alice.responses.retrieve(r1.id)


def test_without_auth_any_caller_may_read_a_kept_response(
    clients: Callable[[str, str], openai.OpenAI],
) -> None:
    one, other = clients(KEEP, "sk-one"), clients(KEEP, "sk-other")
    r1 = one.responses.create(model="gpt", input=FIRST)
    assert other.responses.retrieve(r1.id).id == r1.id
    r2 = other.responses.create(model="gpt", input="Which word?", previous_response_id=r1.id)
    assert one.responses.retrieve(r2.id).previous_response_id == r1.id


async def test_the_owner_is_kept_by_name_and_an_ownerless_record_is_nobodys() -> None:
    """The record holds the key's name (never the key); one kept while `auth:` was off
    has no owner, and no key finds it once auth is on (anyone could have made it)."""
    conv = make()
    body = {"model": "m", "input": "one"}
    kept = await conv.expand(body, orjson.dumps(body), "m", "alice")
    await conv.answered(kept, answer("resp_a", "uno"))
    loose = await conv.expand(body, orjson.dumps(body), "m")
    await conv.answered(loose, answer("resp_b", "dos"))
    found = await conv.find("resp_a", "alice")
    assert found is not None and found["owner"] == "alice"
    assert await conv.find("resp_a", "bob") is None
    assert await conv.find("resp_a") is not None  # no auth: anyone
    assert await conv.find("resp_b", "alice") is None
    assert await conv.find("resp_b") is not None
    assert not await conv.delete("resp_a", "bob")
    assert await conv.delete("resp_a", "alice")
