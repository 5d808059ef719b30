"""`template.counts`: when the slot of the first text event is vouched for without parsing
the event again, and that every other event still gets the second parse."""

from __future__ import annotations

from failsoft.dialects import anthropic_fast, openai_fast, template


def test_a_text_key_written_once_without_escapes_needs_no_second_parse() -> None:
    """`counts` vouches for the slot only when no member of that name can hide elsewhere;
    any other event is parsed again with its text emptied, and refused if that differs."""
    head = b'{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":'
    plain = head + b'[{"index":0,"delta":{"content":"Hi"}}]}'
    assert template.counts(plain, b'"content":"')
    assert openai_fast._shape(plain) is not None
    refused = [
        # a later member of the same name, the same value: only the second parse tells
        head + b'[{"index":0,"delta":{"content":"Hi","conten\\u0074":"Hi"}}]}',
        head + b'[{"index":0,"delta":{"content":"Hi","content" :"Hi"}}]}',
    ]
    vouched = [
        plain.replace(b'"model":"m"', b'"model":"content"'),  # the name as a value
        plain.replace(b'"model":"m"', b'"model":"m\\u00e9"'),  # an escape elsewhere
    ]
    for event in refused:
        assert openai_fast._shape(event) is None
    for event in vouched:
        assert openai_fast._shape(event) is not None
    for event in refused + vouched:
        assert not template.counts(event, b'"content":"')
    data = b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}'
    assert template.counts(data, b'"text":"')
    assert anthropic_fast._shape(anthropic_fast._EVENT + data) is not None
    for other in (b',"tex\\u0074":"Hi"}}', b',"text" :"Hi"}}'):
        event = anthropic_fast._EVENT + data.replace(b"}}", other)
        assert anthropic_fast._shape(event) is None
        assert not template.counts(event, b'"text":"')
