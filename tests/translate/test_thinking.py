"""The tagged `encrypted_content` that carries Anthropic thinking blocks, and the
effort → budget table."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from failsoft.translate import thinking
from failsoft.translate.anthropic import build_request, parse_response
from failsoft.translate.common import TargetOptions, Warnings
from failsoft.translate.ir import Message, Reasoning, Request, Text, ToolCall, ToolResult

SIGNED = {"type": "thinking", "thinking": "Let me see.", "signature": "c2lnbmVk"}
REDACTED = {"type": "redacted_thinking", "data": "EmwKAhgB"}
ANTHROPIC = TargetOptions("anthropic")


def test_blocks_round_trip_exactly() -> None:
    value = thinking.encode([SIGNED, REDACTED])
    assert value.startswith("fsa1.") and "=" not in value
    assert thinking.decode(value) == [SIGNED, REDACTED]


def test_only_the_fields_anthropic_takes_back_are_kept() -> None:
    value = thinking.encode([{**SIGNED, "citations": [], "extra": 1}])
    assert thinking.decode(value) == [SIGNED]


def _tag(payload: Any) -> str:
    return thinking.PREFIX + base64.urlsafe_b64encode(orjson.dumps(payload)).decode()


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "gAAAAABopaque==",  # an OpenAI reasoning item's own value
        "fsa1.",
        "fsa1.%%%not-base64",
        "fsa1." + base64.urlsafe_b64encode(b"not json").decode(),
        _tag({"type": "thinking"}),
        _tag([]),
        _tag([{"type": "text", "text": "hi"}]),
        _tag([{"type": "thinking", "thinking": "x"}]),  # no signature
        _tag([{"type": "redacted_thinking", "data": 7}]),
        _tag([SIGNED] * (thinking.MAX_BLOCKS + 1)),
        "fsa1." + "A" * (thinking.MAX_TAG + 1),
    ],
)
def test_anything_else_is_not_ours(value: str | None) -> None:
    assert thinking.decode(value) is None


def test_an_untagged_or_broken_item_is_dropped_for_anthropic_with_a_warning() -> None:
    call = ToolCall("toolu_1", "f", {})
    turn = [Reasoning("rs_1", [], "opaque"), Reasoning(None, [], "fsa1.%%"), call]
    request = Request(
        [Message("user", [Text("q")]), Message("assistant", turn),
         Message("user", [ToolResult("toolu_1", [Text("ok")])])],
        reasoning_effort="low",
    )  # fmt: skip
    warnings = Warnings()
    out = build_request(request, ANTHROPIC, warnings)
    assert [b["type"] for b in out["messages"][1]["content"]] == ["tool_use"]
    assert "thinking" not in out  # Anthropic would refuse the loop without its block
    assert any("reasoning items from another provider" in w for w in warnings.items)
    assert any("reasoning.effort" in w for w in warnings.items)


def test_restored_blocks_open_the_assistant_turn_and_thinking_is_on() -> None:
    turn = [Reasoning(None, ["Let me see."], thinking.encode([SIGNED])), ToolCall("t1", "f", {})]
    request = Request(
        [Message("user", [Text("q")]), Message("assistant", turn),
         Message("user", [ToolResult("t1", [Text("ok")])])],
        reasoning_effort="high", max_tokens=10_000, temperature=0.3,
    )  # fmt: skip
    warnings = Warnings()
    out = build_request(request, ANTHROPIC, warnings)
    assert out["messages"][1]["content"][0] == SIGNED
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 9999}
    assert out["max_tokens"] == 10_000
    assert "temperature" not in out
    assert any("temperature" in w for w in warnings.items)


def test_an_answer_s_thinking_becomes_tagged_reasoning() -> None:
    answer = parse_response(
        {"id": "msg_1", "model": "m", "stop_reason": "end_turn",
         "content": [SIGNED, REDACTED, {"type": "text", "text": "Hi"}]}
    )  # fmt: skip
    first, second, text = answer.content
    assert isinstance(first, Reasoning) and isinstance(second, Reasoning)
    assert first.summary == ["Let me see."] and second.summary == []
    assert thinking.decode(first.encrypted_content) == [SIGNED]
    assert thinking.decode(second.encrypted_content) == [REDACTED]
    assert text == Text("Hi")


@pytest.mark.parametrize(
    ("effort", "max_tokens", "expected"),
    [
        ("low", None, (2048, 2048 + 4096)),
        ("high", 8000, (7999, 8000)),
        ("medium", 1024, None),  # no room: Anthropic wants 1024 <= budget < max_tokens
        ("none", None, None),
        ("turbo", None, None),
        (None, None, None),
    ],
)
def test_effort_budgets(effort: str | None, max_tokens: int | None, expected: Any) -> None:
    assert thinking.budget(effort, max_tokens, 4096) == expected


@pytest.mark.parametrize(
    ("dialect", "model", "payload", "expected"),
    [
        ("openai", "gpt-4o", {"reasoning_effort": "low"}, True),
        ("openai", "openrouter/gpt-4.1-mini", {"reasoning_effort": "low"}, True),
        ("openai", "gpt-5-chat-latest", {"reasoning_effort": "low"}, True),
        ("openai", "gpt-5", {"reasoning_effort": "low"}, False),
        ("openai", "o4-mini", {"reasoning_effort": "low"}, False),
        ("openai", "gpt-4o", {}, False),
        ("gemini", "gemini-2.0-flash", {"generationConfig": {"thinkingConfig": {}}}, True),
        ("gemini", "gemini-2.5-flash", {"generationConfig": {"thinkingConfig": {}}}, False),
        ("anthropic", "gpt-4o", {"reasoning_effort": "low"}, False),
    ],
)
def test_models_that_refuse_the_reasoning_knob(
    dialect: str, model: str, payload: dict[str, Any], expected: bool
) -> None:
    assert thinking.unfit(dialect, model, payload) is expected


def test_the_knob_comes_off_a_copy() -> None:
    payload = {"messages": [], "reasoning_effort": "low"}
    assert thinking.without_knob(payload) == {"messages": []}
    config = {"generationConfig": {"maxOutputTokens": 9, "thinkingConfig": {"thinkingBudget": 1}}}
    assert thinking.without_knob(config) == {"generationConfig": {"maxOutputTokens": 9}}
    assert "thinkingConfig" in config["generationConfig"] and "reasoning_effort" in payload
