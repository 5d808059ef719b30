"""Mid-stream resume (opt-in): a plain-text answer that breaks after it started is finished
by the next target, de-duplicated, as one consistent stream."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import anthropic
import openai
import pytest

from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.chaos.conftest import HI

TEXT = (
    "Resilient gateways keep answering when a provider fails: they retry with jitter, "
    "respect Retry-After, open breakers, and never pass a truncated stream as complete."
)
RESUME = {"resume": {"enabled": True}}


@pytest.fixture
def same_answer(sim: SimServer) -> Iterator[None]:
    """Every model gives the same answer, so a resumed answer can be checked word for word."""
    for model in ("gpt-4o", "gpt-4o-mini", "claude-opus-4-7", "claude-sonnet-4-5"):
        sim.set_model(model, answer=TEXT)
    yield
    for model in ("gpt-4o", "gpt-4o-mini", "claude-opus-4-7", "claude-sonnet-4-5"):
        sim.set_model(model, answer=None, resume_overlap=0)


@pytest.mark.parametrize(
    "fault",
    [{"kind": "cut", "after": 5}, {"kind": "stall", "after": 5},
     {"kind": "mid_stream_error", "after": 5}, {"kind": "no_terminal"}],
    ids=["cut", "stall", "error-event", "no-terminal"],
)  # fmt: skip
def test_openai_stream_is_resumed_whole(
    chaos: Callable[..., GatewayThread], sim: SimServer, same_answer: None, fault: dict[str, object]
) -> None:
    gw = chaos(RESUME)
    sim.set_fault("gpt-4o", fault)
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client:
        chunks = list(
            client.chat.completions.create(
                model="gpt", messages=HI, stream=True, stream_options={"include_usage": True}
            )
        )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == TEXT
    assert {c.id for c in chunks} == {chunks[0].id}  # one stream, one id
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None
    assert sim.attempts("gpt-4o-mini") == 1


def test_anthropic_stream_is_resumed_and_deduplicated(
    chaos: Callable[..., GatewayThread], sim: SimServer, same_answer: None
) -> None:
    gw = chaos(RESUME)
    sim.set_model("claude-sonnet-4-5", resume_overlap=3)  # it repeats 3 words first
    sim.set_fault("claude-opus-4-7", {"kind": "cut", "after": 7, "mode": "reset"})
    with (
        anthropic.Anthropic(base_url=gw.url, api_key="c", max_retries=0) as client,
        client.messages.stream(model="claude", max_tokens=200, messages=HI) as stream,
    ):
        events = [event.type for event in stream]
        message = stream.get_final_message()
    assert message.content[0].type == "text"
    assert message.content[0].text == TEXT
    assert len(message.content) == 1
    assert message.stop_reason == "end_turn"
    assert events.count("message_start") == 1
    assert events[-1] == "message_stop"
    assert message.usage.output_tokens > 7


def test_without_resume_the_break_is_an_error(
    chaos: Callable[..., GatewayThread], sim: SimServer, same_answer: None
) -> None:
    gw = chaos()
    sim.set_fault("gpt-4o", {"kind": "cut", "after": 5})
    with (
        openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client,
        pytest.raises(openai.APIError),
    ):
        list(client.chat.completions.create(model="gpt", messages=HI, stream=True))
    assert sim.attempts("gpt-4o-mini") == 0


def test_when_the_continuation_breaks_too_the_caller_is_told(
    chaos: Callable[..., GatewayThread], sim: SimServer, same_answer: None
) -> None:
    gw = chaos(RESUME)
    sim.set_fault("gpt-4o", {"kind": "cut", "after": 3})
    sim.set_fault("gpt-4o-mini", {"kind": "cut", "after": 3})
    with (
        openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client,
        pytest.raises(openai.APIError, match="broke"),
    ):
        list(client.chat.completions.create(model="gpt", messages=HI, stream=True))


def test_no_target_left_to_continue(
    chaos: Callable[..., GatewayThread], sim: SimServer, same_answer: None
) -> None:
    gw = chaos(RESUME)
    sim.set_fault("gpt-4o", {"kind": "cut", "after": 3})
    with (
        openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client,
        pytest.raises(openai.APIError, match="broke after"),
    ):
        list(client.chat.completions.create(model="gpt-solo", messages=HI, stream=True))
