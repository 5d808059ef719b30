"""The conversation record without HTTP: the in-process cache of recent answers, the store
behind it, and what is refused."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from failsoft.clock import FakeClock
from failsoft.config import parse_config
from failsoft.conversations import (
    RECENT,
    Conversations,
    PreviousResponseNotFound,
    StorageOff,
    StoreAway,
)
from failsoft.store import MemoryStore, QueuedStore

CONFIG = """
providers: {p: {dialect: openai, base_url: "http://127.0.0.1:9"}}
models: {m: [p/x]}
"""


def make(extra: str = "responses: {store: true, retention: 100}\n") -> Conversations:
    """Over a store that is never opened: every store read fails, every write waits."""
    config = parse_config(CONFIG + extra)
    return Conversations(config, QueuedStore(MemoryStore(), timeout=0.2), FakeClock())


def answer(ident: str, text: str) -> bytes:
    item = {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text}],
    }
    return orjson.dumps(
        {"id": ident, "object": "response", "status": "completed", "output": [item]}
    )


async def turn(conv: Conversations, body: dict[str, Any], ident: str, text: str) -> Any:
    prepared = await conv.expand(body, orjson.dumps(body), "m")
    await conv.answered(prepared, answer(ident, text))
    return prepared


async def test_a_fresh_answer_is_found_before_the_store_has_it() -> None:
    conv = make()
    await turn(conv, {"model": "m", "input": "one", "instructions": "be brief"}, "resp_1", "uno")
    second = await turn(
        conv, {"model": "m", "input": "two", "previous_response_id": "resp_1"}, "resp_2", "dos"
    )
    assert "previous_response_id" not in second.payload
    texts = [orjson.dumps(item).decode() for item in second.payload["input"]]
    assert ["one" in texts[0], "uno" in texts[1], "two" in texts[2]] == [True, True, True]
    assert "be brief" not in orjson.dumps(second.payload).decode()  # instructions stay behind
    found = await conv.find("resp_2")
    assert found is not None and found["response"]["previous_response_id"] == "resp_1"
    assert conv.store.queued == 2  # both writes wait for the store; nothing waited on them
    with pytest.raises(StoreAway):  # neither cached nor readable from the store now
        await conv.find("resp_older")


async def test_expired_answers_are_not_served_from_the_process_either() -> None:
    conv = make()
    await turn(conv, {"model": "m", "input": "one"}, "resp_1", "uno")
    assert isinstance(conv.clock, FakeClock)
    conv.clock.advance(101)
    with pytest.raises(StoreAway):  # gone from the process; the store is asked (and is away)
        await conv.find("resp_1")


async def test_the_recent_cache_is_bounded() -> None:
    conv = make()
    for n in range(RECENT + 5):
        await turn(conv, {"model": "m", "input": "x"}, f"resp_{n}", "y")
    assert len(conv._recent) == RECENT and "resp_0" not in conv._recent


async def test_refusals() -> None:
    off = make("")
    with pytest.raises(StorageOff, match=re.escape("responses: {store: true}")):
        await off.expand({"previous_response_id": "resp_1"}, b"{}", "m")
    unknown_model = await off.expand({"previous_response_id": "resp_1"}, b"{}", "nope")
    assert unknown_model.payload == {"previous_response_id": "resp_1"}  # its 404 comes later
    on = make()
    with pytest.raises(PreviousResponseNotFound):
        await on.expand({"input": "x", "previous_response_id": "resp_" + "9" * 300}, b"{}", "m")
    skipped = await on.expand({"input": "x", "store": False}, b"{}", "m")
    assert not skipped.keep
