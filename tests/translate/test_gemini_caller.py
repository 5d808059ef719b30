"""A Gemini caller's request in the internal form: what is carried, dropped, refused."""

from __future__ import annotations

from typing import Any

import pytest

from failsoft.errors import Untranslatable
from failsoft.translate.gemini_caller import build_response, json_schema, parse_request
from failsoft.translate.ir import Response, Text, ToolCall, ToolResult, Usage

USER = {"role": "user", "parts": [{"text": "hi"}]}


def test_openapi_schemas_become_json_schema() -> None:
    schema = {
        "type": "OBJECT",
        "properties": {
            "name": {"type": "STRING", "nullable": True},
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}},
            "either": {"any_of": [{"type": "INTEGER"}, {"type": "BOOLEAN"}]},
        },
        "propertyOrdering": ["name", "tags"],
        "required": ["name"],
    }
    assert json_schema(schema) == {
        "type": "object",
        "properties": {
            "name": {"type": ["string", "null"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "either": {"anyOf": [{"type": "integer"}, {"type": "boolean"}]},
        },
        "required": ["name"],
    }


def test_snake_case_config_and_json_mode() -> None:
    request = parse_request(
        {
            "contents": [USER],
            "system_instruction": {"role": "system", "parts": [{"text": "Be brief."}]},
            "generation_config": {
                "max_output_tokens": 7,
                "top_p": 0.5,
                "stop_sequences": ["END"],
                "response_mime_type": "application/json",
                "response_schema": {"type": "OBJECT", "properties": {"a": {"type": "NUMBER"}}},
                "thinking_config": {"thinking_budget": 20000, "include_thoughts": True},
            },
        }
    )
    assert request.system == ["Be brief."]
    assert (request.max_tokens, request.top_p, request.stop) == (7, 0.5, ["END"])
    assert request.response_format is not None
    assert request.response_format.kind == "json_schema"
    assert request.response_format.schema == {
        "type": "object",
        "properties": {"a": {"type": "number"}},
    }
    assert request.reasoning_effort == "high"


def test_calls_and_results_pair_up_and_thoughts_are_dropped() -> None:
    request = parse_request(
        {
            "contents": [
                USER,
                {
                    "role": "model",
                    "parts": [
                        {"text": "let me think", "thought": True},
                        {
                            "functionCall": {"id": "call_1", "name": "f", "args": {"x": 1}},
                            "thoughtSignature": "skip_thought_signature_validator",
                        },
                    ],
                },
                {
                    "role": "function",
                    "parts": [{"function_response": {"name": "f", "response": {"out": "ok"}}}],
                },
            ],
            "tools": [{"function_declarations": [{"name": "f", "parameters": {"type": "OBJECT"}}]}],
            "tool_config": {"function_calling_config": {"mode": "ANY"}},
            "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "OFF"}],
        }
    )
    call, result = request.messages[1].content[0], request.messages[2].content[0]
    assert isinstance(call, ToolCall) and isinstance(result, ToolResult)
    assert (call.id, call.name, call.arguments) == ("call_1", "f", {"x": 1})
    assert result.call_id == "call_1"
    assert request.messages[2].role == "user"
    assert request.tools[0].parameters == {"type": "object"}
    assert request.tool_choice is not None and request.tool_choice.mode == "required"
    assert any("thought parts" in w for w in request.dropped)
    assert any("safetySettings" in w for w in request.dropped)


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"cachedContent": "cachedContents/1"}, "cachedContent"),
        ({"tools": [{"codeExecution": {}}]}, "codeExecution"),
        ({"generationConfig": {"candidateCount": 2}}, "candidateCount"),
        ({"generationConfig": {"responseModalities": ["IMAGE"]}}, "responseModalities"),
        (
            {"contents": [{"parts": [{"inlineData": {"mimeType": "audio/wav", "data": "AA=="}}]}]},
            "audio/wav",
        ),
    ],
)
def test_what_only_gemini_can_do_is_untranslatable(extra: dict[str, Any], words: str) -> None:
    with pytest.raises(Untranslatable, match=words):
        parse_request({"contents": [USER], **extra})


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ({}, "contents"),
        ({"contents": []}, "contents"),
        ({"contents": [{"role": "system", "parts": []}]}, "role"),
        ({"contents": [1]}, "object"),
    ],
)
def test_malformed_requests_raise_value_error(payload: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_request(payload)


def test_answers_keep_call_ids_and_sign_the_first_call() -> None:
    answer = build_response(
        Response(
            "msg_1",
            "claude-opus-4-7",
            [Text("two calls"), ToolCall("toolu_1", "f", {"a": 1}), ToolCall("toolu_2", "f", {})],
            "tool_use",
            usage=Usage(input=10, output=7, reasoning=2),
        )
    )
    parts = answer["candidates"][0]["content"]["parts"]
    assert parts[0] == {"text": "two calls"}
    assert parts[1] == {
        "functionCall": {"name": "f", "id": "toolu_1", "args": {"a": 1}},
        "thoughtSignature": "skip_thought_signature_validator",
    }
    assert parts[2] == {"functionCall": {"name": "f", "id": "toolu_2", "args": {}}}
    assert answer["candidates"][0]["finishReason"] == "STOP"
    assert answer["usageMetadata"] == {
        "promptTokenCount": 10,
        "candidatesTokenCount": 5,
        "totalTokenCount": 17,
        "thoughtsTokenCount": 2,
    }
    assert (answer["modelVersion"], answer["responseId"]) == ("claude-opus-4-7", "msg_1")


def test_results_find_their_call_by_id_out_of_order() -> None:
    call = {"role": "model", "parts": [
        {"functionCall": {"id": "a", "name": "f", "args": {"n": 1}}},
        {"functionCall": {"id": "b", "name": "f", "args": {"n": 2}}},
    ]}  # fmt: skip
    results = {"role": "user", "parts": [
        {"functionResponse": {"id": "b", "name": "f", "response": {"r": "two"}}},
        {"functionResponse": {"id": "a", "name": "f", "response": {"r": "one"}}},
    ]}  # fmt: skip
    request = parse_request({"contents": [USER, call, results]})
    pairs = [(r.call_id, r.content) for r in request.messages[2].content]  # type: ignore[union-attr]
    assert pairs == [("b", [Text("two")]), ("a", [Text("one")])]


def test_a_null_text_part_is_empty_text_for_every_target() -> None:
    """proto3 JSON reads a null field as its default: `{"text": null}` is "" (atheris found
    a model turn with one made the OpenAI translator crash)."""
    from tests.fuzz import pipeline

    body = b'{"contents": [{"role": "model", "parts": [{"text": null}]}]}'
    assert parse_request({"contents": [{"role": "model", "parts": [{"text": None}]}]})
    pipeline.one("gemini", body)  # every target dialect builds its request


def test_a_signature_that_is_not_a_string_is_no_signature() -> None:
    """An upstream's odd `thoughtSignature` leaves the call id unsigned rather than
    crashing the translation (a caller's is refused at the door: tests/validate)."""
    from failsoft.translate.gemini import call_id

    assert call_id("call_1", "resp", 0, {"x": 1}) == "call_1"  # type: ignore[arg-type]
