"""Mid-conversation system messages and `count_tokens`, as the Messages API has them."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from failsoft.sim import SimServer
from failsoft.sim.anthropic_input import prompt

OPUS_48 = "claude-opus-4-8"
Q = {"role": "user", "content": "q"}
A = {"role": "assistant", "content": "a"}
S = {"role": "system", "content": "Answer in French."}


@pytest.mark.parametrize(
    "messages", [[Q, S], [Q, S, A, Q], [Q, {**S, "content": [{"type": "text", "text": "x"}]}]]
)
def test_opus_4_8_takes_a_system_message_after_a_user_turn(
    ant: anthropic.Anthropic, messages: list[Any]
) -> None:
    answer = ant.messages.create(model=OPUS_48, max_tokens=50, messages=messages)
    assert answer.content


@pytest.mark.parametrize(
    ("model", "messages", "message"),
    [
        ("claude-opus-4-7", [Q, S], 'Unexpected role "system"'),
        (OPUS_48, [S, Q], "messages.0: a system message cannot open `messages`"),
        (OPUS_48, [Q, A, S], "messages.2: role 'system' must immediately follow a user message"),
        (OPUS_48, [Q, S, Q], "messages.1: role 'system' must precede an 'assistant' message"),
        (OPUS_48, [Q, S, S], "messages.1: role 'system' must precede an 'assistant' message"),
        (OPUS_48, [Q, {**S, "content": [{"type": "image", "source": {}}]}],
         "messages.1.content.0: system messages hold text blocks only"),
    ],
)  # fmt: skip
def test_misplaced_system_messages_are_refused(
    ant: anthropic.Anthropic, model: str, messages: list[Any], message: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        ant.messages.create(model=model, max_tokens=50, messages=messages)
    assert message in caught.value.message


def test_a_system_message_does_not_change_the_newest_user_turn(ant: anthropic.Anthropic) -> None:
    plain = ant.messages.create(model=OPUS_48, max_tokens=50, messages=[Q])
    told = ant.messages.create(model=OPUS_48, max_tokens=50, messages=[Q, S])
    assert told.content == plain.content
    assert told.usage.input_tokens > plain.usage.input_tokens


def test_count_tokens_agrees_with_the_charged_input(
    ant: anthropic.Anthropic, sim: SimServer
) -> None:
    messages: list[Any] = [Q, A, {"role": "user", "content": "and a longer question now"}]
    counted = ant.messages.count_tokens(
        model="claude-opus-4-7", system="Be brief.", messages=messages
    )
    answer = ant.messages.create(
        model="claude-opus-4-7", max_tokens=50, system="Be brief.", messages=messages
    )
    assert counted.input_tokens == answer.usage.input_tokens
    assert (
        counted.input_tokens == prompt({"system": "Be brief.", "messages": messages}).input_tokens
    )
    assert sim.attempts("claude-opus-4-7") == 1  # the count is not an attempt
    with pytest.raises(anthropic.BadRequestError):
        ant.messages.count_tokens(model="claude-opus-4-7", messages=[{"role": "tool"}])  # type: ignore[list-item]


def test_a_model_refuses_more_output_than_its_limit(
    ant: anthropic.Anthropic, oai: openai.OpenAI, sim: SimServer
) -> None:
    sim.set_model("limited", max_output_tokens=100)
    try:
        with pytest.raises(anthropic.BadRequestError) as refused:
            ant.messages.create(model="limited", max_tokens=101, messages=[Q])
        assert refused.value.body["error"]["message"] == (  # type: ignore[index]
            "max_tokens: 101 > 100, which is the maximum allowed number of output tokens for limited"
        )
        with pytest.raises(openai.BadRequestError) as too_large:
            oai.chat.completions.create(model="limited", max_completion_tokens=101, messages=[Q])  # type: ignore[list-item]
        assert "max_tokens is too large: 101" in too_large.value.message
        assert ant.messages.create(model="limited", max_tokens=100, messages=[Q]).content
        assert sim.attempts("limited") == 3
    finally:
        sim.set_model("limited", max_output_tokens=None)
