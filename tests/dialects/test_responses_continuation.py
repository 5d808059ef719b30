"""Mid-stream resume's reading of a Responses caller's stream and its continuation request
(`dialects/responses_continuation.py`)."""

from __future__ import annotations

from typing import Any

from failsoft.dialects.continuation import (
    ResponsesTranscript,
    continuation_payload,
    forced_json,
    max_tokens,
    prompt_tokens,
    transcript,
)


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
