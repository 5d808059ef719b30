"""Each dialect's door check: wrong types of the fields failsoft reads are a 400 naming the
field and the expectation; unknown fields and part types pass (forward compatibility)."""

from __future__ import annotations

from typing import Any

import pytest

from failsoft.errors import InvalidRequest
from failsoft.validate import anthropic, gemini, openai, responses

HI = [{"role": "user", "content": "hi"}]


def refused(check: Any, payload: dict[str, Any]) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        check(payload)
    message = caught.value.message
    assert "attribute" not in message and "object has no" not in message
    return caught.value


@pytest.mark.parametrize(
    ("payload", "message", "param"),
    [
        (
            {"messages": [HI[0], HI[0], {"role": "user", "content": {"a": 1}}]},
            "messages[2].content: expected a string or a list of content parts, got an object",
            "messages[2].content",
        ),
        ({"messages": HI, "tools": "x"}, "tools: expected a list of tools, got a string", "tools"),
        ({"messages": HI, "stop": ["a", 3]}, "stop[1]: expected a string, got a number", "stop[1]"),
        ({"messages": HI, "n": 1.0}, "n: expected an integer, got a number", "n"),
        (
            {"messages": [{"role": "assistant", "content": None, "tool_calls": {}}]},
            "messages[0].tool_calls: expected a list of tool calls, got an object",
            "messages[0].tool_calls",
        ),
        (
            {"messages": HI, "tools": [{"type": "function", "function": "f"}]},
            "tools[0].function: expected an object, got a string",
            "tools[0].function",
        ),
    ],
)
def test_openai(payload: dict[str, Any], message: str, param: str) -> None:
    error = refused(openai.check, payload)
    assert (error.message, error.param) == (message, param)


def test_openai_passes_what_it_does_not_know() -> None:
    openai.check(
        {
            "messages": [
                {"role": "critic", "content": [{"type": "hologram", "x": {"y": [1]}}]},
                {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]},
            ],
            "tools": [{"type": "web_search"}],
            "brand_new": {"anything": True},
            "max_tokens": None,
        }
    )


@pytest.mark.parametrize(
    ("payload", "said"),
    [
        ({"messages": HI}, "max_tokens: required"),
        ({"messages": HI, "max_tokens": "9"}, "max_tokens: expected an integer, got a string"),
        ({"messages": HI, "max_tokens": 9, "system": 5}, "system: expected a string or a list"),
        ({"messages": HI, "max_tokens": 9, "system": [{"text": "x"}]}, "system[0]: expected"),
        ({"messages": [{"role": "user"}], "max_tokens": 9}, "messages[0].content: expected"),
        ({"messages": HI, "max_tokens": 9, "stop_sequences": [1]}, "stop_sequences[0]"),
        ({"messages": HI, "max_tokens": 9, "tools": ["t"]}, "tools[0]: expected an object"),
    ],
)
def test_anthropic(payload: dict[str, Any], said: str) -> None:
    assert said in refused(anthropic.check, payload).message


def test_anthropic_passes_unknown_blocks() -> None:
    content = [{"type": "text", "text": "hi"}, {"type": "future_block", "z": 1}]
    system = [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}]
    anthropic.check({"messages": [{"role": "user", "content": content}], "max_tokens": 1,
                     "system": system, "new_field": 1})  # fmt: skip


@pytest.mark.parametrize(
    ("payload", "said"),
    [
        ({"input": [1]}, "input[0]: expected an input item (an object), got a number"),
        ({"input": [{"role": "user", "content": {}}]}, "input[0].content: expected"),
        ({"input": [{"role": "user", "content": ["x"]}]}, "input[0].content[0]"),
        ({"input": "hi", "instructions": []}, "instructions: expected a string, got an array"),
        ({"input": "hi", "tools": [3]}, "tools[0]: expected a tool object"),
    ],
)
def test_responses(payload: dict[str, Any], said: str) -> None:
    assert said in refused(responses.check, payload).message


@pytest.mark.parametrize(
    ("payload", "said"),
    [
        ({}, "contents: required"),
        ({"contents": {}}, "contents: expected a list of Content objects, got an object"),
        ({"contents": ["hi"]}, "contents[0]: expected a Content object, got a string"),
        ({"contents": [{"parts": {}}]}, "contents[0].parts: expected a list of parts"),
        ({"contents": [{"parts": ["x"]}]}, "contents[0].parts[0]: expected a part"),
        ({"contents": [{"role": 1, "parts": []}]}, "contents[0].role: expected a string"),
        ({"contents": [], "generation_config": []}, "generation_config: expected an object"),
        ({"contents": [], "tools": [[]]}, "tools[0]: expected a Tool object"),
    ],
)
def test_gemini(payload: dict[str, Any], said: str) -> None:
    assert said in refused(gemini.check, payload).message


def test_gemini_passes_unknown_parts() -> None:
    gemini.check({"contents": [{"role": "user", "parts": [{"hologram": {}}]}], "newField": 1,
                  "systemInstruction": "be brief"})  # fmt: skip


@pytest.mark.parametrize("previous", ["resp_1\r\nx", "r" * 300])
def test_responses_previous_response_id_is_bounded(previous: str) -> None:
    error = refused(responses.check, {"input": "hi", "previous_response_id": previous})
    assert error.param == "previous_response_id"
