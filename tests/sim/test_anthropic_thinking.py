"""Extended thinking in the simulated Anthropic API: signed thinking blocks out, and the
refusals the real API gives a tool loop that lost them (or the `thinking` rules)."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from failsoft.sim.anthropic_thinking import THINKING
from tests.translate.sdk import ANTHROPIC_TOOLS, QUESTION

from .helpers import MODEL

THINK = {"type": "enabled", "budget_tokens": 2048}
OLD = {"anthropic-version": "2023-06-01"}
"""The API version that still takes sampling parameters."""


def first_turn(ant: anthropic.Anthropic, stream: bool) -> Any:
    kw: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 4096,
        "thinking": THINK,
        "tools": ANTHROPIC_TOOLS,
        "messages": [{"role": "user", "content": QUESTION}],
    }
    if not stream:
        return ant.messages.create(**kw)
    with ant.messages.stream(**kw) as events:
        return events.get_final_message()


def loop(assistant: list[dict[str, Any]], call_id: str) -> list[dict[str, Any]]:
    result = {"type": "tool_result", "tool_use_id": call_id, "content": "sunny"}
    return [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": assistant},
        {"role": "user", "content": [result]},
    ]


@pytest.mark.parametrize("stream", [False, True])
def test_a_thinking_answer_opens_with_a_signed_block_the_api_takes_back(
    ant: anthropic.Anthropic, stream: bool
) -> None:
    message = first_turn(ant, stream)
    kinds = [block.type for block in message.content]
    assert kinds[0] == "thinking" and "tool_use" in kinds
    assert message.content[0].thinking == THINKING and message.content[0].signature
    assert message.stop_reason == "tool_use"
    assistant = [block.model_dump(exclude_none=True) for block in message.content]
    call = next(b for b in message.content if b.type == "tool_use")
    second = ant.messages.create(
        model=MODEL, max_tokens=4096, thinking=THINK, tools=ANTHROPIC_TOOLS,
        messages=loop(assistant, call.id),  # type: ignore[arg-type]
    )  # fmt: skip
    assert second.content[0].type == "thinking"
    assert second.content[-1].text.endswith("the tool said sunny.")  # type: ignore[union-attr]


def test_without_thinking_there_is_no_thinking_block(ant: anthropic.Anthropic) -> None:
    message = ant.messages.create(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    )
    assert [block.type for block in message.content] == ["text"]


def _refusal(ant: anthropic.Anthropic, messages: Any, **kw: Any) -> str:
    with pytest.raises(anthropic.BadRequestError) as error:
        ant.messages.create(
            model=MODEL, max_tokens=kw.pop("max_tokens", 4096), messages=messages, **kw
        )
    assert error.value.status_code == 400
    body: Any = error.value.body
    assert body["error"]["type"] == "invalid_request_error"
    return str(body["error"]["message"])


def test_a_tool_loop_that_lost_its_thinking_block_is_refused(ant: anthropic.Anthropic) -> None:
    message = first_turn(ant, False)
    call = next(b for b in message.content if b.type == "tool_use")
    assistant = [call.model_dump()]
    said = _refusal(ant, loop(assistant, call.id), thinking=THINK, tools=ANTHROPIC_TOOLS)
    assert "must start with a thinking block" in said
    # The same history is fine with thinking off.
    ok = ant.messages.create(
        model=MODEL, max_tokens=100, tools=ANTHROPIC_TOOLS,
        messages=loop(assistant, call.id),  # type: ignore[arg-type]
    )  # fmt: skip
    assert ok.stop_reason == "end_turn"


@pytest.mark.parametrize(
    "change", [{"signature": "c2lnbmF0dXJl"}, {"thinking": "Something else."}, {"signature": "%%"}]
)
def test_an_altered_thinking_block_is_refused(
    ant: anthropic.Anthropic, change: dict[str, str]
) -> None:
    message = first_turn(ant, False)
    call = next(b for b in message.content if b.type == "tool_use")
    assistant = [{**message.content[0].model_dump(), **change}, call.model_dump()]
    said = _refusal(ant, loop(assistant, call.id), thinking=THINK, tools=ANTHROPIC_TOOLS)
    assert said == "messages.1.content.0: Invalid `signature` in `thinking` block"


@pytest.mark.parametrize(
    ("kw", "said"),
    [
        ({"thinking": {"type": "enabled", "budget_tokens": 500}}, "greater than or equal to 1024"),
        ({"thinking": {"type": "enabled", "budget_tokens": 2048}, "max_tokens": 2048},
         "`max_tokens` must be greater than `thinking.budget_tokens`."),
        ({"thinking": THINK, "extra_body": {"temperature": 0.2}, "extra_headers": OLD},
         "`temperature` may only be set to 1"),
        ({"thinking": THINK, "tools": ANTHROPIC_TOOLS, "tool_choice": {"type": "any"}},
         "Thinking may not be enabled when tool_choice forces tool use."),
        ({"thinking": {"type": "sometimes"}}, "Input tag does not match"),
    ],
)  # fmt: skip
def test_the_thinking_parameter_is_checked(
    ant: anthropic.Anthropic, kw: dict[str, Any], said: str
) -> None:
    assert said in _refusal(ant, [{"role": "user", "content": "hi"}], **kw)
