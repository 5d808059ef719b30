"""logfmt values and the token counts read from answers in every dialect."""

from __future__ import annotations

import json

from failsoft.logfmt import json_line, line, parse, usage_in, value


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
