"""The Gemini and Responses fast assembly paths give exactly what the generic ones give.

`gemini.assemble` reads ordinary bodies with typed decoders (`gemini_fast`), and
`responses.assemble` skips the typed decode of deltas (`responses_fast`); anything else
goes to `assemble_generic` (every event parsed by orjson, as before). The two must agree
byte for byte on the answer, or on the error and its message, and on the events dropped.
Streams are generated around the usual shape with every kind of deviation.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from failsoft.dialects import gemini, gemini_fast, responses

TEXT = st.lists(
    st.sampled_from(
        ["a", "b", " ", "é", "😀", "\n", '"', "\\", "\x00", "\u2028", "{", "}", "}\t{", "data: "]
    ),
    max_size=5,
).map("".join)


def outcome(assemble: Any, body: bytes) -> tuple[Any, ...]:
    dropped: list[bytes] = []
    try:
        answer = assemble(body, dropped)
    except Exception as exc:  # every outcome is compared
        return ("raised", type(exc).__name__, str(exc), dropped)
    return ("answer", orjson.dumps(answer), dropped)


# ------------------------------------------------------------------------------ Gemini

TEXT_PART = st.fixed_dictionaries({"text": TEXT})
PARTS = st.one_of(
    *[TEXT_PART] * 12,
    st.just({"text": None}),
    st.just({}),
    st.fixed_dictionaries({"text": TEXT, "thought": st.sampled_from([True, False, None, 1])}),
    st.fixed_dictionaries({"thought": st.just(True), "text": TEXT}),
    st.fixed_dictionaries({"text": TEXT, "thoughtSignature": st.sampled_from(["c2ln", 5, None])}),
    st.just({"functionCall": {"name": "f", "args": {"a": 1}}}),
    st.just({"functionCall": {"name": "f", "args": {}}, "thoughtSignature": ["x"]}),
    st.just({"inlineData": {"mimeType": "image/png", "data": "AA=="}}),
    st.just({"text": 5}),
    st.just({"text": "a", "weird": 1}),
    st.just("text"),
    st.just(["text"]),
    st.just(None),
)
PLAIN_PARTS = st.one_of(
    *[TEXT_PART] * 6,
    st.fixed_dictionaries({"text": TEXT, "thought": st.booleans()}),
    st.fixed_dictionaries({"thought": st.just(True), "text": TEXT}),
    st.fixed_dictionaries({"text": TEXT, "thoughtSignature": st.just("c2ln")}),
    st.fixed_dictionaries(
        {"thoughtSignature": st.just("c2ln"), "text": TEXT, "thought": st.just(True)}
    ),
)
"""Parts the typed decoder takes."""
USAGE = st.sampled_from(
    [{"promptTokenCount": 5, "totalTokenCount": 5}] * 8
    + [
        {
            "promptTokenCount": 5,
            "candidatesTokenCount": 2,
            "totalTokenCount": 7,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 5}],
        },
        {"totalTokenCount": 7, "promptTokenCount": 5, "thoughtsTokenCount": 9},
        {"promptTokenCount": 5, "newCount": 1},
        {"promptTokenCount": "BADNUM"},
        {"promptTokenCount": "BIGINT"},
        {"trafficType": "BADUTF"},
        {},
        None,
        0,
        "x",
    ]
)
SAFETY = [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}]
CANDIDATE_EXTRAS = st.sampled_from(
    [
        {},
        {},
        {},
        {"finishReason": "STOP"},
        {"finishReason": "MAX_TOKENS"},
        {"finishReason": "SAFETY", "safetyRatings": SAFETY},
        {"finishReason": ""},
        {"finishReason": None},
        {"finishReason": 1},
        {"safetyRatings": SAFETY},
        {"safetyRatings": "BADUTF"},
        {"citationMetadata": {"citationSources": []}},
        {"avgLogprobs": -0.5},
        {"avgLogprobs": "BADNUM"},
        {"finishMessage": "x", "finishReason": "OTHER"},
        {"unknownField": 1},
    ]
)

FINAL_EXTRAS = st.sampled_from(
    [
        {"finishReason": "STOP"},
        {"finishReason": "MAX_TOKENS"},
        {"finishReason": "SAFETY", "safetyRatings": SAFETY},
        {"safetyRatings": SAFETY, "finishReason": "STOP"},
        {"finishReason": "RECITATION", "citationMetadata": {"citationSources": []}},
    ]
)


@st.composite
def gemini_candidate(draw: st.DrawFn) -> Any:
    shape = draw(st.integers(0, 30))
    if shape == 0:
        return draw(st.sampled_from(["c", 1, None, []]))
    candidate: dict[str, Any] = {}
    content = draw(
        st.sampled_from(["parts", "parts", "parts", "parts", "none", "null", "empty", "odd"])
    )
    if content == "parts":
        parts = draw(st.lists(PARTS, min_size=0, max_size=3))
        body: dict[str, Any] = {"parts": parts}
        if draw(st.booleans()):
            body["role"] = draw(st.sampled_from(["model", None, 1]))
        candidate["content"] = body
    elif content == "null":
        candidate["content"] = None
    elif content == "empty":
        candidate["content"] = draw(st.sampled_from([{}, {"parts": None}, {"parts": []}]))
    elif content == "odd":
        candidate["content"] = draw(st.sampled_from(["x", [], {"parts": "ab"}, {"x": 1}]))
    candidate.update(draw(CANDIDATE_EXTRAS))
    if draw(st.integers(0, 3)):
        candidate["index"] = draw(st.sampled_from([0] * 12 + [1, None, 2**63, -1, 1.5, "0"]))
    return candidate


@st.composite
def gemini_chunk(draw: st.DrawFn, final: bool = False) -> dict[str, Any]:
    chunk: dict[str, Any] = {}
    count = draw(st.sampled_from([1, 1, 1, 1, 1, 0, 2, None]))
    if count is None:
        chunk["candidates"] = draw(st.sampled_from([None, "x", {}]))
    else:
        chunk["candidates"] = [draw(gemini_candidate()) for _ in range(count)]
    if final and chunk.get("candidates") and type(chunk["candidates"][0]) is dict:
        chunk["candidates"][0]["finishReason"] = draw(st.sampled_from(["STOP", "MAX_TOKENS"]))
    if draw(st.integers(0, 3)):
        chunk["usageMetadata"] = draw(USAGE)
    for key, values in (
        ("modelVersion", ["gemini-2.5-flash"] * 8 + [None, 1, "BADUTF"]),
        ("responseId", ["r1"] * 4 + ["r2"] * 4 + [None, [1]]),
        ("createTime", ["2025-01-01T00:00:00Z"] * 8 + [5]),
    ):
        if draw(st.integers(0, 2)):
            chunk[key] = draw(st.sampled_from(values))
    if draw(st.integers(0, 12)) == 0:
        chunk["promptFeedback"] = draw(
            st.sampled_from([{"blockReason": "SAFETY"}, {}, None, {"blockReason": ""}, "x"])
        )
    if draw(st.integers(0, 12)) == 0:
        chunk["error"] = draw(
            st.sampled_from(
                [{"code": 500, "message": "boom", "status": "INTERNAL"}, "boom", None, {}]
            )
        )
        if draw(st.booleans()):
            chunk.pop("candidates", None)
    if draw(st.integers(0, 20)) == 0:
        chunk["unknownTop"] = 1
    return chunk


def _gemini_mangle(data: bytes, keep: int) -> st.SearchStrategy[bytes]:
    return st.sampled_from(
        [data] * keep
        + [
            data[: len(data) // 2],
            data + b",{}",
            data + b" {}",
            b" " + data + b" ",
            data.replace(b'"text":"', b'"text":"\\ud83d', 1),
            data.replace(b'"text":"', b'"text":"\xff', 1),
            data.replace(b'"text":"', b'"text":"\t', 1),
            data.replace(b'"text":"', b'"text":"a","text":"', 1),
            data.replace(b'"parts":', b'"parts":null,"parts":', 1),
            data.replace(b'"usageMetadata":', b'"usageMetadata":null,"usageMetadata":', 1),
            data.replace(b'"promptTokenCount":5', b'"promptTokenCount":1e999', 1),
            data.replace(b":", b":\t", 1),
            b"",
            b"{}",
            b"[]",
            b"null",
        ]
    )


def _gemini_frame(body: bytes) -> st.SearchStrategy[bytes]:
    crlf = body.replace(b"\n", b"\r\n")
    return st.sampled_from(
        [body] * 4
        + [crlf] * 4
        + [
            b": keep-alive\n\n" + body,
            body.replace(b"\n\ndata: ", b"\n\n\ndata: ", 1),
            body.replace(b"\n\ndata: ", b"\ndata: ", 1),
            body.replace(b"\n\ndata: ", b"\r\n\r\ndata: ", 1),
            crlf.replace(b"\r\n\r\ndata: ", b"\n\ndata: ", 1),
            crlf.replace(b"\r\n\r\ndata: ", b"\r\r\ndata: ", 1),
            body[:-1],
            body[: len(body) // 2],
            body + b"data: {}",
            b"event: x\n" + body,
            body.replace(b"data: ", b"data:", 1),
        ]
    )


def _plain_chunk(parts: list[Any]) -> dict[str, Any]:
    candidate = {"content": {"parts": parts, "role": "model"}, "index": 0}
    usage = {"promptTokenCount": 5, "totalTokenCount": 5}
    return {
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": "g",
        "responseId": "r1",
    }


@st.composite
def gemini_bodies(draw: st.DrawFn) -> bytes:
    """Anything from the usual stream to nonsense: plain text chunks with a few chunks of
    any fields and values among them, or only those; cut, mangled, reframed."""
    wild = draw(st.integers(0, 3)) == 0
    events: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, 8))):
        if wild:
            events.append(draw(gemini_chunk()))
        else:
            events.append(_plain_chunk(draw(st.lists(PLAIN_PARTS, min_size=0, max_size=2))))
    for _ in range(0 if wild else draw(st.sampled_from([0, 0, 1, 1, 2]))):
        events.insert(draw(st.integers(0, len(events))), draw(gemini_chunk()))
    end = draw(st.integers(0, 5))
    if end == 1:
        events.append(draw(gemini_chunk(final=True)))
    elif end:
        final = _plain_chunk(draw(st.lists(TEXT_PART, min_size=0, max_size=1)))
        final["candidates"][0].update(draw(FINAL_EXTRAS))
        if draw(st.booleans()):
            final["usageMetadata"] = {"promptTokenCount": 5, "candidatesTokenCount": 2}
        events.append(final)
    datas = [orjson.dumps(event) for event in events]
    if datas and draw(st.integers(0, 4)) == 0:
        at = draw(st.integers(0, len(datas) - 1))
        datas[at] = draw(_gemini_mangle(datas[at], keep=0))
    body = b"".join(b"data: " + data + b"\n\n" for data in datas)
    body = body.replace(b'"BADUTF"', b'"\xff"').replace(b'"BADNUM"', b"1e999")
    body = body.replace(b'"BIGINT"', b"18446744073709551616")
    return draw(_gemini_frame(body)) if draw(st.integers(0, 3)) == 0 else body


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(gemini_bodies())
def test_gemini_fast_assembly_matches_generic(body: bytes) -> None:
    assert outcome(gemini.assemble, body) == outcome(gemini.assemble_generic, body)


def gemini_usual(tokens: int, crlf: bool = True) -> bytes:
    def chunk(text: str, finish: str | None = None) -> bytes:
        candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}}
        if finish:
            candidate["finishReason"] = finish
        candidate["index"] = 0
        usage = {"promptTokenCount": 3, "totalTokenCount": 3}
        obj = {"candidates": [candidate], "usageMetadata": usage, "modelVersion": "g"}
        return b"data: " + orjson.dumps(obj) + (b"\r\n\r\n" if crlf else b"\n\n")

    return b"".join([chunk(f"w{n} ") for n in range(tokens)] + [chunk("", "STOP")])


def test_the_usual_gemini_stream_takes_the_typed_path() -> None:
    for tokens in (0, 1, 5, 300):
        for crlf in (True, False):
            body = gemini_usual(tokens, crlf)
            events = gemini_fast.decode(body)
            assert events is not None
            assert all(type(e) is gemini_fast.Chunk for e in events[1:-1])
            thinking = body.replace(
                b'"parts":[{"text":"w1 "}', b'"parts":[{"thought":true,"text":"w1 "}'
            )
            assert all(type(e) is gemini_fast.Chunk for e in gemini_fast.decode(thinking)[1:-1])
            assert outcome(gemini.assemble, thinking) == outcome(gemini.assemble_generic, thinking)
            assert outcome(gemini.assemble, body) == outcome(gemini.assemble_generic, body)
    answer = gemini.assemble(gemini_usual(3))
    assert answer["candidates"][0]["content"]["parts"] == [{"text": "w0 w1 w2 "}]


def test_gemini_events_that_only_add_up_to_objects_when_joined_go_generic() -> None:
    """Events that are no JSON object each, but read as the right number of objects when
    joined (`{"a":` + `1} {}`), are the generic path's to judge."""
    head = b'data: {"candidates":[{"content":{"parts":[{"text":"a"}]},"finishReason":'
    body = head + b'\n\ndata: "STOP"}]} {}\n\n'
    assert gemini_fast.decode(body) is None
    assert outcome(gemini.assemble, body) == outcome(gemini.assemble_generic, body)


# --------------------------------------------------------------------------- Responses

WHERE = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
DELTA_EVENTS = st.one_of(
    *[
        st.builds(
            lambda text: {
                "type": "response.output_text.delta",
                **WHERE,
                "delta": text,
                "logprobs": [],
                "obfuscation": "ab",
            },
            TEXT,
        )
    ]
    * 8,
    st.builds(
        lambda text: {
            "type": "response.function_call_arguments.delta",
            "item_id": "fc_1",
            "output_index": 1,
            "delta": text,
        },
        TEXT,
    ),
    st.builds(
        lambda text: {
            "type": "response.reasoning_summary_text.delta",
            "item_id": "rs_1",
            "output_index": 0,
            "summary_index": 0,
            "delta": text,
        },
        TEXT,
    ),
    st.sampled_from(
        [
            {"type": "response.output_text.delta", **WHERE, "delta": None},
            {"type": "response.output_text.delta", **WHERE, "delta": 5},
            {"type": "response.output_text.delta", **WHERE, "delta": "BADUTF"},
            {"type": "response.output_text.delta", **WHERE, "delta": "a", "logprobs": [{"t": 1}]},
            {"type": "response.output_text.delta", **WHERE, "delta": "a", "extra": 1},
            {"type": "response.output_text.delta", "sequence_number": "BIGINT", "delta": "a"},
            {"type": "response.output_text.delta", "output_index": "BADNUM", "delta": "a"},
            {"type": "response.completed", "response": {"id": "early", "output": []}},
            {"type": "error", "code": "server_error", "message": "boom"},
            {"type": "response.output_item.done", "output_index": 0, "item": {"id": "x"}},
            {"type": "response.output_text.done", **WHERE, "text": "all"},
            {"delta": "no type"},
        ]
    ),
)
RESPONSE = {"id": "resp_1", "object": "response", "status": "in_progress", "output": []}
ITEM = {"id": "msg_1", "type": "message", "role": "assistant", "content": []}
ENDS = st.sampled_from(
    [
        {"type": "response.completed", "response": {**RESPONSE, "status": "completed"}},
        {
            "type": "response.completed",
            "response": {**RESPONSE, "output": [ITEM], "usage": {"total_tokens": 3}},
        },
        {"type": "response.incomplete", "response": {**RESPONSE, "status": "incomplete"}},
        {"type": "response.failed", "response": {"error": {"code": "x", "message": "m"}}},
        {"type": "error", "code": "rate_limit_exceeded", "message": "slow down"},
        {"type": "response.completed", "response": None},
        {"type": "response.completed"},
    ]
)


@st.composite
def responses_bodies(draw: st.DrawFn) -> bytes:
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": RESPONSE},
        {"type": "response.in_progress", "response": RESPONSE},
        {"type": "response.output_item.added", "output_index": 0, "item": ITEM},
    ]
    events += draw(st.lists(DELTA_EVENTS, max_size=10))
    if draw(st.booleans()):
        events.append({"type": "response.output_item.done", "output_index": 0, "item": ITEM})
    if draw(st.integers(0, 5)):
        events.append(draw(ENDS))
    if draw(st.integers(0, 3)) == 0:
        events += draw(st.lists(DELTA_EVENTS, max_size=2))
    for number, event in enumerate(events):
        event.setdefault("sequence_number", number)
    datas = [orjson.dumps(event) for event in events]
    if draw(st.integers(0, 3)) == 0:
        at = draw(st.integers(0, len(datas) - 1))
        datas[at] = draw(_responses_mangle(datas[at]))
    names = [
        draw(st.sampled_from([event.get("type", "x"), "response.output_text.delta", None]))
        if draw(st.integers(0, 10)) == 0
        else event.get("type")
        for event in events
    ]
    body = b"".join(
        (b"" if name is None else b"event: " + str(name).encode() + b"\n")
        + b"data: "
        + data
        + b"\n\n"
        for name, data in zip(names, datas, strict=True)
    )
    body = body.replace(b'"BADUTF"', b'"\xff"').replace(b'"BADNUM"', b"1e999")
    body = body.replace(b'"BIGINT"', b"18446744073709551616")
    return draw(_responses_frame(body)) if draw(st.integers(0, 3)) == 0 else body


def _responses_mangle(data: bytes) -> st.SearchStrategy[bytes]:
    return st.sampled_from(
        [
            data[: len(data) // 2],
            data + b" {}",
            data + b"\t{}",
            b" " + data,
            data.replace(b'"delta":"', b'"delta":"\\ud83d', 1),
            data.replace(b'"delta":"', b'"delta":"\xff', 1),
            data.replace(b'"delta":"', b'"delta":"\t', 1),
            data.replace(b":", b":\t", 1),
            data.replace(b'"type":', b'"type":"response.completed","type":', 1),
            data.replace(b'"type":"response.output_text.delta"', b'"type":"error"', 1),
            b"{}",
            b"[]",
            b"",
        ]
    )


def _responses_frame(body: bytes) -> st.SearchStrategy[bytes]:
    return st.sampled_from(
        [
            body.replace(b"\n", b"\r\n"),
            b": keep-alive\n\n" + body,
            body.replace(b"\n\nevent: ", b"\n\n: c\n\nevent: ", 1),
            body.replace(b"\n\nevent: ", b"\n\n\nevent: ", 1),
            body.replace(b"\n\nevent: ", b"\nevent: ", 1),
            body.replace(b"\ndata: ", b"\nid: 1\ndata: ", 1),
            body.replace(b"}\n\n", b"}\ndata: {}\n\n", 1),
            body.replace(b"}\n\n", b"}\n{}\n\n", 1),
            body[:-1],
            body[: len(body) // 2],
            body + b"data: {}",
        ]
    )


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(responses_bodies())
def test_responses_fast_assembly_matches_generic(body: bytes) -> None:
    assert outcome(responses.assemble, body) == outcome(responses.assemble_generic, body)


def test_the_usual_responses_stream_skips_its_deltas() -> None:
    from failsoft.dialects import responses_fast

    events = [
        {"type": "response.created", "response": RESPONSE},
        *(
            {"type": "response.output_text.delta", **WHERE, "delta": f"w{n}", "logprobs": []}
            for n in range(50)
        ),
        {"type": "response.completed", "response": {**RESPONSE, "output": [ITEM]}},
    ]
    body = b"".join(
        b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n" for e in events
    )
    objs = responses_fast.decode(body)
    assert objs is not None and len(objs) == 2
    assert outcome(responses.assemble, body) == outcome(responses.assemble_generic, body)
    # A delta that does not parse sends the body the generic way.
    cut = body.replace(b'"delta":"w3"', b'"delta":', 1).replace(
        b'"delta":"w4"', b'"delta":"w3"} {}', 1
    )
    assert responses_fast.decode(cut) is None


def test_gemini_typed_text_after_an_odd_part_gives_the_generic_error() -> None:
    """A part the generic path added whose text is no string, and typed text after it:
    the fast path gives up, and the generic path's error stands (parts that are no object
    never reach it: the raw decoder refuses them)."""
    for odd in (b'{"text":null}', b'{"text":"a","thought":"yes"}', b'{"text":"a","x":1}'):
        first = b'data: {"candidates":[{"content":{"parts":[' + odd + b"]}}]}\n\n"
        plain = b'data: {"candidates":[{"content":{"parts":[{"text":"b"}]}}]}\n\n'
        last = b'data: {"candidates":[{"content":{"parts":[]},"finishReason":"STOP"}]}\n\n'
        body = first + plain + plain + last
        assert (gemini_fast.decode(body) is None) == (b'"x"' in odd)
        assert outcome(gemini.assemble, body) == outcome(gemini.assemble_generic, body)
