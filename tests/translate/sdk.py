"""Drive the gateway with the real SDKs and reduce every answer to one comparable shape.

Each caller has three ways to read an answer: a plain response, a raw stream (checked event by
event against the dialect's grammar, then assembled), and the SDK's own stream helper
(`chat.completions.stream()` / `messages.stream()`), which assembles the final message and the
tool-call arguments itself. Whatever the upstream dialect, all three must agree.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import anthropic
import openai
from openai.lib.streaming.chat import ChatCompletionStreamState

MODES = ("plain", "stream", "helper")

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"location": {"type": "string", "description": "A city"}},
    "required": ["location"],
}
OPENAI_TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The current weather in a city.",
            "parameters": WEATHER_SCHEMA,
        },
    }
]
ANTHROPIC_TOOLS: list[Any] = [
    {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "input_schema": WEATHER_SCHEMA,
    }
]
QUESTION = "What's the weather in Paris?"

# A real 1×1 PNG, so anything that inspects the image data finds a valid one.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode()
IMAGE_URL = "https://example.com/cat.png"  # never fetched: neither gateway nor simulator loads it


@dataclass
class Call:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass
class Result:
    """One answer, whatever the caller's dialect and however it was read."""

    text: str
    calls: list[Call]
    finish: str | None
    model: str
    input_tokens: int | None
    output_tokens: int | None
    raw: Any = None
    """The SDK's own final object, to send back as history."""
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- OpenAI callers


def ask_openai(
    client: openai.OpenAI, mode: str, model: str, messages: list[Any], **kw: Any
) -> Result:
    if mode == "plain":
        completion = client.chat.completions.create(model=model, messages=messages, **kw)
        return _openai_result(completion)
    if mode == "helper":
        with client.chat.completions.stream(
            model=model, messages=messages, stream_options={"include_usage": True}, **kw
        ) as stream:
            for _ in stream:
                pass
            final = stream.get_final_completion()
        return _openai_result(final)
    chunks = list(
        client.chat.completions.create(
            model=model,
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
            **kw,
        )
    )
    check_openai_chunks(chunks)
    state = ChatCompletionStreamState()
    for chunk in chunks:
        state.handle_chunk(chunk)
    return _openai_result(state.get_final_completion())


def check_openai_chunks(chunks: list[Any]) -> None:
    """The grammar of an OpenAI stream, as the SDK and hand-written clients rely on it."""
    assert chunks, "empty stream"
    assert len({c.id for c in chunks}) == 1, "one stream, one id"
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert [f for f in finishes if f is not None] == [finishes[-1]], finishes
    assert finishes[-1] is not None, "the stream ends with a finish_reason"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None, "include_usage chunk"
    assert chunks[0].choices[0].delta.role == "assistant"
    seen: dict[int, str] = {}
    for chunk in chunks:
        for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            if call.index not in seen:
                assert call.id and call.function and call.function.name, "first delta names"
                assert call.type == "function"
                seen[call.index] = call.id
            else:
                assert call.id in (None, seen[call.index])
    assert sorted(seen) == list(range(len(seen))), "tool calls indexed 0..n-1"


def _openai_result(completion: Any) -> Result:
    message = completion.choices[0].message
    calls = [
        Call(c.id, c.function.name, json.loads(c.function.arguments))
        for c in message.tool_calls or []
    ]
    usage = completion.usage
    return Result(
        text=message.content or "",
        calls=calls,
        finish=completion.choices[0].finish_reason,
        model=completion.model,
        input_tokens=usage.prompt_tokens if usage else None,
        output_tokens=usage.completion_tokens if usage else None,
        raw=completion,
    )


def openai_history(result: Result) -> dict[str, Any]:
    """The assistant turn to send back, as an application would build it."""
    turn: dict[str, Any] = {"role": "assistant", "content": result.text or None}
    if result.calls:
        turn["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
            }
            for c in result.calls
        ]
    return turn


def openai_image_turn(text: str) -> dict[str, Any]:
    return {
        "role": "user",
        "content": [
            {"type": "text", "text": text},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            {"type": "image_url", "image_url": {"url": IMAGE_URL}},
        ],
    }


# --------------------------------------------------------------------------- Anthropic callers


def ask_anthropic(
    client: anthropic.Anthropic, mode: str, model: str, messages: list[Any], **kw: Any
) -> Result:
    kw.setdefault("max_tokens", 512)
    if mode == "plain":
        return _anthropic_result(client.messages.create(model=model, messages=messages, **kw))
    if mode == "helper":
        with client.messages.stream(model=model, messages=messages, **kw) as stream:
            for _ in stream.text_stream:
                pass
            return _anthropic_result(stream.get_final_message())
    events = list(client.messages.create(model=model, messages=messages, stream=True, **kw))
    return assemble_anthropic(events)


def assemble_anthropic(events: list[Any]) -> Result:
    """Check an Anthropic event sequence against the documented grammar, then assemble it."""
    names = [e.type for e in events]
    assert names[0] == "message_start", names
    assert names[-1] == "message_stop", names
    assert names.count("message_delta") == 1 and names[-2] == "message_delta", names
    open_index: int | None = None
    blocks: list[dict[str, Any]] = []
    for event in events[1:-2]:
        if event.type == "ping":
            continue
        if event.type == "content_block_start":
            assert open_index is None, "a block starts while another is open"
            assert event.index == len(blocks), "blocks are numbered 0..n-1 in order"
            open_index = event.index
            block = event.content_block
            blocks.append({"type": block.type, "text": "", "json": "", "block": block})
        elif event.type == "content_block_delta":
            assert event.index == open_index, "a delta for the open block"
            delta = event.delta
            current = blocks[event.index]
            if delta.type == "text_delta":
                assert current["type"] == "text"
                current["text"] += delta.text
            else:
                assert delta.type == "input_json_delta" and current["type"] == "tool_use"
                current["json"] += delta.partial_json
        else:
            assert event.type == "content_block_stop", event.type
            assert event.index == open_index
            open_index = None
    assert open_index is None, "every block is closed"
    start, finish = events[0].message, events[-2]
    text = "".join(b["text"] for b in blocks if b["type"] == "text")
    calls = [
        Call(b["block"].id, b["block"].name, json.loads(b["json"] or "{}"))
        for b in blocks
        if b["type"] == "tool_use"
    ]
    return Result(
        text=text,
        calls=calls,
        finish=finish.delta.stop_reason,
        model=start.model,
        input_tokens=finish.usage.input_tokens or start.usage.input_tokens,
        output_tokens=finish.usage.output_tokens,
        raw=events,
    )


def _anthropic_result(message: Any) -> Result:
    text = "".join(b.text for b in message.content if b.type == "text")
    calls = [Call(b.id, b.name, dict(b.input)) for b in message.content if b.type == "tool_use"]
    return Result(
        text=text,
        calls=calls,
        finish=message.stop_reason,
        model=message.model,
        input_tokens=message.usage.input_tokens,
        output_tokens=message.usage.output_tokens,
        raw=message.content,
    )


def anthropic_history(result: Result) -> dict[str, Any]:
    content: list[Any] = [{"type": "text", "text": result.text}] if result.text else []
    content += [
        {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments} for c in result.calls
    ]
    return {"role": "assistant", "content": content}


def anthropic_image_turn(text: str) -> dict[str, Any]:
    return {
        "role": "user",
        "content": [
            {"type": "text", "text": text},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
            {"type": "image", "source": {"type": "url", "url": IMAGE_URL}},
        ],
    }


REPORT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "summary": {"type": "string"},
        "temperature": {"type": "number"},
        "sunny": {"type": "boolean"},
    },
    "required": ["summary", "temperature", "sunny"],
    "additionalProperties": False,
}
"""A schema for structured output; the simulator fills every string with the answer text."""


def report(text: str) -> dict[str, Any]:
    """What the simulator writes for `REPORT_SCHEMA` when its text answer would be `text`."""
    return {"summary": text, "temperature": 1, "sunny": True}
