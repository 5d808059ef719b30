"""A stream that breaks right after its first content event: mid-stream resume knows what
was said from the stream's head alone, which it takes from the events the attempt parsed
while opening the stream (not from a second decode of the head's bytes). The head (the
Anthropic prelude: message_start, content_block_start, ping, and the first delta) must reach
the caller intact, and the continuation must be asked to go on from exactly the first
delta's text, for every way the head is kept: parsed by orjson (Anthropic's prelude),
parsed lazily (OpenAI's typed chunks), or translated (an OpenAI caller on an Anthropic
target, whose head is parsed again in the caller's dialect)."""

from __future__ import annotations

from collections.abc import Callable

import anthropic
import pytest

from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.chaos.conftest import HI
from tests.chaos.test_resume import (
    TEXT,
    anthropic_stream,
    last_messages,
    openai_stream,
    same_answer,  # noqa: F401  (the fixture every test here uses)
)

pytestmark = pytest.mark.usefixtures("same_answer")

FIRST = TEXT.split(" ")[0]
"""What the simulator's first content event says."""


def test_the_anthropic_prelude_and_first_delta_reach_the_caller_intact(
    chaos: Callable[..., GatewayThread], sim: SimServer
) -> None:
    gw = chaos()
    with anthropic.Anthropic(base_url=gw.url, api_key="c", max_retries=0) as client:
        events = list(
            client.messages.create(model="claude", max_tokens=300, messages=HI, stream=True)
        )
    kinds = [event.type for event in events]
    assert kinds[:3] == ["message_start", "content_block_start", "content_block_delta"]
    start, block, delta = events[:3]
    assert start.message.role == "assistant"
    assert start.message.id.startswith("msg_")
    assert start.message.model == "claude-opus-4-7"
    assert start.message.content == []
    assert block.index == 0
    assert block.content_block.type == "text"
    assert delta.index == 0
    assert delta.delta.type == "text_delta"
    assert delta.delta.text == FIRST
    text = "".join(
        e.delta.text
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )
    assert text == TEXT
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]


def test_an_anthropic_stream_broken_after_its_first_delta_goes_on_from_it(
    chaos: Callable[..., GatewayThread], sim: SimServer
) -> None:
    gw = chaos()
    sim.set_fault("claude-opus-4-7", {"kind": "cut", "after": 1, "mode": "reset"})
    message, events = anthropic_stream(gw)
    assert message.content[0].text == TEXT
    assert message.model == "claude-opus-4-7"  # the broken stream's message_start
    assert events.count("message_start") == 1
    assert events[-1] == "message_stop"
    (continuation,) = last_messages(sim, "claude-sonnet-4-5")
    assert continuation[-1] == {"role": "assistant", "content": FIRST}


@pytest.mark.parametrize(
    ("model", "broken", "rest"),
    [
        ("gpt", "gpt-4o", "gpt-4o-mini"),  # the same dialect: typed chunks, parsed lazily
        ("claude", "claude-opus-4-7", "claude-sonnet-4-5"),  # translated into OpenAI's
    ],
)
def test_an_openai_stream_broken_after_its_first_content_goes_on_from_it(
    chaos: Callable[..., GatewayThread],
    sim: SimServer,
    model: str,
    broken: str,
    rest: str,
) -> None:
    gw = chaos()
    sim.set_fault(broken, {"kind": "cut", "after": 1, "mode": "reset"})
    text, _ = openai_stream(gw, model)
    assert text == TEXT
    assert sim.attempts(rest) == 1
    (continuation,) = last_messages(sim, rest)
    (said,) = [m["content"] for m in continuation if m["role"] == "assistant"]
    if isinstance(said, list):  # an Anthropic target's content blocks
        said = "".join(block["text"] for block in said)
    assert said == FIRST
