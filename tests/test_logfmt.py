"""logfmt values and the token counts read from answers in every dialect."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from failsoft.logfmt import json_line, line, parse, usage_in, usage_known, value


def test_plain_words_stay_bare_and_the_rest_is_quoted() -> None:
    assert value("openai/gpt-4o:529,openai/gpt-4o-mini:200") == (
        "openai/gpt-4o:529,openai/gpt-4o-mini:200"
    )
    assert value(None) == "-" and value(True) == "true" and value(12) == "12"
    assert value("") == '""'
    assert value('a "b"=c') == '"a \\"b\\"=c"'
    assert value("x\ny\x1b") == '"x\\ny\\x1b"'
    assert value("é") == '"é"'
    assert value("x" * 300).endswith('..."') or value("x" * 300).endswith("...")
    assert line({"a": 1, "b": "two words"}) == 'a=1 b="two words"'
    assert json.loads(json_line({"a": b"x", "b": None})) == {"a": "x", "b": None}


def test_usage_in_every_dialect() -> None:
    chat = b'{"id":"x","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":7,"prompt_tokens_details":{"cached_tokens":0}}}'
    assert usage_in(chat) == (11, 7)
    chat_stream = b'data: {"choices":[{"delta":{}}],"usage":null}\n\ndata: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}\n\ndata: [DONE]\n\n'
    assert usage_in(chat_stream) == (3, 4)
    messages_stream = (
        b'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":9,"output_tokens":1}}}\n\n'
        b'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":30}}\n\n'
    )
    assert usage_in(messages_stream) == (9, 30)
    gemini = b'{"candidates":[],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":6,"promptTokensDetails":[{"modality":"TEXT","tokenCount":5}]}}'
    assert usage_in(gemini) == (5, 6)
    responses = b'event: response.completed\ndata: {"response":{"usage":{"input_tokens":2,"input_tokens_details":{"cached_tokens":0},"output_tokens":8}}}\n\n'
    assert usage_in(responses) == (2, 8)


def test_text_that_mentions_usage_is_not_usage() -> None:
    content = b'{"choices":[{"message":{"content":"the \\"usage\\": {\\"prompt_tokens\\": 99}"}}]}'
    assert usage_in(content) == (None, None)
    assert usage_in(b'{"usage": {"prompt_tokens": 1') == (None, None)  # cut short


def test_a_line_parses_back() -> None:
    fields = {"rid": "fs_1", "path": '/x\n"q"=1 é \\ \u2028', "model": None, "ok": True}
    text = "2026-12-05 06:25:35,102 INFO    failsoft.access: " + line(fields)
    assert parse(text) == {"rid": "fs_1", "path": fields["path"], "model": "-", "ok": "true"}


# ---------------------------------------------------------------------- usage_known

_USAGE = {"prompt_tokens": 12, "completion_tokens": 5, "details": {"cached_tokens": 0}}


@pytest.mark.parametrize(
    "answer",
    [
        {"id": "a", "choices": [{"message": {"content": "hi"}}], "usage": _USAGE},
        {"content": [{"type": "text", "text": "{x}"}], "usage": {"input_tokens": 3}},
        {"usage": {"input_tokens": 3, "output_tokens": 4, "service_tier": "standard"}},
        {"candidates": [], "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 9}},
        {"usageMetadata": {"promptTokenCount": 2, "promptTokensDetails": [{"tokenCount": 2}]}},
        {"choices": []},
    ],
)
def test_usage_known_reads_what_the_scan_reads(answer: dict[str, Any]) -> None:
    body = orjson.dumps(answer)
    known = usage_known(answer, body)
    assert known is not None
    assert known == usage_in(body)


@pytest.mark.parametrize(
    ("answer", "body"),
    [
        # a second "usage" key (a tool's input): the scan reads both, the last wins
        (
            {"content": [{"input": {"usage": {"input_tokens": 1}}}], "usage": {"input_tokens": 2}},
            None,
        ),
        # a brace in a usage string: only the scan knows where its object ends
        ({"usage": {"input_tokens": 1, "note": "}"}}, None),
        # the key spelled with an escape: the bare "usage" is another one
        (
            {"usage": {"input_tokens": 7}, "x": {"usage": {"input_tokens": 1}}},
            b'{"usag\\u0065":{"input_tokens":7},"x":{"usage":{"input_tokens":1}}}',
        ),
        # a line break before the object: the scan does not take it
        ({"usage": {"input_tokens": 7}}, b'{"usage":\n{"input_tokens":7}}'),
        # more than the scan reads after the brace
        ({"usage": {"input_tokens": 7}, "pad": "x" * 5000}, None),
        # no count in it: the scan goes on to look for Gemini's key
        ({"usage": {}, "usageMetadata": {"promptTokenCount": 4}}, None),
        # a "usage" key beside Gemini's: the scan reads it first
        ({"usageMetadata": {"promptTokenCount": 4}, "x": {"usage": {"input_tokens": 1}}}, None),
        # a list of strings in it
        ({"usage": {"input_tokens": 7, "kinds": ["a"]}}, None),
        ({"usage": None}, None),
        ("not an object", None),
    ],
)
def test_usage_known_leaves_the_doubtful_cases_to_the_scan(answer: Any, body: bytes | None) -> None:
    raw = orjson.dumps(answer) if body is None else body
    assert usage_known(answer, raw) is None
    usage_in(raw)  # (the scan itself takes any of them)


def test_usage_known_agrees_with_the_scan_on_a_raw_upstream_body() -> None:
    body = b'{"id": "x",\n  "usage" : {"prompt_tokens": 3, "completion_tokens": 8}\n}'
    answer = orjson.loads(body)
    assert usage_known(answer, body) == usage_in(body) == (3, 8)
