"""Mid-stream resume's reading of a Responses caller's stream and its continuation request
(`dialects/responses_continuation.py`)."""

from __future__ import annotations

from typing import Any

import orjson
from openai import omit
from openai.lib.streaming.responses._responses import ResponseStreamState

from failsoft.dialects.continuation import (
    ResponsesTranscript,
    Tally,
    continuation_payload,
    forced_json,
    max_tokens,
    prompt_tokens,
    transcript,
)
from failsoft.dialects.responses_continuation import ResponsesFramer, relay_converter
from failsoft.dialects.sse import SSEDecoder
from failsoft.translate.ir import Usage
from failsoft.translate.responses_stream import ResponsesEncoder
from tests.translate.test_responses_sdk import check_grammar
from tests.translate.test_responses_stream import EVENT


def _events(*specs: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**spec, "sequence_number": n} for n, spec in enumerate(specs)]


def test_the_transcript_follows_text_and_numbering() -> None:
    reader = transcript("responses")
    assert isinstance(reader, ResponsesTranscript)
    events = _events(
        {"type": "response.created", "response": {"id": "resp_1"}},
        {"type": "response.output_item.added", "item": {"type": "message", "id": "m"}},
        {"type": "response.content_part.added", "part": {"type": "output_text", "text": ""}},
        {"type": "response.output_text.delta", "delta": "Hello "},
        {"type": "response.output_text.delta", "delta": "world"},
    )
    added = [reader.observe(e) for e in events]
    assert added[-2:] == ["Hello ", "world"]
    assert reader.text == "Hello world" and reader.resumable and reader.sequence == 5
    assert reader.stop is None
    usage = {"input_tokens": 9, "output_tokens": 2}
    reader.observe(
        {"type": "response.incomplete", "sequence_number": 5,
         "response": {"status": "incomplete", "usage": usage,
                      "incomplete_details": {"reason": "max_output_tokens"}}}
    )  # fmt: skip
    assert reader.stop == "max_tokens" and prompt_tokens(reader) == 9 and reader.sequence == 6


def test_calls_reasoning_and_refusals_are_not_plain_text() -> None:
    for event in (
        {"type": "response.output_item.added", "item": {"type": "function_call"}},
        {"type": "response.output_item.added", "item": {"type": "reasoning"}},
        {"type": "response.reasoning_summary_text.delta", "delta": "x"},
        {"type": "response.refusal.delta", "delta": "no"},
    ):
        reader = ResponsesTranscript()
        reader.observe(event)
        assert not reader.resumable, event


def test_the_continuation_request_is_a_responses_request() -> None:
    asked = {"model": "m", "input": "Q", "instructions": "Be brief.", "max_output_tokens": 100}
    turn = continuation_payload("responses", asked, "Half an ", "Go on.", 60)
    assert turn["input"] == [
        {"role": "user", "content": "Q"},
        {"role": "assistant", "content": "Half an "},
        {"role": "user", "content": "Go on."},
    ]
    assert turn["instructions"] == "Be brief."
    assert turn["max_output_tokens"] == 60 and turn["stream"] is True
    assert asked["input"] == "Q"
    items = {"input": [{"role": "user", "content": [{"type": "input_text", "text": "Q"}]}]}
    prefill = continuation_payload("responses", items, "Half an", None, None)
    assert prefill["input"][-1] == {"role": "assistant", "content": "Half an"}
    assert "max_output_tokens" not in prefill
    assert max_tokens("responses", asked) == 100
    assert max_tokens("responses", items) is None
    schema = {"text": {"format": {"type": "json_schema", "name": "x", "schema": {}}}}
    assert forced_json("responses", schema)
    assert not forced_json("responses", {"text": {"format": {"type": "text"}}})


def _upstream(pieces: list[str]) -> list[dict[str, Any]]:
    """A whole Responses stream as an upstream sends it (what failsoft's encoder writes is
    one), with a setting of the caller's echoed in its `response`."""
    encoder = ResponsesEncoder()
    encoder.start("resp_up", "gpt-4o", Usage())
    encoder.text_start(0)
    for piece in pieces:
        encoder.text(0, piece)
    encoder.finish("end_turn", None, Usage(input=5, output=len(pieces)))
    events = [data for _, data in encoder.frames]
    for event in events:
        if "response" in event:
            event["response"]["instructions"] = "Be brief."
    return events


def _taken_over(received: list[dict[str, Any]], more: str) -> list[dict[str, Any]]:
    """What the caller gets when the stream breaks after `received` and `more` follows."""
    original = ResponsesTranscript()
    for event in received:
        original.observe(event)
    converter = relay_converter(original)
    assert converter is not None
    encoder = converter.encoder
    assert isinstance(encoder, ResponsesEncoder)
    framer = ResponsesFramer(original, encoder, converter.drain)
    written = framer.text(more) if more else b""
    written += framer.finish("end_turn", Tally(prompt=5, delivered=3, continued=2))
    return received + [orjson.loads(e.data) for e in SSEDecoder().feed(written)]


def test_a_relayed_stream_broken_anywhere_is_taken_over_where_its_caller_is() -> None:
    """After every event between the first delta and the end: the rest of the text goes on
    in the upstream's message item, the closing events it had not sent follow, numbered on,
    and the SDK's accumulator reads one answer with the upstream's settings."""
    pieces = ["Resilient ", "gateways ", "keep ", "answering."]
    whole = "".join(pieces)
    upstream = _upstream(pieces)
    first = next(i for i, e in enumerate(upstream) if e["type"] == "response.output_text.delta")
    for cut in range(first + 1, len(upstream)):
        received = upstream[:cut]
        said = "".join(e["delta"] for e in received if "delta" in e)
        events = _taken_over(received, whole[len(said) :])
        check_grammar(events)
        assert "".join(e["delta"] for e in events if "delta" in e) == whole, cut
        kinds = [e["type"] for e in events]
        for kind in ("response.output_text.done", "response.content_part.done"):
            assert kinds.count(kind) == 1, (cut, kind)
        state: Any = ResponseStreamState(input_tools=omit, text_format=omit)
        for event in events:
            state.handle_event(EVENT.validate_python(event))
        final = state._completed_response
        assert final is not None
        assert final.output_text == whole
        assert final.id == "resp_up" and final.instructions == "Be brief."
        assert [item.id for item in final.output] == [upstream[2]["item"]["id"]]
        assert final.usage.output_tokens == 5


def test_text_after_the_message_was_said_whole_goes_in_a_new_item() -> None:
    upstream = _upstream(["Done", "."])
    at = next(i for i, e in enumerate(upstream) if e["type"] == "response.output_text.done")
    events = _taken_over(upstream[: at + 1], " And more.")
    check_grammar(events)
    items = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert [i["content"][0]["text"] for i in items] == ["Done.", " And more."]
    assert events[-1]["response"]["output"] == items


def test_a_relayed_stream_without_its_opening_is_not_taken_over() -> None:
    original = ResponsesTranscript()
    original.observe({"type": "response.output_text.delta", "delta": "x", "sequence_number": 4})
    assert relay_converter(original) is None


def test_items_without_their_position_are_not_taken_over() -> None:
    original = ResponsesTranscript()
    for event in _upstream(["Hi", "!"])[:5]:
        if event["type"] == "response.output_item.added":
            del event["output_index"]
        original.observe(event)
    assert original.resumable and original.text == "Hi"
    assert relay_converter(original) is None
