"""The Responses API ⇄ the internal form: requests and whole answers.

Produced JSON is checked against the openai SDK's own types (its pydantic models for
answers, its TypedDicts' shapes via the SDK's request-side models where they exist)."""

from __future__ import annotations

from typing import Any

import pytest
from openai.types.responses import Response as SDKResponse
from openai.types.responses import ResponseInputItemParam
from pydantic import TypeAdapter

from failsoft.errors import Untranslatable
from failsoft.translate import TargetOptions, anthropic, openai, openai_answer
from failsoft.translate.common import Warnings
from failsoft.translate.ir import (
    Image,
    Message,
    Reasoning,
    Response,
    Text,
    ToolCall,
    ToolChoice,
    ToolResult,
    Usage,
)
from failsoft.translate.responses import FREEFORM_PARAMETERS, parse_request
from failsoft.translate.responses_answer import build_response, parse_response
from failsoft.translate.responses_build import build_request

OPTIONS = TargetOptions("responses")
ITEMS: Any = TypeAdapter(list[ResponseInputItemParam])

CODEX_LIKE: dict[str, Any] = {
    "model": "gpt-5",
    "instructions": "You are a coding agent.",
    "input": [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Be terse."}]},
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "What is in this picture?"},
                {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "auto"},
            ],
        },
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "look"}], "encrypted_content": "gAAAAopaque=="},
        {"type": "function_call", "call_id": "call_1", "name": "shell", "arguments": '{"cmd": ["ls"]}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "a.txt"},
        {"type": "custom_tool_call", "call_id": "call_2", "name": "apply_patch", "input": "*** Begin Patch"},
        {"type": "custom_tool_call_output", "call_id": "call_2", "output": "done"},
        {"role": "assistant", "content": [{"type": "output_text", "text": "Patched.", "annotations": []}]},
        {"role": "user", "content": "thanks"},
    ],
    "tools": [
        {"type": "function", "name": "shell", "description": "Run", "parameters": {"type": "object", "properties": {"cmd": {"type": "array"}}}, "strict": False},
        {"type": "custom", "name": "apply_patch", "format": {"type": "grammar", "syntax": "lark", "definition": "start: x"}},
        {"type": "web_search"},
    ],
    "tool_choice": "auto",
    "parallel_tool_calls": False,
    "max_output_tokens": 500,
    "reasoning": {"effort": "high", "summary": "auto"},
    "text": {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": True}},
    "metadata": {"k": "v"},
    "store": False,
    "include": ["reasoning.encrypted_content"],
    "stream": True,
}  # fmt: skip


def test_parse_items_tools_and_settings() -> None:
    request = parse_request(CODEX_LIKE)
    assert request.system == ["You are a coding agent.", "Be terse."]
    assert [m.role for m in request.messages] == [
        "user", "assistant", "user", "assistant", "user", "assistant", "user",
    ]  # fmt: skip
    user, assistant, results, custom, custom_result, said, thanks = request.messages
    assert user.content == [Text("What is in this picture?"), Image("image/png", "iVBORw0KGgo=")]
    assert assistant.content == [
        Reasoning("rs_1", ["look"], "gAAAAopaque=="),
        ToolCall("call_1", "shell", {"cmd": ["ls"]}),
    ]
    assert results.content == [ToolResult("call_1", [Text("a.txt")])]
    assert custom.content == [ToolCall("call_2", "apply_patch", {"input": "*** Begin Patch"})]
    assert custom_result.content == [ToolResult("call_2", [Text("done")])]
    assert said.content == [Text("Patched.")]
    assert thanks.content == [Text("thanks")]
    shell, patch = request.tools
    assert (shell.name, shell.freeform) == ("shell", False)
    assert patch.freeform and patch.parameters == FREEFORM_PARAMETERS
    assert request.tool_choice == ToolChoice("auto")
    assert request.parallel_tool_calls is False
    assert request.max_tokens == 500
    assert (request.reasoning_effort, request.reasoning_summary) == ("high", "auto")
    assert request.response_format is not None
    assert (request.response_format.kind, request.response_format.name) == ("json_schema", "out")
    assert request.metadata == {"k": "v"}
    assert any("apply_patch" in w and "grammar" in w for w in request.dropped)
    assert any("web_search" in w for w in request.dropped)


def test_message_order_keeps_every_item() -> None:
    request = parse_request(CODEX_LIKE)
    flat = [(m.role, b) for m in request.messages for b in m.content]
    kinds = [type(b).__name__ for _, b in flat]
    assert kinds == [
        "Text", "Image", "Reasoning", "ToolCall", "ToolResult", "ToolCall", "ToolResult",
        "Text", "Text",
    ]  # fmt: skip


def test_string_input() -> None:
    request = parse_request({"model": "m", "input": "hi"})
    assert request.messages == [Message("user", [Text("hi")])]
    assert request.dropped == []


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"input": 3}, "'input' must be a string or an array"),
        ({"input": ["x"]}, "input[0] must be an object"),
        ({"input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
        ({"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "call_id"),
        ({"input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": {}}]}, "JSON string"),
        ({"input": [{"type": "reasoning", "summary": [], "encrypted_content": 5}]}, "encrypted_content"),
        ({"input": [{"type": "item_reference", "id": "x"}]}, "stored state"),
        ({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]}, "input_file"),
        ({"input": "hi", "previous_response_id": "resp_1"}, "previous_response_id"),
        ({"input": "hi", "tools": [{"type": "function"}]}, "tools[0].name"),
        ({"input": "hi", "tool_choice": {"type": "mcp", "server_label": "x"}}, "tool_choice"),
        ({"input": "hi", "max_output_tokens": "many"}, "max_output_tokens"),
        ({"input": "hi", "text": {"format": {"type": "json_schema", "name": "x"}}}, "schema"),
    ],
)  # fmt: skip
def test_malformed_requests_are_untranslatable(payload: dict[str, Any], message: str) -> None:
    with pytest.raises(Untranslatable, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_request({"model": "m", **payload})


def test_build_request_round_trips_and_matches_sdk_items() -> None:
    request = parse_request(CODEX_LIKE)
    warnings = Warnings()
    out = build_request(request, OPTIONS, warnings)
    ITEMS.validate_python(out["input"])
    assert out["store"] is False
    assert out["instructions"] == "You are a coding agent.\n\nBe terse."
    assert out["tools"][1] == {"type": "custom", "name": "apply_patch"}
    assert out["reasoning"] == {"effort": "high", "summary": "auto"}
    assert out["text"]["format"]["schema"] == {"type": "object"}
    assert [i["type"] for i in out["input"]][-4:-2] == [
        "custom_tool_call",
        "custom_tool_call_output",
    ]
    reasoning = next(i for i in out["input"] if i["type"] == "reasoning")
    assert reasoning["encrypted_content"] == "gAAAAopaque=="
    again = parse_request({"model": "m", **out})
    assert again.messages == request.messages
    assert again.tools == request.tools
    assert (again.max_tokens, again.metadata, again.response_format) == (
        request.max_tokens,
        request.metadata,
        request.response_format,
    )


def test_other_dialects_carry_custom_tools_and_drop_reasoning() -> None:
    request = parse_request(CODEX_LIKE)
    warnings = Warnings()
    body = anthropic.build_request(request, TargetOptions("anthropic"), warnings)
    assert {"name": "apply_patch", "input_schema": FREEFORM_PARAMETERS}.items() <= body["tools"][
        1
    ].items()
    assert all(
        block["type"] != "reasoning" for message in body["messages"] for block in message["content"]
    )
    chat = openai.build_request(request, TargetOptions("openai"), Warnings())
    assert chat["tools"][1]["function"]["parameters"] == FREEFORM_PARAMETERS


def test_from_chat_request_to_responses_target() -> None:
    request = openai.parse_request(
        {
            "model": "m",
            "messages": [
                {"role": "system", "content": "sys"},
                {"role": "user", "content": "hi"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "42"},
            ],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "stop": ["x"],
            "seed": 3,
        }
    )
    warnings = Warnings()
    out = build_request(request, OPTIONS, warnings)
    ITEMS.validate_python(out["input"])
    assert [i["type"] for i in out["input"]] == ["message", "function_call", "function_call_output"]
    assert out["tool_choice"] == {"type": "function", "name": "f"}
    assert any("stop" in w for w in warnings.items)
    assert any("seed" in w for w in warnings.items)


def test_tool_choice_names_a_custom_or_function_tool() -> None:
    for kind in ("custom", "function"):
        payload = {**CODEX_LIKE, "tool_choice": {"type": kind, "name": "apply_patch"}}
        request = parse_request(payload)
        assert request.tool_choice == ToolChoice("tool", "apply_patch")
        out = build_request(request, OPTIONS, Warnings())
        assert out["tool_choice"] == {"type": "custom", "name": "apply_patch"}


def _answer(**extra: Any) -> Response:
    base: dict[str, Any] = {
        "id": "abc",
        "model": "gpt-5",
        "content": [
            Reasoning("rs_9", ["thought"], "enc"),
            Text("Hello "),
            Text("world"),
            ToolCall("call_7", "shell", {"cmd": "ls"}),
            ToolCall("call_8", "apply_patch", {"input": "*** Begin Patch"}),
        ],
        "stop": "tool_use",
        "usage": Usage(input=10, output=5, cache_read=2, cache_write=1, reasoning=3),
        "created": 1700000000,
    }
    base.update(extra)
    return Response(**base)


def test_build_response_validates_against_sdk() -> None:
    body = build_response(_answer(), frozenset({"apply_patch"}))
    sdk = SDKResponse.model_validate(body)
    assert sdk.id == "resp_abc" and sdk.status == "completed"
    assert sdk.output_text == "Hello world"
    assert [o.type for o in sdk.output] == [
        "reasoning",
        "message",
        "function_call",
        "custom_tool_call",
    ]
    assert sdk.usage is not None
    assert (sdk.usage.input_tokens, sdk.usage.output_tokens, sdk.usage.total_tokens) == (10, 5, 15)
    assert sdk.usage.input_tokens_details.cached_tokens == 2
    assert sdk.usage.output_tokens_details.reasoning_tokens == 3
    assert body["output"][3]["input"] == "*** Begin Patch"


def test_max_tokens_is_incomplete() -> None:
    body = build_response(_answer(content=[Text("cut")], stop="max_tokens"))
    sdk = SDKResponse.model_validate(body)
    assert sdk.status == "incomplete"
    assert sdk.incomplete_details is not None
    assert sdk.incomplete_details.reason == "max_output_tokens"
    assert parse_response(body).stop == "max_tokens"


def test_response_round_trip() -> None:
    answer = _answer()
    back = parse_response(build_response(answer, frozenset({"apply_patch"})))
    assert back.content == [
        Reasoning("rs_9", ["thought"], "enc"),
        Text("Hello world"),
        ToolCall("call_7", "shell", {"cmd": "ls"}),
        ToolCall("call_8", "apply_patch", {"input": "*** Begin Patch"}),
    ]
    assert back.stop == "tool_use"
    assert back.usage == answer.usage
    assert back.created == 1700000000
    assert back.id == "resp_abc"


def test_responses_answer_to_other_callers() -> None:
    body = build_response(_answer(content=[Text("hi")], stop="end_turn"))
    answer = parse_response(body)
    chat = openai_answer.build_response(answer)
    assert chat["choices"][0]["message"]["content"] == "hi"
    assert anthropic.build_response(answer)["content"] == [{"type": "text", "text": "hi"}]
