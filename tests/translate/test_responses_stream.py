"""Responses streams ⇄ the internal event grammar: event order, sequence numbers, and
the SDK's own event types and stream accumulator reading what failsoft writes."""

from __future__ import annotations

from typing import Any

from openai import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from failsoft.translate.anthropic_stream import AnthropicEncoder
from failsoft.translate.ir import Usage
from failsoft.translate.responses_stream import ResponsesDecoder, ResponsesEncoder
from failsoft.translate.stream import Frame

EVENT: Any = TypeAdapter(ResponseStreamEvent)


class Recorder:
    """A `Sink` that writes down every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def start(self, ident: str, model: str, usage: Usage) -> None:
        self.calls.append(("start", ident, model))

    def text_start(self, index: int) -> None:
        self.calls.append(("text_start", index))

    def text(self, index: int, text: str) -> None:
        self.calls.append(("text", index, text))

    def tool_start(self, index: int, ident: str, name: str) -> None:
        self.calls.append(("tool_start", index, ident, name))

    def tool_args(self, index: int, fragment: str) -> None:
        self.calls.append(("tool_args", index, fragment))

    def block_stop(self, index: int) -> None:
        self.calls.append(("block_stop", index))

    def finish(self, stop: str, stop_sequence: str | None, usage: Usage) -> None:
        self.calls.append(("finish", stop, usage))


USAGE = Usage(input=7, output=4, cache_read=1, reasoning=2)
SCRIPT: list[tuple[Any, ...]] = [
    ("start", "resp_1", "gpt-5"),
    ("text_start", 0),
    ("text", 0, "Hel"),
    ("text", 0, "lo"),
    ("block_stop", 0),
    ("tool_start", 1, "call_1", "shell"),
    ("tool_args", 1, '{"cmd":'),
    ("tool_args", 1, '"ls"}'),
    ("block_stop", 1),
    ("finish", "tool_use", USAGE),
]


def play(sink: Any, script: list[tuple[Any, ...]]) -> None:
    for call in script:
        name, *args = call
        if name == "start":
            sink.start(args[0], args[1], Usage())
        elif name == "finish":
            sink.finish(args[0], None, args[1])
        else:
            getattr(sink, name)(*args)


def encode(script: list[tuple[Any, ...]], **kwargs: Any) -> list[Frame]:
    encoder = ResponsesEncoder(**kwargs)
    play(encoder, script)
    return encoder.frames


def check_grammar(frames: list[Frame], first: int = 0) -> list[Any]:
    """Every frame is an SDK event named as its type, numbered one above the last."""
    events = []
    for n, (name, data) in enumerate(frames):
        assert name == data["type"]
        assert data["sequence_number"] == first + n
        events.append(EVENT.validate_python(data))
    return events


def test_event_order_and_sequence_numbers() -> None:
    frames = encode(SCRIPT)
    check_grammar(frames)
    assert [name for name, _ in frames] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    done = frames[-1][1]["response"]
    assert done["status"] == "completed"
    assert done["usage"]["total_tokens"] == 11
    assert [item["type"] for item in done["output"]] == ["message", "function_call"]
    assert done["output"][1]["arguments"] == '{"cmd":"ls"}'


def test_sdk_accumulator_reads_the_stream() -> None:
    state: Any = ResponseStreamState(input_tools=omit, text_format=omit)
    for _, data in encode(SCRIPT):
        state.handle_event(EVENT.validate_python(data))
    final = state._completed_response
    assert final is not None
    assert final.output_text == "Hello"
    call = final.output[1]
    assert (call.type, call.call_id, call.arguments) == ("function_call", "call_1", '{"cmd":"ls"}')


def test_sequence_continues_from_a_given_number() -> None:
    encoder = ResponsesEncoder(sequence=41)
    play(encoder, SCRIPT)
    check_grammar(encoder.frames, first=41)
    assert encoder.sequence == 41 + len(encoder.frames)
    encoder.frames.clear()
    encoder.error("server_error", "upstream cut the stream")
    ((name, data),) = encoder.frames
    assert (name, data["sequence_number"]) == ("error", 41 + 15)
    EVENT.validate_python(data)


def test_incomplete_and_failed() -> None:
    script = [*SCRIPT[:4], ("finish", "max_tokens", USAGE)]
    frames = encode(script)
    check_grammar(frames)
    names = [name for name, _ in frames]
    # finishing closes the open text block first
    assert names[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.incomplete",
    ]
    assert frames[-1][1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    encoder = ResponsesEncoder()
    play(encoder, SCRIPT[:3])
    encoder.fail("server_error", "all targets failed")
    check_grammar(encoder.frames)
    assert encoder.frames[-1][1]["response"]["status"] == "failed"


def test_custom_tool_calls_stream_as_custom_items() -> None:
    script = [
        ("start", "r", "m"),
        ("tool_start", 0, "call_9", "apply_patch"),
        ("tool_args", 0, '{"input": "*** Begin'),
        ("tool_args", 0, ' Patch"}'),
        ("block_stop", 0),
        ("finish", "tool_use", USAGE),
    ]
    frames = encode(script, freeform=frozenset({"apply_patch"}))
    check_grammar(frames)
    assert [name for name, _ in frames][2:6] == [
        "response.output_item.added",
        "response.custom_tool_call_input.delta",
        "response.custom_tool_call_input.done",
        "response.output_item.done",
    ]
    item = frames[-1][1]["response"]["output"][0]
    assert (item["type"], item["input"]) == ("custom_tool_call", "*** Begin Patch")


def test_decoder_round_trip() -> None:
    recorder = Recorder()
    decoder = ResponsesDecoder(recorder)
    for _, data in encode(SCRIPT):
        decoder.feed(0, data)
    expected = [c for c in SCRIPT]
    expected[0] = ("start", "resp_1", "gpt-5")
    assert recorder.calls[:-1] == expected[:-1]
    assert recorder.calls[-1] == ("finish", "tool_use", Usage(7, 4, 1, 0, 2))


def test_decoder_skips_reasoning_and_reads_whole_arguments() -> None:
    recorder = Recorder()
    decoder = ResponsesDecoder(recorder)
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": {"id": "resp_x", "model": "o3"}},
        {"type": "response.output_item.added", "item": {"type": "reasoning", "id": "rs", "summary": []}},
        {"type": "response.reasoning_summary_text.delta", "item_id": "rs", "delta": "hmm"},
        {"type": "response.output_item.done", "item": {"type": "reasoning", "id": "rs", "summary": []}},
        {"type": "response.output_item.added", "item": {"type": "function_call", "id": "fc", "call_id": "c", "name": "f", "arguments": ""}},
        {"type": "response.output_item.done", "item": {"type": "function_call", "id": "fc", "call_id": "c", "name": "f", "arguments": "{}"}},
        {"type": "response.incomplete", "response": {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}, "usage": {"input_tokens": 3, "output_tokens": 9}}},
    ]  # fmt: skip
    for event in events:
        decoder.feed(0, event)
    assert recorder.calls == [
        ("start", "resp_x", "o3"),
        ("tool_start", 0, "c", "f"),
        ("tool_args", 0, "{}"),
        ("block_stop", 0),
        ("finish", "max_tokens", Usage(input=3, output=9)),
    ]


def test_decoded_responses_stream_feeds_an_anthropic_caller() -> None:
    encoder = AnthropicEncoder()
    decoder = ResponsesDecoder(encoder)
    for _, data in encode(SCRIPT):
        decoder.feed(0, data)
    names = [name for name, _ in encoder.frames]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    assert names.count("content_block_start") == 2
