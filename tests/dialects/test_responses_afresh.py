"""Answering afresh after a Responses stream broke with nothing but reasoning: what the
caller has open is closed, and another answer's events follow, renumbered. Pure."""

from __future__ import annotations

from typing import Any

import orjson

from failsoft.dialects.responses_afresh import Appender, can_answer_afresh
from failsoft.dialects.responses_continuation import ResponsesTranscript
from failsoft.dialects.sse import SSEDecoder

RESPONSE: dict[str, Any] = {"id": "resp_a", "object": "response", "model": "o", "output": []}


def _seen(events: list[dict[str, Any]]) -> ResponsesTranscript:
    transcript = ResponsesTranscript()
    for n, event in enumerate(events):
        transcript.observe({**event, "sequence_number": n})
    return transcript


def _decode(data: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(event.data) for event in SSEDecoder().feed(data)]


OPENING = [
    {"type": "response.created", "response": RESPONSE},
    {"type": "response.in_progress", "response": RESPONSE},
    {"type": "response.output_item.added", "output_index": 0,
     "item": {"id": "rs_1", "type": "reasoning", "summary": []}},
    {"type": "response.reasoning_summary_part.added", "output_index": 0, "item_id": "rs_1",
     "summary_index": 0, "part": {"type": "summary_text", "text": ""}},
    {"type": "response.reasoning_summary_text.delta", "output_index": 0, "item_id": "rs_1",
     "summary_index": 0, "delta": "Thinking"},
]  # fmt: skip


def test_an_open_reasoning_item_is_closed_with_its_summary_so_far() -> None:
    original = _seen(OPENING)
    assert can_answer_afresh(original)
    appender = Appender(original)
    closing = _decode(appender.close())
    assert [e["type"] for e in closing] == [
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
    ]
    assert [e["sequence_number"] for e in closing] == [5, 6, 7]
    item = closing[-1]["item"]
    assert item["summary"] == [{"type": "summary_text", "text": "Thinking"}]
    assert "encrypted_content" not in item
    assert item["id"] == "rs_fscut_1"  # marked: failsoft leaves it out when it comes back
    assert closing[0]["item_id"] == "rs_1"  # the events name the item as it was added


def test_the_next_answer_follows_renumbered() -> None:
    appender = Appender(_seen(OPENING))
    appender.close()
    theirs = {"id": "resp_b", "status": "completed", "usage": {"output_tokens": 3},
              "output": [{"id": "msg_b", "type": "message"}]}  # fmt: skip
    out = [
        appender.feed({"type": "response.created", "sequence_number": 0, "response": theirs}),
        appender.feed({"type": "response.output_item.added", "sequence_number": 2,
                       "output_index": 0, "item": {"id": "msg_b", "type": "message"}}),
        appender.feed({"type": "response.completed", "sequence_number": 9, "response": theirs}),
    ]  # fmt: skip
    assert out[0] == b""  # its opening events are left out
    added, done = (_decode(data)[0] for data in out[1:])
    assert (added["sequence_number"], added["output_index"]) == (8, 1)
    final = done["response"]
    assert (final["id"], final["status"], final["usage"]) == (
        "resp_a",
        "completed",
        theirs["usage"],
    )
    assert [item["id"] for item in final["output"]] == ["rs_fscut_1", "msg_b"]


def test_text_or_a_call_is_not_answered_afresh() -> None:
    message = {"type": "response.output_item.added", "output_index": 1,
               "item": {"id": "m", "type": "message", "content": []}}  # fmt: skip
    part = {"type": "response.content_part.added", "output_index": 1, "content_index": 0,
            "part": {"type": "output_text", "text": ""}}  # fmt: skip
    assert can_answer_afresh(_seen([*OPENING, message, part]))  # opened, nothing said yet
    text = {"type": "response.output_text.delta", "output_index": 1, "delta": "Hi"}
    assert not can_answer_afresh(_seen([*OPENING, message, part, text]))
    call = {"type": "response.output_item.added", "output_index": 1,
            "item": {"id": "fc", "type": "function_call", "name": "f", "arguments": ""}}  # fmt: skip
    assert not can_answer_afresh(_seen([*OPENING, call]))
    assert not can_answer_afresh(_seen(OPENING[:2]))  # nothing at all: an ordinary failover
