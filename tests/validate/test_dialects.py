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
        (  # found by the fuzz suite: the translator's `.get` on a string
            {"messages": [{"role": "assistant", "tool_calls": [{"id": "1", "function": "f"}]}]},
            "messages[0].tool_calls[0].function: expected an object, got a string",
            "messages[0].tool_calls[0].function",
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
        (  # found by the fuzz suite: a tool result's own blocks, unchecked, crashed the translator
            {
                "max_tokens": 9,
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "tool_result", "tool_use_id": "t", "content": [{"type": {}}]}
                        ],
                    }
                ],
            },
            "messages[0].content[0].content[0]: expected a content block with a 'type'",
        ),
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
        # Found by the fuzz suite (tests/fuzz): unhashable values the translator looked up.
        ({"input": "hi", "tools": [{"type": {}}]}, "tools[0].type: expected a string"),
        ({"input": "hi", "tools": [{"type": "function", "name": []}]}, "tools[0].name: expected"),
        ({"input": "hi", "tool_choice": {"type": {}}}, "tool_choice.type: expected a string"),
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
        # Found by the fuzz suite (tests/fuzz): shapes the translators joined or iterated.
        ({"contents": [{"parts": [{"text": {}}]}]}, "contents[0].parts[0].text: expected a string"),
        (
            {"contents": [{"parts": [{"functionCall": {"name": "f"}, "thoughtSignature": {}}]}]},
            "contents[0].parts[0].thoughtSignature: expected a string",
        ),
        (
            {"contents": [], "systemInstruction": {"parts": [{"text": 1}]}},
            "systemInstruction.parts[0].text: expected a string",
        ),
        ({"contents": [], "system_instruction": {"parts": "x"}}, "system_instruction.parts"),
        (
            {"contents": [], "toolConfig": {"functionCallingConfig": "ANY"}},
            "toolConfig.functionCallingConfig: expected an object",
        ),
        (
            {"contents": [], "tool_config": {"functionCallingConfig": {"mode": 1}}},
            "tool_config.functionCallingConfig.mode: expected a string",
        ),
        (
            {
                "contents": [],
                "toolConfig": {"functionCallingConfig": {"allowedFunctionNames": [1]}},
            },
            "allowedFunctionNames: expected a list of strings",
        ),
        (
            {"contents": [], "generationConfig": {"stopSequences": 5}},
            "generationConfig.stopSequences: expected a list of strings",
        ),
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
