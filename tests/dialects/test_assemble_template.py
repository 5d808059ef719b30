"""The template path (`dialects/template.py`) reads runs of text events exactly as the
generic path reads each event alone, whatever bytes the texts hold.

Texts here are raw JSON string bodies, not encoded strings: escapes split between two
events (`\\u00` | `e9`, a surrogate pair `\\ud83d` | `\\ude00`, a UTF-8 sequence split
in two), unescaped quotes, trailing backslashes, separators and newlines inside a text,
control characters, invalid UTF-8, duplicate keys, per-event fields that differ
(`obfuscation`), other events in the middle of a run. The answer, or the error and its
message, must be the same on both paths.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from failsoft.dialects import anthropic, anthropic_fast, openai, openai_fast
from failsoft.dialects.template import Run
from tests.dialects.test_assemble_differential import outcome

PLAIN = [b"a", b"Hello", b" world", b"42", b"\xc3\xa9", b"\xf0\x9f\x98\x80", b"\x7f"]
ESCAPED = [b"\\n", b"\\\\", b'\\"', b"\\u00e9", b"\\ud83d\\ude00", b"\\/", b"\\t", b"\\u2028"]
BROKEN = [
    b"\\",  # an escape cut in two, or escaping the closing quote
    b"\\u",
    b"\\u00",
    b"e9",
    b"\\ud83d",  # half a surrogate pair: the other half may be in the next event
    b"\\ude00",
    b"\\uDC00",
    b"\xc3",  # half a UTF-8 sequence
    b"\xa9",
    b"\xff",
    b"\xed\xa0\x80",
    b'"',
    b'","',
    b'\\","',
    b',"Y',
    b'"},"x":"',
    b'"}}',
    b"\x00",
    b"\x1f",
    b"\t",
    b"\n",
    b"\n\n",
    b"\n\ndata: ",
    b"\\x",
    b"\\U0041",
]
VALID = st.lists(st.sampled_from(PLAIN + ESCAPED), max_size=3).map(b"".join)
TEXT = st.lists(
    st.one_of(
        st.sampled_from(PLAIN),
        st.sampled_from(PLAIN),
        st.sampled_from(ESCAPED),
        st.sampled_from(BROKEN),
    ),
    max_size=3,
).map(b"".join)


@st.composite
def texts(draw: st.DrawFn) -> list[bytes]:
    """Valid texts, the first plain (so that a template is found), and as often as not one
    to three texts anywhere that may break the template (split escapes and the like)."""
    out = [draw(st.sampled_from(PLAIN)), *draw(st.lists(VALID, max_size=12))]
    if draw(st.booleans()):
        at = draw(st.integers(1, len(out)))
        out[at:at] = draw(st.lists(TEXT, min_size=1, max_size=3))
    return out


OBFUSCATION = st.sampled_from(
    [b"a", b"xyz", b"Zm9v", b""] * 6
    + [b"\\u0041", b"\xff", b'"', b"\\", b'","', b"\\ud83d", b"\n", b"a\\", b"\\ude00"]
)
"""Random per event on real OpenAI streams; here mostly plain, sometimes anything."""
HEADS = [
    b'{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":',
    b'{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o",'
    b'"service_tier":"default","system_fingerprint":"fp_1","choices":',
    b'{"choices":',
]
DELTAS = [
    (b'[{"index":0,"delta":{"content":"', b'"},"logprobs":null,"finish_reason":null}]'),
    (b'[{"index":0,"delta":{"content":"', b'"},"finish_reason":null}]'),
    (b'[{"index":1,"delta":{"role":"assistant","content":"', b'"}}]'),
    (b'[{"delta":{"content":"x","content":"', b'"}}]'),
    (b'[{"index":0,"delta":{"content":"', b'","content":"z"}}]'),
    (b'[{"index":0,"delta":{"content":"', b'","conten\\u0074":"z"}}]'),
    (b'[{"index":0,"delta":{"content":"', b'"},"logprobs":{"content":[]}}]'),
    (b'[{"index":0,"delta":{"content":"', b'"},"finish_reason":"stop"}]'),
]
TAILS = [b"}", b',"usage":null}', b',"usage":null,"obfuscation":"OBF"}', b',"obfuscation":"OBF"}']
OTHER = [
    b'{"choices":[{"index":0,"delta":{"content":"a"}},{"index":1,"delta":{"content":"b"}}]}',
    b'{"choices":[{"index":1,"delta":{"content":"c"},"finish_reason":"stop"},{"index":0}]}',
    b'{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}}]}',
    b'{"choices":[{"index":0,"delta":{"content":null}}]}',
    b'{"choices":[]}',
    b'{"choices":[{"index":0,"delta":{"content":"\\u00e9"}}]}',
    b'{"error":{"message":"boom","type":"server_error"}}',
    b"{}",
    b"[]",
]


@st.composite
def templated_openai(draw: st.DrawFn) -> bytes:
    """A usual stream whose text events are written byte for byte from one shape."""
    head = draw(st.sampled_from(HEADS))
    before, after = draw(st.sampled_from([DELTAS[0]] * 6 + DELTAS))
    tail = draw(st.sampled_from(TAILS))
    events = [head + b'[{"index":0,"delta":{"role":"assistant","content":""}}]' + tail]
    obfuscation = draw(st.sampled_from([b"OBF", b"per event"]))
    for number, text in enumerate(draw(texts())):
        own_tail = tail
        if obfuscation != b"OBF":
            value = b"x" * (number % 3 + 1) if number == 0 else draw(OBFUSCATION)
            own_tail = tail.replace(b"OBF", value)
        events.append(head + before + text + after + own_tail)
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        events.insert(draw(st.integers(1, len(events))), draw(st.sampled_from(OTHER)))
    events.append(head + b'[{"index":0,"delta":{},"finish_reason":"stop"}]' + tail)
    if draw(st.integers(0, 4)):
        events.append(head + b'[],"usage":{"total_tokens":9}}')
    body = b"".join(b"data: " + data + b"\n\n" for data in events)
    if draw(st.integers(0, 4)):
        body += b"data: [DONE]\n\n"
    return body


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(templated_openai())
def test_openai_template_matches_generic(body: bytes) -> None:
    assert outcome(openai.assemble, body) == outcome(openai.assemble_generic, body)


ANTHROPIC_SHAPES = [
    (
        b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"',
        b'"}}',
    ),
    (b'{"type":"content_block_delta","delta":{"type":"text_delta","text":"', b'"},"index":0}'),
    (b'{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"', b'"}}'),
    (
        b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x","text":"',
        b'"}}',
    ),
    (
        b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"',
        b'","text":"z"}}',
    ),
    (
        b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"',
        b'"},"x":1}',
    ),
]
ANTHROPIC_OTHER = [
    b'{"choices":[{"index":0,"delta":{"content":"a"}},{"index":1,"delta":{"content":"b"}}]}',
    b'{"choices":[{"index":1,"delta":{"content":"c"},"finish_reason":"stop"},{"index":0}]}',
    b'event: ping\ndata: {"type":"ping"}',
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":"\\u00e9"}}',
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"input_json_delta","partial_json":"{"}}',
    b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"m"}}',
    b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"d"}}',
    b"event: content_block_delta\ndata: {}",
]


@st.composite
def templated_anthropic(draw: st.DrawFn) -> bytes:
    """A usual Messages stream whose text deltas are written byte for byte from one shape."""
    before, after = draw(st.sampled_from([ANTHROPIC_SHAPES[0]] * 4 + ANTHROPIC_SHAPES))
    events = [
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","type":'
        b'"message","role":"assistant","content":[],"usage":{"input_tokens":1}}}',
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
        b'"content_block":{"type":"text","text":""}}',
    ]
    events += [b"event: content_block_delta\ndata: " + before + t + after for t in draw(texts())]
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        events.insert(draw(st.integers(2, len(events))), draw(st.sampled_from(ANTHROPIC_OTHER)))
    events.append(b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}')
    if draw(st.integers(0, 4)):
        events.append(
            b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":'
            b'"end_turn"},"usage":{"output_tokens":3}}'
        )
    if draw(st.integers(0, 4)):
        events.append(b'event: message_stop\ndata: {"type":"message_stop"}')
    return b"".join(event + b"\n\n" for event in events)


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(templated_anthropic())
def test_anthropic_template_matches_generic(body: bytes) -> None:
    assert outcome(anthropic.assemble, body) == outcome(anthropic.assemble_generic, body)


def _openai_body(texts: list[bytes], tail: bytes = b',"usage":null}') -> bytes:
    head = b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":'
    events = [head + b'[{"index":0,"delta":{"role":"assistant","content":""}}]' + tail]
    events += [
        head + b'[{"index":0,"delta":{"content":"' + t + b'"},"finish_reason":null}]' + tail
        for t in texts
    ]
    events.append(head + b'[{"index":0,"delta":{},"finish_reason":"stop"}]' + tail)
    events.append(head + b'[],"usage":{"total_tokens":9}}')
    return b"".join(e + b"\n\n" for e in events) + b"data: [DONE]\n\n"


def _runs(chunks: list[Any]) -> list[Run]:
    return [chunk for chunk in chunks if isinstance(chunk, Run)]


def test_runs_of_valid_texts_take_the_template_path() -> None:
    """Escapes, quotes, surrogate pairs and non-ASCII inside one text are fine."""
    texts = [b"Hi", b"\\n", b'\\"q\\"', b"\\ud83d\\ude00", b"\xc3\xa9", b"\\\\x", b"", b" end"]
    body = _openai_body(texts)
    fast = openai_fast.decode(body)
    assert fast is not None
    (run,) = _runs(fast.chunks)
    assert run.strings == ["Hi", "\n", '"q"', "\U0001f600", "é", "\\x", "", " end"]
    assert outcome(openai.assemble, body) == outcome(openai.assemble_generic, body)


def test_texts_that_are_only_valid_joined_are_refused() -> None:
    """Each of these pairs is one valid string when joined, two invalid events apart."""
    for pair in (
        [b"\\ud83d", b"\\ude00"],  # a surrogate pair split between two events
        [b"\\u00", b"e9"],  # an escape split
        [b"\xc3", b"\xa9"],  # a UTF-8 sequence split
        [b"a\\", b',"Y'],  # a trailing backslash eats the closing quote
        [b"a\\", b"n"],
        [b'a"', b"b"],
    ):
        body = _openai_body([b"Hi", *pair, b"x"])
        fast = openai_fast.decode(body)
        assert fast is None or not _runs(fast.chunks), pair
        assert outcome(openai.assemble, body) == outcome(openai.assemble_generic, body)


def test_a_run_longer_than_a_segment() -> None:
    texts = [b"w%d " % n for n in range(5000)]
    texts[4321] = b"\\ud83d"
    for body in (_openai_body(texts[:4000]), _openai_body(texts)):
        assert outcome(openai.assemble, body) == outcome(openai.assemble_generic, body)
    fast = openai_fast.decode(_openai_body(texts[:4000]))
    assert fast is not None and sum(len(run.strings) for run in _runs(fast.chunks)) == 4000


def test_anthropic_run_takes_the_template_path() -> None:
    body = templated_anthropic_body([b"Hi", b"\\n", b" there"])
    events = anthropic_fast.decode(body)
    assert events is not None
    runs = [d for _, deltas in events for d in deltas if isinstance(d, Run)]
    assert [run.strings for run in runs] == [["Hi", "\n", " there"]]
    assert outcome(anthropic.assemble, body) == outcome(anthropic.assemble_generic, body)


def templated_anthropic_body(texts: list[bytes]) -> bytes:
    before, after = ANTHROPIC_SHAPES[0]
    events = [
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"m"}}',
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
        b'"content_block":{"type":"text","text":""}}',
        *(b"event: content_block_delta\ndata: " + before + t + after for t in texts),
        b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}',
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"}}',
        b'event: message_stop\ndata: {"type":"message_stop"}',
    ]
    return b"".join(event + b"\n\n" for event in events)


def test_per_event_obfuscation_takes_the_template_path() -> None:
    """Real OpenAI streams carry a random `obfuscation` string in every chunk."""
    texts = [b"Hi", b" there", b"\\n", b"!"]
    values = [b"abc", b"Zm9vYmFy", b"q", b"x"]
    head = b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":'
    events = [head + b'[{"index":0,"delta":{"role":"assistant","content":""}}],"obfuscation":"r"}']
    for text, value in zip(texts, values, strict=True):
        events.append(
            head + b'[{"index":0,"delta":{"content":"' + text + b'"},"finish_reason":null}],'
            b'"usage":null,"obfuscation":"' + value + b'"}'
        )
    events.append(head + b'[{"index":0,"delta":{},"finish_reason":"stop"}]}')
    body = b"".join(e + b"\n\n" for e in events) + b"data: [DONE]\n\n"
    fast = openai_fast.decode(body)
    assert fast is not None
    (run,) = _runs(fast.chunks)
    assert run.strings == ["Hi", " there", "\n", "!"]
    assert outcome(openai.assemble, body) == outcome(openai.assemble_generic, body)
    for bad in (b"\xff", b"\\ud83d", b'"', b"a\\"):
        broken = body.replace(b'"obfuscation":"q"', b'"obfuscation":"' + bad + b'"')
        fast = openai_fast.decode(broken)
        assert fast is None or not _runs(fast.chunks)
        assert outcome(openai.assemble, broken) == outcome(openai.assemble_generic, broken)


def test_events_after_a_run_are_numbered_past_it() -> None:
    """A chunk read again by orjson after a run (two choices) is found by its number."""
    body = _openai_body([b"a", b"b", b"c"])
    two = (
        b'data: {"choices":[{"index":0,"delta":{"content":"X"}},'
        b'{"index":1,"delta":{},"finish_reason":"stop"}]}\n\n'
    )
    at = body.index(
        b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
        b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}'
    )
    body = body[:at] + two + body[at:]
    fast = openai_fast.decode(body)
    assert fast is not None and _runs(fast.chunks)
    assert outcome(openai.assemble, body) == outcome(openai.assemble_generic, body)
    assert openai.assemble(body)["choices"][0]["message"]["content"] == "abcX"


def test_texts_with_escapes_that_end_at_the_quote_are_read_by_the_pattern() -> None:
    """Escaped quotes and backslashes (also last in a text, just before the closing quote),
    unicode escapes in either case, a whole surrogate pair, `\\/`: each text a whole string
    body, read in one pass (`template._BODY`)."""
    texts = [b"Hi", b'\\"', b"\\\\", b'a\\\\\\"', b"\\u00E9\\u00e9", b"\\uD83D\\uDE00", b"\\/"]
    body = _openai_body(texts)
    fast = openai_fast.decode(body)
    assert fast is not None
    (run,) = _runs(fast.chunks)
    assert run.strings == ["Hi", '"', "\\", 'a\\"', "éé", "\U0001f600", "/"]
    assert outcome(openai.assemble, body) == outcome(openai.assemble_generic, body)
    anthropic_body = templated_anthropic_body(texts)
    events = anthropic_fast.decode(anthropic_body)
    assert events is not None
    runs = [d for _, deltas in events for d in deltas if isinstance(d, Run)]
    assert [run.strings for run in runs] == [["Hi", '"', "\\", 'a\\"', "éé", "\U0001f600", "/"]]


def test_texts_the_pattern_refuses_leave_the_run_to_the_per_event_way() -> None:
    """A text that is not a whole string body stops the pattern's cut early; the rebuilt
    run then differs, and the events are read one by one (same answer or same error)."""
    for bad in (
        b"\\u12",  # an incomplete unicode escape, closed by the quote
        b"\\uD83D",  # a lone surrogate (the pattern passes it, the typed decode does not)
        b"\\ude00",
        b"\\x41",  # no such escape
        b"a\\",  # a backslash that escapes the closing quote
        b"\\\\\\",  # an escaped backslash, then one that escapes the quote
        b'"',  # an unescaped quote
        b"\x01",  # a raw control character
        b"\xc3",  # half a UTF-8 sequence
        b"\xed\xa0\x80",  # a surrogate written in UTF-8
    ):
        for at in (0, 2, 5):
            texts = [b"Hi", b"there", b"\\n", b"\\\\", b'\\"', b"end"]
            texts.insert(at + 1, bad)
            body = _openai_body(texts)
            assert outcome(openai.assemble, body) == outcome(openai.assemble_generic, body), bad
            body = templated_anthropic_body(texts)
            assert outcome(anthropic.assemble, body) == outcome(anthropic.assemble_generic, body)


def test_obfuscation_values_that_are_not_plain_ascii_are_read_per_event() -> None:
    """`obfuscation` values are taken unread only when plain printable ASCII without a quote
    or a backslash; a valid escape or non-ASCII value sends the run the per-event way (same
    answer), an invalid one gives the generic path's error."""
    head = b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":'

    def body(values: list[bytes]) -> bytes:
        events = [head + b'[{"index":0,"delta":{"role":"assistant","content":""}}]}']
        for number, value in enumerate(values):
            events.append(
                head
                + b'[{"index":0,"delta":{"content":"w%d "},"finish_reason":null}],' % number
                + b'"obfuscation":"'
                + value
                + b'"}'
            )
        events.append(head + b'[{"index":0,"delta":{},"finish_reason":"stop"}]}')
        return b"".join(e + b"\n\n" for e in events) + b"data: [DONE]\n\n"

    plain = [b"abc", b"Zm9v+/=", b"", b"~ !#$[]{}", b"q"]
    fast = openai_fast.decode(body(plain))
    assert fast is not None
    (run,) = _runs(fast.chunks)
    assert run.strings == ["w0 ", "w1 ", "w2 ", "w3 ", "w4 "]
    for other in (b"\\u0041", b"\\\\", b'\\"', b"\xc3\xa9", b"\\ud83d", b"\xff", b"a\\", b"\x7f"):
        for at in (1, 3):
            values = list(plain)
            values[at] = other
            broken = body(values)
            fast = openai_fast.decode(broken)
            assert fast is None or not _runs(fast.chunks), other
            assert outcome(openai.assemble, broken) == outcome(openai.assemble_generic, broken)


def test_patterns_are_cached_by_lengths_and_bounded() -> None:
    """Shapes from the upstream compile a pattern per set of lengths, never per request's
    bytes (an id differs per request), and only a few are kept."""
    from failsoft.dialects import template

    first = template.Shape(b'data: {"id":"a1","x":"', b'"}')
    again = template.Shape(b'data: {"id":"b2","x":"', b'"}')
    assert first.pattern is again.pattern
    for length in range(40):
        template.Shape(b"p" * length, b'"}', b'","o":"')
    info = template._pattern.cache_info()
    assert info.maxsize is not None and info.currsize <= info.maxsize <= 16


def test_an_event_that_ends_inside_its_text_costs_one_scan() -> None:
    """A run's last event that never closes its text (200 KB of it): the cut does not fail
    and try again a byte later (which would scan those bytes once per byte, minutes), and
    the body reads as the generic path reads it."""
    head = b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":'
    open_text = head + b'[{"index":0,"delta":{"content":"' + b"a" * 200_000
    finish = head + b'[{"index":0,"delta":{},"finish_reason":"stop"}]'
    for tail in (b',"usage":null}', b',"usage":null,"obfuscation":"x"}'):
        body = _openai_body([b"Hi", b"there", b"you"], tail)
        at = body.index(finish)
        for broken in (open_text, open_text + b"\\", open_text + b'","obfuscation":"' + b"b" * 9):
            changed = body[:at] + broken + b"\n\n" + body[at:]
            assert outcome(openai.assemble, changed) == outcome(openai.assemble_generic, changed)
    texts = [b"Hi", b"there", b"a" * 200_000 + b'"']
    body = templated_anthropic_body(texts).replace(b'a"' + ANTHROPIC_SHAPES[0][1], b"a")
    assert outcome(anthropic.assemble, body) == outcome(anthropic.assemble_generic, body)


def _sse(name: bytes, data: bytes) -> bytes:
    return b"event: " + name + b"\ndata: " + data + b"\n\n"


def test_a_line_of_no_field_inside_an_event_is_no_delta() -> None:
    """A line without a field name inside an event (a broken upstream) is ignored by the
    generic path however much it looks like a text delta: the fast path must not read it as
    one, before, inside or after the run of text deltas."""
    stray = b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"X"}}'

    def delta(text: bytes) -> bytes:
        return stray.replace(b'"X"', b'"' + text + b'"')

    start = b'{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}'
    stop = b'{"type":"message_delta","delta":{"stop_reason":"end_turn"}}'
    opening = b'{"type":"message_start","message":{"id":"m"}}'
    for at in range(5):
        events = [
            _sse(b"message_start", opening),
            _sse(b"content_block_start", start),
            _sse(b"content_block_delta", delta(b"a")),
            _sse(b"content_block_delta", delta(b"b")),
            _sse(b"message_delta", stop),
        ]
        events[at] = events[at][:-1] + stray + b"\n\n"
        body = b"".join(events)
        assert outcome(anthropic.assemble, body) == outcome(anthropic.assemble_generic, body)
        assert anthropic.assemble(body)["content"] == [{"type": "text", "text": "ab"}]
