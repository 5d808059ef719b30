"""What coding agents send and need from the simulator: Claude Code's adaptive thinking and
mid-conversation system messages are accepted (as the real API accepts them), and a test can
choose which declared tool is called, with which arguments (`tool_name`, `tool_arguments`)."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from failsoft.sim import SimServer
from failsoft.sim.settings import parse_overrides
from failsoft.sim.spec import SpecError
from tests.translate.sdk import ANTHROPIC_TOOLS, OPENAI_TOOLS

from .helpers import GPT, MODEL

OPUS48 = "claude-opus-4-8"

BASH = {
    "name": "Bash",
    "description": "Run a command",
    "input_schema": {
        "type": "object",
        "properties": {"command": {"type": "string"}, "timeout": {"type": "number"}},
        "required": ["command"],
    },
}


@pytest.mark.parametrize("display", [None, "omitted", "summarized"])
def test_adaptive_thinking_is_accepted(ant: anthropic.Anthropic, display: str | None) -> None:
    thinking: dict[str, Any] = {"type": "adaptive"}
    if display is not None:
        thinking["display"] = display
    message = ant.messages.create(
        model=MODEL, max_tokens=4096, thinking=thinking,  # type: ignore[arg-type]
        messages=[{"role": "user", "content": "Say hello"}],
    )  # fmt: skip
    assert message.content[0].type == "text"


def test_adaptive_thinking_keeps_the_thinking_rules(ant: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        ant.messages.create(
            model=MODEL, max_tokens=1024, thinking={"type": "adaptive"},  # type: ignore[arg-type]
            messages=[{"role": "user", "content": "Say hello"}],
            extra_body={"temperature": 0.5}, extra_headers={"anthropic-version": "2023-06-01"},
        )  # fmt: skip
    assert "temperature" in caught.value.message
    with pytest.raises(anthropic.BadRequestError) as caught:
        ant.messages.create(
            model=MODEL, max_tokens=1024,
            thinking={"type": "adaptive", "display": "full"},  # type: ignore[arg-type]
            messages=[{"role": "user", "content": "Say hello"}],
        )  # fmt: skip
    assert "display" in caught.value.message


def test_a_mid_conversation_system_message_is_an_instruction(ant: anthropic.Anthropic) -> None:
    """Claude Code's first request ends [user, system]: the user turn is still the one the
    model answers (here with a tool call), and the system text counts as input. (Only Opus
    4.8 takes the role: tests/sim/test_anthropic_system.py.)"""
    messages: Any = [
        {"role": "user", "content": "What's the weather in Paris?"},
        {"role": "system", "content": [{"type": "text", "text": "# Environment\nlinux"}]},
    ]
    message = ant.messages.create(
        model=OPUS48, max_tokens=1024, tools=ANTHROPIC_TOOLS, messages=messages
    )
    assert message.stop_reason == "tool_use"
    plain = ant.messages.create(
        model=OPUS48, max_tokens=1024, tools=ANTHROPIC_TOOLS, messages=messages[:1]
    )
    assert message.usage.input_tokens > plain.usage.input_tokens


def test_a_system_message_holds_text_only(ant: anthropic.Anthropic) -> None:
    messages: Any = [
        {"role": "user", "content": "q"},
        {"role": "system", "content": [{"type": "image", "source": {"type": "url", "url": "x"}}]},
    ]
    with pytest.raises(anthropic.BadRequestError) as caught:
        ant.messages.create(model=OPUS48, max_tokens=1024, messages=messages)
    assert "messages.1.content.0" in caught.value.message


def test_tool_name_and_arguments_choose_the_call(sim: SimServer, ant: anthropic.Anthropic) -> None:
    sim.set_model(MODEL, tool_name="Bash", tool_arguments={"command": "echo hi"})
    message = ant.messages.create(
        model=MODEL, max_tokens=1024, tools=[*ANTHROPIC_TOOLS, BASH],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "run: echo hi"}],
    )  # fmt: skip
    (call,) = [block for block in message.content if block.type == "tool_use"]
    assert call.name == "Bash" and call.input == {"command": "echo hi"}


def test_an_undeclared_tool_name_falls_back_to_the_first_tool(
    sim: SimServer, oai: openai.OpenAI
) -> None:
    sim.set_model(GPT, tool_name="Bash")
    completion = oai.chat.completions.create(
        model=GPT, tools=OPENAI_TOOLS,  # type: ignore[arg-type]
        messages=[{"role": "user", "content": "What's the weather in Paris?"}],
    )  # fmt: skip
    (call,) = completion.choices[0].message.tool_calls or []
    assert call.function.name == OPENAI_TOOLS[0]["function"]["name"]  # type: ignore[union-attr]
    assert "Paris" in call.function.arguments  # type: ignore[union-attr]


def test_tool_arguments_must_be_a_mapping() -> None:
    assert parse_overrides({"tool_arguments": {"cmd": ["ls"]}}, "m") == {
        "tool_arguments": {"cmd": ["ls"]}
    }
    with pytest.raises(SpecError, match="tool_arguments"):
        parse_overrides({"tool_arguments": "ls"}, "m")
