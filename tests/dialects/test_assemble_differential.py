"""The fast assembly paths give exactly what the generic ones give, for any stream body.

`openai.assemble` reads ordinary bodies with typed decoders (`openai_fast`) and leaves the
rest to `openai.assemble_generic` (every event parsed by orjson, as before); the two must
agree byte for byte on the answer, or on the error and its message, and on the events
dropped. Streams are generated around the usual shape with every kind of deviation:
unknown fields, tool calls, refusals, logprobs, several choices, in-band errors, broken
JSON, strange strings and numbers, comments, CRLF, missing ends.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from failsoft.dialects import anthropic, openai
from failsoft.dialects.base import CONTENT, ERROR, MALFORMED, PREAMBLE, TERMINAL
from failsoft.dialects.sse import SSEDecoder, SSEEvent

TEXT = st.lists(
    st.sampled_from(
        ["a", "b", " ", "é", "😀", "\n", '"', "\\", "\x00", "\u2028", "{", "}", ",", "data: "]
    ),
    max_size=6,
).map("".join)
HEAD_VALUES = st.sampled_from(
    ["chatcmpl-1", 1741569952, None, "gpt-4o", "default", "fp_1", 1.5, [], {"x": 1}, 2**63]
)
HEAD_KEYS = st.sampled_from(
    [
        "id",
        "object",
        "created",
        "model",
        "system_fingerprint",
        "service_tier",
        "obfuscation",
        "x_groq",
        "provider",
    ]
)


def _content() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"content": TEXT})


DELTAS = st.one_of(
    _content(),
    _content(),
    _content(),
    st.just({}),
    st.just({"role": "assistant", "content": "", "refusal": None}),
    st.just({"content": None}),
    st.just({"role": "assistant"}),
    st.fixed_dictionaries({"refusal": TEXT}),
    st.fixed_dictionaries({"reasoning_content": TEXT}),
    st.just({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": ""}}]}),
    st.fixed_dictionaries(
        {"tool_calls": st.just([{"index": 0, "function": {"arguments": '{"a"'}}])}
    ),
    st.just({"audio": {"id": "a"}}),
    st.just({"weird": 1}),
    st.just({"content": 5}),
    st.just([]),
    st.just(None),
)


@st.composite
def choices(draw: st.DrawFn) -> list[Any]:
    count = draw(st.sampled_from([1, 1, 1, 1, 0, 2]))
    out = []
    for n in range(count):
        choice: dict[str, Any] = {}
        index = draw(st.sampled_from([0, 0, 0, n, 1, None, 2**40, 2**63, 1.0, -1, "0"]))
        if draw(st.booleans()) or index != 0:
            choice["index"] = index
        choice["delta"] = draw(DELTAS)
        choice["logprobs"] = draw(
            st.sampled_from(
                [None, None, None, {"content": [{"token": "a"}]}, {}, [1], {"t": "BADUTF"}]
            )
        )
        choice["finish_reason"] = draw(
            st.sampled_from([None, None, None, None, "stop", "length", "", 1])
        )
        if draw(st.integers(0, 20)) == 0:
            choice["extra"] = 1
        out.append(choice)
    return out


@st.composite
def openai_events(draw: st.DrawFn) -> bytes:
    head = draw(st.dictionaries(HEAD_KEYS, HEAD_VALUES, max_size=4))
    events: list[bytes] = []
    for _ in range(draw(st.integers(0, 12))):
        obj: dict[str, Any] = {**head, "choices": draw(choices())}
        if draw(st.integers(0, 4)) == 0:
            obj["usage"] = draw(st.sampled_from([None, {"total_tokens": 3}, {}, 0]))
        if draw(st.integers(0, 15)) == 0:
            obj["error"] = draw(st.sampled_from([{"message": "x", "type": "t"}, "boom", None]))
            if draw(st.booleans()):
                obj["choices"] = []
        data = orjson.dumps(obj)
        events.append(data)
    # The usual end: a finish chunk, the usage chunk, [DONE].
    finish = {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    if draw(st.booleans()):
        events.append(orjson.dumps(finish))
    if draw(st.booleans()):
        events.append(orjson.dumps({**head, "choices": [], "usage": {"total_tokens": 9}}))
    events = [draw(_mangle(data)) for data in events]
    body = b"".join(b"data: " + data + b"\n\n" for data in events)
    if draw(st.booleans()):
        body += b"data: [DONE]\n\n"
    return draw(_frame(body))


@st.composite
def near_usual_openai(draw: st.DrawFn) -> bytes:
    """The usual stream with a few deviations: most bodies here take the fast path."""
    head = draw(st.dictionaries(HEAD_KEYS, HEAD_VALUES, max_size=3))
    usual = {"index": 0, "logprobs": None, "finish_reason": None}
    events = [
        orjson.dumps({**head, "choices": [{**usual, "delta": {"role": "assistant"}}]}),
        *(
            orjson.dumps({**head, "choices": [{**usual, "delta": {"content": text}}]})
            for text in draw(st.lists(TEXT, max_size=10))
        ),
    ]
    if draw(st.booleans()):
        events.append(
            orjson.dumps({**head, "choices": [{**usual, "delta": {}, "finish_reason": "stop"}]})
        )
    if draw(st.booleans()):
        events.append(orjson.dumps({**head, "choices": [], "usage": {"total_tokens": 9}}))
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(events)))
        weird = {**head, "choices": draw(choices())}
        if draw(st.integers(0, 3)) == 0:
            weird["usage"] = draw(
                st.sampled_from(
                    [None, {"total_tokens": 3}, {}, 0, {"n": "BADNUM"}, {"s": "BADUTF"}]
                )
            )
        if draw(st.integers(0, 6)) == 0:
            weird["error"] = draw(st.sampled_from([{"message": "x", "type": "t"}, "boom", None]))
        events.insert(at, orjson.dumps(weird))
    if events and draw(st.booleans()):
        at = draw(st.integers(0, len(events) - 1))
        events[at] = draw(_mangle(events[at], keep=0))
    body = b"".join(b"data: " + data + b"\n\n" for data in events)
    body = body.replace(b'"BADUTF"', b'"\xff"').replace(b'"BADNUM"', b"1e999")
    if draw(st.integers(0, 3)):
        body += b"data: [DONE]\n\n"
    return draw(_frame(body)) if draw(st.integers(0, 3)) == 0 else body


def _mangle(data: bytes, keep: int = 12) -> st.SearchStrategy[bytes]:
    return st.sampled_from(
        [data] * keep
        + [
            data[: len(data) // 2],
            data + b",{}",
            b" " + data + b" ",
            data.replace(b'"content":"', b'"content":"\\ud83d', 1),
            data.replace(b'"content":"', b'"content":"\xff', 1),
            data.replace(b'"model":"gpt-4o"', b'"model":"\xed\xa0\x80"', 1),
            data.replace(b"1741569952", b"1e999", 1),
            data.replace(b"1741569952", b"123456789012345678901234567890", 1),
            data.replace(b'"index":0', b'"index":0,"index":1', 1),
            data.replace(b'"choices":', b'"choices":[],"choices":', 1),
            b"",
            b"[DONE]",
            b"{}",
            b"[]",
        ]
    )


def _frame(body: bytes) -> st.SearchStrategy[bytes]:
    return st.sampled_from(
        [body] * 8
        + [
            body.replace(b"\n", b"\r\n"),
            b": keep-alive\n\n" + body,
            body.replace(b"\n\ndata: ", b"\n\n\ndata: ", 1),
            body.replace(b"\n\ndata: ", b"\ndata: ", 1),
            body[:-1],
            body[: len(body) // 2],
            body + b"data: {}",
            b"event: x\n" + body,
        ]
    )


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(near_usual_openai())
def test_openai_fast_assembly_matches_generic_near_the_usual(body: bytes) -> None:
    assert outcome(openai.assemble, body) == outcome(openai.assemble_generic, body)


def outcome(assemble: Any, body: bytes) -> tuple[Any, ...]:
    dropped: list[bytes] = []
    try:
        answer = assemble(body, dropped)
    except Exception as exc:  # every outcome is compared
        return ("raised", type(exc).__name__, str(exc), dropped)
    return ("answer", orjson.dumps(answer), dropped)


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(openai_events())
def test_openai_fast_assembly_matches_generic(body: bytes) -> None:
    assert outcome(openai.assemble, body) == outcome(openai.assemble_generic, body)


def usual_openai(tokens: int, *, usage: bool = True, done: bool = True) -> bytes:
    head = b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":'

    def chunk(delta: object, finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return head + orjson.dumps([choice]) + b',"usage":null}\n\n'

    parts = [chunk({"role": "assistant", "content": "", "refusal": None})]
    parts += [chunk({"content": f"w{n} "}) for n in range(tokens)]
    parts.append(chunk({}, "stop"))
    if usage:
        parts.append(head + b'[],"usage":{"total_tokens":5}}\n\n')
    if done:
        parts.append(b"data: [DONE]\n\n")
    return b"".join(parts)


def test_the_usual_stream_takes_the_fast_path() -> None:
    from failsoft.dialects import openai_fast

    for tokens in (0, 1, 5, 300):
        for usage in (True, False):
            body = usual_openai(tokens, usage=usage)
            assert openai_fast.decode(body) is not None
            assert outcome(openai.assemble, body) == outcome(openai.assemble_generic, body)
    answer = openai.assemble(usual_openai(3))
    assert answer["choices"][0]["message"]["content"] == "w0 w1 w2 "


def _corpus() -> list[bytes]:
    """Stream bodies written out in the dialect tests."""
    import ast
    import pathlib

    out = []
    for path in pathlib.Path(__file__).parent.glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            value = node.value if isinstance(node, ast.Constant) else None
            if isinstance(value, bytes) and b"data:" in value:
                out.append(value)
    return out


def test_corpus_bodies_agree() -> None:
    bodies = _corpus()
    assert bodies
    for body in bodies:
        assert outcome(openai.assemble, body) == outcome(openai.assemble_generic, body)
        if hasattr(anthropic, "assemble_generic"):
            assert outcome(anthropic.assemble, body) == outcome(anthropic.assemble_generic, body)


ANTHROPIC_DELTAS = st.one_of(
    *[st.fixed_dictionaries({"type": st.just("text_delta"), "text": TEXT})] * 6,
    st.just({"type": "text_delta"}),
    st.just({"type": "text_delta", "text": None}),
    st.just({"type": "text_delta", "text": "a", "extra": 1}),
    st.just({"type": "input_json_delta", "partial_json": '{"a":'}),
    st.just({"type": "thinking_delta", "thinking": "hm"}),
    st.just({"type": "signature_delta", "signature": "s"}),
    st.just({"text": "no type"}),
)


@st.composite
def anthropic_events(draw: st.DrawFn) -> bytes:
    """The usual Messages stream with a few deviations."""
    message = {"id": "msg_1", "type": "message", "role": "assistant", "content": []}
    events: list[tuple[str, Any]] = [
        ("message_start", {"type": "message_start", "message": message}),
    ]
    for block in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(["text", "text", "text", "tool_use", "thinking"]))
        start = {"type": kind, "text": ""} if kind == "text" else {"type": kind}
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": block, "content_block": start},
            )
        )
        if draw(st.booleans()):
            events.append(("ping", {"type": "ping"}))
        for _ in range(draw(st.integers(0, 8))):
            delta: dict[str, Any] = {"type": "content_block_delta", "delta": draw(ANTHROPIC_DELTAS)}
            index = draw(st.sampled_from([block, block, block, None, 7, -1, 2**40, "0"]))
            if index is not None:
                delta["index"] = index
            events.append(("content_block_delta", delta))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": block}))
    end = {"stop_reason": "end_turn", "stop_sequence": None}
    if draw(st.integers(0, 3)):
        events.append(
            (
                "message_delta",
                {"type": "message_delta", "delta": end, "usage": {"output_tokens": 3}},
            )
        )
    if draw(st.integers(0, 3)):
        events.append(("message_stop", {"type": "message_stop"}))
    if draw(st.integers(0, 5)) == 0:
        at = draw(st.integers(0, len(events)))
        events.insert(at, ("error", {"type": "error", "error": {"type": "x", "message": "m"}}))
    datas = [(name, orjson.dumps(obj)) for name, obj in events]
    if draw(st.booleans()):
        at = draw(st.integers(0, len(datas) - 1))
        name, data = datas[at]
        mangled = draw(
            st.sampled_from(
                [
                    data[: len(data) // 2],
                    data + b",{}",
                    data + b" {}",
                    b" " + data + b" ",
                    data.replace(b'"text":"', b'"text":"\\ud83d', 1),
                    data.replace(b'"text":"', b'"text":"\xff', 1),
                    data.replace(b'"type":"', b'"type":"x","type":"', 1),
                    data.replace(b'"text":"', b'"text":"a","text":"', 1),
                    b"",
                    b"{}",
                    b'{"type":"ping"}',
                ]
            )
        )
        datas[at] = (draw(st.sampled_from([name, "content_block_delta", "ping"])), mangled)
    blocks = []
    for name, data in datas:
        shape = draw(st.sampled_from(["event"] * 8 + ["data", "id", "nospace"]))
        if shape == "data":
            blocks.append(b"data: " + data + b"\n\n")
        elif shape == "id":
            blocks.append(b"event: " + name.encode() + b"\nid: 1\ndata: " + data + b"\n\n")
        elif shape == "nospace":
            blocks.append(b"event:" + name.encode() + b"\ndata: " + data + b"\n\n")
        else:
            blocks.append(b"event: " + name.encode() + b"\ndata: " + data + b"\n\n")
    body = b"".join(blocks)
    return draw(_frame(body)) if draw(st.integers(0, 4)) == 0 else body


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(anthropic_events())
def test_anthropic_fast_assembly_matches_generic(body: bytes) -> None:
    assert outcome(anthropic.assemble, body) == outcome(anthropic.assemble_generic, body)


def _reference_anthropic_feed(state: dict[str, Any], event: SSEEvent) -> int:
    """The Anthropic tracker as it was before the typed check (every event parsed)."""
    try:
        obj = orjson.loads(event.data)
    except orjson.JSONDecodeError:
        return MALFORMED
    state["last"] = obj
    if not isinstance(obj, dict):
        return MALFORMED
    kind = obj.get("type") or event.event
    if kind == "message_stop":
        state["complete"] = True
        return TERMINAL
    if kind == "error":
        return ERROR
    if kind in ("message_start", "ping", "content_block_start") or not isinstance(kind, str):
        return PREAMBLE
    if kind == "message_delta" and (obj.get("delta") or {}).get("stop_reason"):
        state["stopped"] = True
    return CONTENT


@settings(max_examples=800, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(near_usual_openai(), openai_events()))
def test_openai_tracker_matches_generic(body: bytes) -> None:
    typed, generic = openai.Tracker(), openai.Tracker()
    generic.typed = False
    for event in SSEDecoder().feed(body):
        assert typed.feed(event) == generic.feed(event)
        assert orjson.dumps(typed.last) == orjson.dumps(generic.last)
        assert (typed.seen, typed.finished, typed.usage, typed.done) == (
            generic.seen,
            generic.finished,
            generic.usage,
            generic.done,
        )


@settings(max_examples=800, deadline=None, suppress_health_check=list(HealthCheck))
@given(anthropic_events())
def test_anthropic_tracker_matches_generic(body: bytes) -> None:
    tracker = anthropic.Tracker()
    state: dict[str, Any] = {"last": None, "complete": False, "stopped": False}
    for event in SSEDecoder().feed(body):
        assert tracker.feed(event) == _reference_anthropic_feed(state, event)
        assert orjson.dumps(tracker.last) == orjson.dumps(state["last"])
        assert (tracker.complete, tracker.stopped) == (state["complete"], state["stopped"])


def _events(chunks: list[Any]) -> int:
    """How many events decoded chunks stand for (a `Run` is one per text)."""
    from failsoft.dialects.template import Run

    return sum(len(c.strings) if isinstance(c, Run) else 1 for c in chunks)


def test_large_bodies_decode_by_segments_as_generic() -> None:
    """Bodies larger than one decoding segment, with a deviation late in the body."""
    from failsoft.dialects import openai_fast

    body = usual_openai(3000)
    assert len(body) > 3 * openai_fast._SEGMENT
    fast = openai_fast.decode(body)
    assert fast is not None and not fast.raw and _events(fast.chunks) == 3001
    assert len(fast.chunks) == 2  # the 3,000 text events as one run, the finish chunk
    done = body.rfind(b"\n\ndata: ", 0, len(body) - 2)
    first, last = body.find(b"\n\ndata: "), body.rfind(b"\n\ndata: ", 0, done)
    chunks = openai_fast._middle(body, first, last, openai_fast._USUAL)  # the per-event way
    assert chunks is not None and len(chunks) == 3001
    assert outcome(openai.assemble, body) == outcome(openai.assemble_generic, body)
    marker = b'{"content":"w2900 "}'
    assert marker in body
    for replacement in (
        b'{"content":"w2900 "},"logprobs":{"content":[]},"x":null',  # unknown choice field
        b'{"content":"w2900 ","tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}',
        b'{"content":"\\ud83d"}',
        b'{"content":"w2900 "}}]}\n\ndata: {"choices":[]',
    ):
        changed = body.replace(marker, replacement)
        assert outcome(openai.assemble, changed) == outcome(openai.assemble_generic, changed)
    with_logprobs = body.replace(
        b'"w2900 "},"logprobs":null', b'"w2900 "},"logprobs":{"content":[{"token":"w"}]}'
    )
    assert with_logprobs != body
    assert outcome(openai.assemble, with_logprobs) == outcome(
        openai.assemble_generic, with_logprobs
    )
    fast = openai_fast.decode(with_logprobs)
    assert fast is not None and fast.raw
    answer = openai.assemble(with_logprobs)
    assert answer["choices"][0]["logprobs"] == {"content": [{"token": "w"}]}


_OPENAI_FIRST = (
    b'data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":'
    b'[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n'
)
_OPENAI_LAST = (
    b'data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":'
    b'[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    b'data: {"id":"x","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,'
    b'"total_tokens":3}}\n\ndata: [DONE]\n\n'
)
_ANTHROPIC_FIRST = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","type":'
    b'"message","role":"assistant","model":"c","content":[],"stop_reason":null,'
    b'"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}}\n\n'
    b"event: content_block_start\ndata: "
    b'{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n'
)
_ANTHROPIC_LAST = (
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn",'
    b'"stop_sequence":null},"usage":{"output_tokens":2}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)


def test_events_that_are_no_object_alone_are_malformed_even_when_joined_they_parse() -> None:
    """Events whose JSON is only valid joined to its neighbours (into an array by commas, or
    as a sequence across lines) are broken events, on every path: each event is parsed as
    itself. Both paths once read these as one answer, or raised a raw JSON error."""
    openai_middle = (
        b'data: {"choices":[{"delta":{"content":"a"}}\n\n'
        b'data: {"delta":{"content":"b"}}]},{"choices":[{"delta":{"content":"c"}}]}\n\n'
        b'data: {"choices":[{"delta":{"content":"d"}}]}\n\n'
    )
    anthropic_middle = (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":\n\n'
        b'event: content_block_delta\ndata: {"type":"text_delta","text":"x"}} '
        b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"y"}}\n\n'
    )
    for module, body in [
        (openai, _OPENAI_FIRST + openai_middle + _OPENAI_LAST),
        (anthropic, _ANTHROPIC_FIRST + anthropic_middle + _ANTHROPIC_LAST),
    ]:
        fast, generic = outcome(module.assemble, body), outcome(module.assemble_generic, body)
        assert fast == generic
        assert fast[:2] == ("raised", "MalformedEvent")
