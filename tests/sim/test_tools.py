"""Tool-call answers through the real openai and anthropic SDKs, streaming and not."""

from __future__ import annotations

import json
import re
from typing import Any

import anthropic
import openai
import pytest

from failsoft.sim import SimServer

from .helpers import ANTHROPIC_STREAM_BROKEN, GPT, MODEL

QUESTION = "What's the weather in Paris?"
SCHEMA = {
    "type": "object",
    "properties": {"location": {"type": "string"}},
    "required": ["location"],
    "additionalProperties": False,
}
OPENAI_TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {"name": "get_weather", "parameters": SCHEMA, "strict": True},
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "parameters": {
                "type": "object",
                "properties": {"zone": {"type": "string"}, "hours": {"type": "integer"}},
            },
        },
    },
]
ANTHROPIC_TOOLS: list[Any] = [
    {"name": "get_weather", "description": "Current weather", "input_schema": SCHEMA},
    {
        "name": "get_time",
        "input_schema": {
            "type": "object",
            "properties": {"zone": {"type": "string", "enum": ["UTC", "CET"]}},
        },
    },
]
ASK: list[Any] = [{"role": "user", "content": QUESTION}]


# --- OpenAI -------------------------------------------------------------------------------


def test_openai_tool_call(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(model=GPT, messages=ASK, tools=OPENAI_TOOLS)
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert re.fullmatch(r"call_[0-9a-f]{24}", call.id)
    assert call.type == "function"
    assert (call.function.name, call.function.arguments) == ("get_weather", '{"location":"Paris"}')
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 3  # argument fragments


def test_openai_tool_stream_transcript(oai: openai.OpenAI) -> None:
    """protocols.md §B.3: the first delta opens the call, then argument fragments by index."""
    chunks = list(
        oai.chat.completions.create(
            model=GPT,
            messages=ASK,
            tools=OPENAI_TOOLS,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    opening, *fragments, finish, usage = chunks
    delta = opening.choices[0].delta
    assert (delta.role, delta.content) == ("assistant", None)
    (call,) = delta.tool_calls or []
    assert call.index == 0
    assert call.id and call.id.startswith("call_")
    assert call.type == "function"
    assert call.function is not None
    assert (call.function.name, call.function.arguments) == ("get_weather", "")
    assert 2 <= len(fragments) <= 3
    parts = []
    for chunk in fragments:
        (piece,) = chunk.choices[0].delta.tool_calls or []
        assert piece.index == 0 and piece.id is None
        assert piece.function is not None and piece.function.arguments
        parts.append(piece.function.arguments)
    assert json.loads("".join(parts)) == {"location": "Paris"}
    assert finish.choices[0].finish_reason == "tool_calls"
    assert usage.choices == []
    assert usage.usage is not None and usage.usage.completion_tokens == len(fragments)


def test_openai_stream_helper_parses_the_call(oai: openai.OpenAI) -> None:
    with oai.chat.completions.stream(
        model=GPT, messages=ASK, tools=OPENAI_TOOLS[:1], stream_options={"include_usage": True}
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_completion()
    assert "tool_calls.function.arguments.done" in kinds
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls or []
    assert call.function.name == "get_weather"
    assert call.function.parsed_arguments == {"location": "Paris"}


def test_openai_tool_choice(sim: SimServer, oai: openai.OpenAI) -> None:
    def first_call(**options: Any) -> tuple[str | None, Any]:
        message = (
            oai.chat.completions.create(model=GPT, messages=ASK, tools=OPENAI_TOOLS, **options)
            .choices[0]
            .message
        )
        calls = message.tool_calls or []
        if not calls:
            return message.content, None
        return calls[0].function.name, json.loads(calls[0].function.arguments)  # type: ignore[union-attr]

    assert first_call(tool_choice="required") == ("get_weather", {"location": "Paris"})
    forced = {"type": "function", "function": {"name": "get_time"}}
    assert first_call(tool_choice=forced) == ("get_time", {"zone": "Paris", "hours": 1})
    text, none = first_call(tool_choice="none")
    assert none is None and (text or "").startswith("Simulated answer")


def test_openai_parallel_calls_and_preface(sim: SimServer, oai: openai.OpenAI) -> None:
    sim.set_model(GPT, tool_calls=3, tool_preface="Let me check.")
    message = (
        oai.chat.completions.create(model=GPT, messages=ASK, tools=OPENAI_TOOLS).choices[0].message
    )
    assert message.content == "Let me check."
    calls = message.tool_calls or []
    assert [(c.function.name, c.function.arguments) for c in calls] == [  # type: ignore[union-attr]
        ("get_weather", '{"location":"Paris"}'),
        ("get_time", '{"zone":"Paris","hours":1}'),
        ("get_weather", '{"location":"Paris-2"}'),
    ]
    assert len({c.id for c in calls}) == 3
    with oai.chat.completions.stream(model=GPT, messages=ASK, tools=OPENAI_TOOLS) as stream:
        events = list(stream)
        final = stream.get_final_completion().choices[0]
    assert final.message.content == "Let me check."
    streamed = [(c.function.name, c.function.arguments) for c in final.message.tool_calls or []]
    assert streamed == [(c.function.name, c.function.arguments) for c in calls]  # type: ignore[union-attr]
    kinds = [event.type for event in events]
    last_text = len(kinds) - 1 - kinds[::-1].index("content.delta")
    assert last_text < kinds.index("tool_calls.function.arguments.delta")


def test_openai_tool_round_trip(oai: openai.OpenAI) -> None:
    first = oai.chat.completions.create(model=GPT, messages=ASK, tools=OPENAI_TOOLS)
    (call,) = first.choices[0].message.tool_calls or []
    history = [
        *ASK,
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "15 C, sunny"},
    ]
    second = oai.chat.completions.create(model=GPT, messages=history, tools=OPENAI_TOOLS)
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == (
        f"Simulated answer from {GPT}: the tool said 15 C, sunny."
    )


def test_cut_counts_tool_deltas_as_content(sim: SimServer, oai: openai.OpenAI) -> None:
    sim.set_fault(GPT, {"kind": "cut", "after": 2})
    received = []
    with pytest.raises(openai.APIConnectionError):
        received.extend(
            oai.chat.completions.create(model=GPT, messages=ASK, tools=OPENAI_TOOLS, stream=True)
        )
    assert len(received) == 2  # the opening delta and one fragment
    assert received[-1].choices[0].finish_reason is None


# --- Anthropic ------------------------------------------------------------------------------


def test_anthropic_tool_use(ant: anthropic.Anthropic) -> None:
    message = ant.messages.create(model=MODEL, max_tokens=100, messages=ASK, tools=ANTHROPIC_TOOLS)
    assert message.stop_reason == "tool_use"
    (block,) = message.content
    assert block.type == "tool_use"
    assert re.fullmatch(r"toolu_[A-Za-z0-9]{24}", block.id)
    assert (block.name, block.input) == ("get_weather", {"location": "Paris"})
    assert message.usage.output_tokens == 3


def test_anthropic_tool_stream_transcript(ant: anthropic.Anthropic) -> None:
    """protocols.md §A.3: tool_use block with `input: {}`, then "" and the JSON fragments."""
    events = list(
        ant.messages.create(
            model=MODEL, max_tokens=100, messages=ASK, tools=ANTHROPIC_TOOLS, stream=True
        )
    )
    types = [event.type for event in events]
    deltas = types.count("content_block_delta")
    assert types == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * deltas,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    block = events[1].content_block  # type: ignore[union-attr]
    assert (block.type, block.name, block.input) == ("tool_use", "get_weather", {})
    assert block.id.startswith("toolu_")
    partials = [event.delta.partial_json for event in events[2 : 2 + deltas]]  # type: ignore[union-attr]
    assert partials[0] == ""
    assert 2 <= len(partials) - 1 <= 3
    assert json.loads("".join(partials)) == {"location": "Paris"}
    assert events[-2].delta.stop_reason == "tool_use"  # type: ignore[union-attr]
    assert events[-2].usage.output_tokens == deltas - 1  # type: ignore[union-attr]


def test_anthropic_stream_helper_final_message(sim: SimServer, ant: anthropic.Anthropic) -> None:
    sim.set_model(MODEL, tool_calls=2, tool_preface="Checking both.")
    with ant.messages.stream(
        model=MODEL, max_tokens=100, messages=ASK, tools=ANTHROPIC_TOOLS
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Checking both."
    assert final.stop_reason == "tool_use"
    preface, *calls = final.content
    assert (preface.type, preface.text) == ("text", "Checking both.")  # type: ignore[union-attr]
    assert [(c.type, c.name, c.input) for c in calls] == [  # type: ignore[union-attr]
        ("tool_use", "get_weather", {"location": "Paris"}),
        ("tool_use", "get_time", {"zone": "UTC"}),
    ]
    whole = ant.messages.create(model=MODEL, max_tokens=100, messages=ASK, tools=ANTHROPIC_TOOLS)
    assert [block.type for block in whole.content] == ["text", "tool_use", "tool_use"]
    assert final.usage.output_tokens == whole.usage.output_tokens


def test_anthropic_tool_choice(ant: anthropic.Anthropic) -> None:
    def blocks(choice: Any) -> list[str]:
        message = ant.messages.create(
            model=MODEL, max_tokens=100, messages=ASK, tools=ANTHROPIC_TOOLS, tool_choice=choice
        )
        return [getattr(block, "name", block.type) for block in message.content]

    assert blocks({"type": "auto"}) == ["get_weather"]
    assert blocks({"type": "any"}) == ["get_weather"]
    assert blocks({"type": "tool", "name": "get_time"}) == ["get_time"]
    assert blocks({"type": "none"}) == ["text"]


def test_anthropic_tool_round_trip(ant: anthropic.Anthropic) -> None:
    first = ant.messages.create(model=MODEL, max_tokens=100, messages=ASK, tools=ANTHROPIC_TOOLS)
    (block,) = first.content
    history = [
        *ASK,
        {"role": "assistant", "content": [block.model_dump(exclude_none=True)]},
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": block.id,  # type: ignore[union-attr]
                    "content": [
                        {"type": "text", "text": "15 C"},
                        {"type": "text", "text": "sunny"},
                    ],
                }
            ],
        },
    ]
    second = ant.messages.create(
        model=MODEL, max_tokens=100, messages=history, tools=ANTHROPIC_TOOLS
    )
    assert second.stop_reason == "end_turn"
    assert second.content[0].text == (  # type: ignore[union-attr]
        f"Simulated answer from {MODEL}: the tool said 15 C\nsunny."
    )


def test_anthropic_cut_in_a_tool_stream(sim: SimServer, ant: anthropic.Anthropic) -> None:
    sim.set_fault(MODEL, {"kind": "cut", "after": 3})
    received: list[str] = []
    with (
        pytest.raises(ANTHROPIC_STREAM_BROKEN),
        ant.messages.stream(
            model=MODEL, max_tokens=100, messages=ASK, tools=ANTHROPIC_TOOLS
        ) as stream,
    ):
        received.extend(event.type for event in stream)
    assert "content_block_stop" not in received
    assert "message_stop" not in received
