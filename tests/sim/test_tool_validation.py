"""The 400s a broken translation meets: the checks the real APIs do on roles and tool turns."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from .helpers import GPT, MODEL

CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
USE = {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}


def result(call_id: str = "toolu_1") -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": call_id, "content": "ok"}


@pytest.mark.parametrize(
    ("messages", "message", "param", "code"),
    [
        ([{"role": "user", "content": "q"}, {"role": "tool", "tool_call_id": "call_1", "content": "x"}],
         "Invalid parameter: messages with role 'tool' must be a response to a preceeding message "
         "with 'tool_calls'.", "messages.[1].role", None),
        ([{"role": "user", "content": "q"},
          {"role": "assistant", "tool_calls": [CALL]},
          {"role": "tool", "tool_call_id": "call_2", "content": "x"}],
         "Invalid parameter: messages with role 'tool' must be a response to a preceeding message "
         "with 'tool_calls'.", "messages.[2].role", None),
        ([{"role": "user", "content": "q"},
          {"role": "assistant", "tool_calls": [{**CALL, "function": {"name": "f", "arguments": {}}}]},
          {"role": "tool", "tool_call_id": "call_1", "content": "x"}],
         "Invalid type for 'messages[1].tool_calls[0].function.arguments': expected a string, but "
         "got an object instead.", "messages[1].tool_calls[0].function.arguments", "invalid_type"),
        ([{"role": "model", "content": "q"}],
         "Invalid value: 'model'. Supported values are: 'system', 'assistant', 'user', 'tool', and "
         "'developer'.", "messages[0].role", "invalid_value"),
        ([{"role": "user", "content": "q"},
          {"role": "assistant", "tool_calls": [CALL, {**CALL, "id": "call_2"}]},
          {"role": "tool", "tool_call_id": "call_1", "content": "x"},
          {"role": "user", "content": "and?"}],
         "An assistant message with 'tool_calls' must be followed by tool messages responding to "
         "each 'tool_call_id'. The following tool_call_ids did not have response messages: call_2",
         "messages.[1].role", None),
    ],
)  # fmt: skip
def test_openai_rejections(
    oai: openai.OpenAI, messages: list[Any], message: str, param: str, code: str | None
) -> None:
    with pytest.raises(openai.BadRequestError) as error:
        oai.chat.completions.create(model=GPT, messages=messages)
    assert error.value.body == {
        "message": message,
        "type": "invalid_request_error",
        "param": param,
        "code": code,
    }


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        ([{"role": "system", "content": "Be terse."}, {"role": "user", "content": "q"}],
         'messages: Unexpected role "system". The Messages API accepts a top-level `system` '
         'parameter, not "system" as an input message role.'),
        ([{"role": "tool", "content": "x"}], "messages.0.role: Input should be 'user' or 'assistant'"),
        ([{"role": "user", "content": "q"},
          {"role": "assistant", "content": [USE]},
          {"role": "user", "content": [result("toolu_2")]}],
         "messages.2.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_2. "
         "Each `tool_result` block must have a corresponding `tool_use` block in the previous "
         "message."),
        ([{"role": "user", "content": [result()]}],
         "messages.0.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_1. "
         "Each `tool_result` block must have a corresponding `tool_use` block in the previous "
         "message."),
        ([{"role": "user", "content": "q"},
          {"role": "assistant", "content": [{**USE, "id": "call.1"}]},
          {"role": "user", "content": [result("call.1")]}],
         "messages.1.content.0.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'"),
        ([{"role": "user", "content": "q"},
          {"role": "assistant", "content": [{**USE, "input": '{"a": 1}'}]},
          {"role": "user", "content": [result()]}],
         "messages.1.content.0.tool_use.input: Input should be a valid dictionary"),
        ([{"role": "user", "content": "q"},
          {"role": "assistant", "content": [USE, {**USE, "id": "toolu_2"}]},
          {"role": "user", "content": [result()]}],
         "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: "
         "toolu_2. Each `tool_use` block must have a corresponding `tool_result` block in the next "
         "message."),
    ],
)  # fmt: skip
def test_anthropic_rejections(ant: anthropic.Anthropic, messages: list[Any], message: str) -> None:
    with pytest.raises(anthropic.BadRequestError) as error:
        ant.messages.create(model=MODEL, max_tokens=10, messages=messages)
    assert error.value.body["error"] == {  # type: ignore[index]
        "type": "invalid_request_error",
        "message": message,
        "details": None,
    }


def test_well_formed_tool_histories_pass(oai: openai.OpenAI, ant: anthropic.Anthropic) -> None:
    answer = oai.chat.completions.create(
        model=GPT,
        messages=[
            {"role": "developer", "content": "Be terse."},
            {"role": "user", "content": "q"},
            {"role": "assistant", "tool_calls": [CALL, {**CALL, "id": "call_2"}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "a"},
            {"role": "tool", "tool_call_id": "call_2", "content": "b"},
        ],
    )
    assert answer.choices[0].message.content == f"Simulated answer from {GPT}: the tool said a; b."
    message = ant.messages.create(
        model=MODEL,
        max_tokens=50,
        messages=[
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [{"type": "text", "text": "Let me see."}, USE]},
            {"role": "user", "content": [result(), {"type": "text", "text": "thanks"}]},
        ],
    )
    assert message.content[0].text == f"Simulated answer from {MODEL}: the tool said ok."  # type: ignore[union-attr]


def test_reasoning_effort_is_refused_for_a_chat_model(oai: openai.OpenAI) -> None:
    """As the API does for gpt-4o; reasoning models (o4-mini) take it."""
    with pytest.raises(openai.BadRequestError) as info:
        oai.chat.completions.create(
            model=GPT, messages=[{"role": "user", "content": "hi"}], reasoning_effort="low"
        )
    body: Any = info.value.body
    assert (body["code"], body["param"]) == ("unsupported_parameter", "reasoning_effort")
    answer = oai.chat.completions.create(
        model="o4-mini", messages=[{"role": "user", "content": "hi"}], reasoning_effort="low"
    )
    assert answer.choices[0].message.content
