"""Hypothesis strategies for what a caller can send: near-valid requests of each dialect,
mutated (wrong types, deep nesting, huge strings, unicode and control characters, unknown
fields and part types, stream on and off), raw bytes, and odd headers."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from tests.fuzz.conftest import MODELS

JSON = [(b"content-type", b"application/json")]

VALID: list[tuple[str, bytes]] = [
    (path, json.dumps(body).encode())
    for path, body in [
        ("/v1/chat/completions", {"model": "gpt", "messages": [{"role": "user", "content": "hi"}]}),
        ("/v1/chat/completions", {"model": "claude", "messages": [{"role": "user", "content": "hi"}]}),
        ("/v1/messages", {"model": "claude", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}),
        ("/v1/messages", {"model": "gpt", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}),
        ("/v1/responses", {"model": "resp", "input": "hi"}),
        ("/v1/responses", {"model": "gem", "input": "hi"}),
        ("/v1beta/models/gem:generateContent", {"contents": [{"parts": [{"text": "hi"}]}]}),
        ("/v1beta/models/claude:generateContent", {"contents": [{"parts": [{"text": "hi"}]}]}),
    ]
]  # fmt: skip
"""One good request per surface, translated and not: the warm-up before the idle RSS."""

text = st.one_of(
    st.sampled_from(["", "hi", "x" * 300, "é ü 漢字 🙂", "a\r\nb", "\x00\x1b[31m", "\u202e\ufeff"]),
    st.text(max_size=40),
    st.text(st.characters(codec="utf-8", categories=["Cc", "Cs", "Co", "Zl", "Zp"]), max_size=10),
    st.integers(1_000, 300_000).map(lambda n: "y" * n),
)
"""Strings a caller might send: empty, long, huge, unicode, control characters, lone
surrogates (escaped in JSON), bidi and BOM characters."""

scalar = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False), text,
)  # fmt: skip
junk: st.SearchStrategy[Any] = st.recursive(
    scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def deep(draw: st.DrawFn) -> Any:
    """A value nested past any sane depth (the door's limit is 128)."""
    depth = draw(st.sampled_from([100, 127, 129, 200, 260, 600, 3000]))
    leaf: Any = draw(scalar)
    for _ in range(depth):
        leaf = [leaf] if draw(st.booleans()) else {"a": leaf}
    return leaf


odd = junk
"""A wrong value: any JSON (`mutated` also puts values nested far too deep)."""


def _knobs(bad: bool) -> tuple[Any, Any, Any, dict[str, Any]]:
    """`(v, model, stream, sampling)` for well-formed requests (`bad` false: every field a
    value its API takes, text still anything) or ill-formed ones (each field now and then
    any JSON, model names of any length and character)."""

    def v(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(valid, odd) if bad else valid

    model = (
        st.one_of(
            st.sampled_from(MODELS),
            st.sampled_from(["openai/gpt-4o", "anthropic/x", "nope", ""]),
            text,
        )
        if bad
        else st.sampled_from(MODELS)
    )
    sampling = {"temperature": v(st.floats(0, 2)), "top_p": v(st.floats(0, 1)),
                "unknown_" + "field": odd, "metadata": v(st.just({"k": "v"}))}  # fmt: skip
    return v, model, v(st.booleans()), sampling


PART_TYPES = ["text", "image_url", "image", "input_text", "input_image", "tool_use",
              "tool_result", "document", "thinking", "hologram", "file", "refusal"]  # fmt: skip


def part(text_key: str = "text") -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"type": st.sampled_from(PART_TYPES), text_key: text},
        optional={"image_url": st.one_of(st.just({"url": "data:image/png;base64,AAAA"}), odd),
                  "source": odd, "id": text, "name": text, "input": odd, "content": odd,
                  "tool_use_id": text, "cache_control": st.just({"type": "ephemeral"})},
    )  # fmt: skip


content = st.one_of(text, text, st.lists(part(), max_size=3))
role = st.one_of(
    st.sampled_from(["user", "assistant"]),
    st.sampled_from(["user", "assistant", "system", "tool", "developer", "model"]),
    text,
)
openai_message = st.fixed_dictionaries(
    {"role": role, "content": st.one_of(content, st.none())},
    optional={"tool_calls": st.lists(st.fixed_dictionaries(
        {"id": text, "type": st.just("function"),
         "function": st.fixed_dictionaries({"name": text, "arguments": st.one_of(text, odd)})}),
        max_size=2), "tool_call_id": text, "name": text},
)  # fmt: skip
tool_openai = st.fixed_dictionaries(
    {"type": st.sampled_from(["function", "web_search", "custom"]),
     "function": st.fixed_dictionaries({"name": text}, optional={"parameters": odd})}
)  # fmt: skip
tool_anthropic = st.fixed_dictionaries(
    {"name": text}, optional={"input_schema": odd, "type": text, "description": text}
)


def _openai(bad: bool) -> st.SearchStrategy[dict[str, Any]]:
    v, model, stream, sampling = _knobs(bad)
    return st.fixed_dictionaries(
        {"model": model, "messages": st.lists(openai_message, min_size=1, max_size=4)},
        optional={"stream": stream, "max_tokens": v(st.integers(1, 500)),
                  "max_completion_tokens": v(st.integers(1, 500)),
                  "tools": v(st.lists(tool_openai, max_size=2)),
                  "tool_choice": v(st.sampled_from(["auto", "none", "required"])),
                  "n": v(st.just(1)), "response_format": v(st.just({"type": "json_object"})),
                  "stream_options": v(st.just({"include_usage": True})),
                  "reasoning_effort": v(st.sampled_from(["low", "high"])),
                  "stop": v(st.lists(text, max_size=2)), **sampling},
    )  # fmt: skip


def _anthropic(bad: bool) -> st.SearchStrategy[dict[str, Any]]:
    v, model, stream, sampling = _knobs(bad)
    message = st.fixed_dictionaries({"role": role, "content": content})
    return st.fixed_dictionaries(
        {"model": model, "max_tokens": v(st.integers(1, 2000)),
         "messages": st.lists(message, min_size=1, max_size=4)},
        optional={"stream": stream, "system": v(st.one_of(text, st.lists(part(), max_size=2))),
                  "tools": v(st.lists(tool_anthropic, max_size=2)),
                  "tool_choice": v(st.just({"type": "auto"})),
                  "thinking": v(st.just({"type": "enabled", "budget_tokens": 1024})),
                  "stop_sequences": v(st.lists(text, max_size=2)), "top_k": v(st.integers(1, 9)),
                  **sampling},
    )  # fmt: skip


def _responses(bad: bool) -> st.SearchStrategy[dict[str, Any]]:
    v, model, stream, sampling = _knobs(bad)
    item = st.fixed_dictionaries(
        {"type": st.sampled_from(["message", "function_call", "function_call_output",
                                  "reasoning", "item_reference", "mystery"]),
         "role": role, "content": st.one_of(content, st.lists(part(), max_size=2))},
        optional={"call_id": text, "name": text, "arguments": text, "output": odd, "id": text},
    )  # fmt: skip
    return st.fixed_dictionaries(
        {"model": model, "input": st.one_of(text, st.lists(item, max_size=4))},
        optional={"stream": stream, "instructions": v(text),
                  "max_output_tokens": v(st.integers(1, 500)),
                  "tools": v(st.lists(tool_openai | tool_anthropic, max_size=2)),
                  "reasoning": v(st.just({"effort": "low"})), "text": v(st.just({"format": {"type": "text"}})), "store": v(st.booleans()),
                  "previous_response_id": v(st.just("resp_never_seen")),
                  "tool_choice": v(st.sampled_from(["auto", "none", "required"])), **sampling},
    )  # fmt: skip


def _gemini(bad: bool) -> st.SearchStrategy[dict[str, Any]]:
    v = _knobs(bad)[0]
    gpart = st.one_of(
        st.fixed_dictionaries({"text": text}),
        st.fixed_dictionaries({"functionCall": st.fixed_dictionaries({"name": text, "args": odd})}),
        st.fixed_dictionaries({"functionResponse": st.fixed_dictionaries({"name": text, "response": odd})}),
        st.fixed_dictionaries({"inlineData": st.fixed_dictionaries({"mimeType": text, "data": text})}),
        st.dictionaries(st.text(max_size=10), odd, max_size=2),
    )  # fmt: skip
    gcontent = st.fixed_dictionaries(
        {"parts": v(st.lists(gpart, max_size=3))}, optional={"role": role}
    )
    return st.fixed_dictionaries(
        {"contents": v(st.lists(gcontent, min_size=1, max_size=3))},
        optional={"systemInstruction": v(gcontent), "tools": odd,
                  "toolConfig": v(st.just({"functionCallingConfig": {"mode": "AUTO"}})),
                  "generationConfig": v(st.fixed_dictionaries(
                      {}, optional={"maxOutputTokens": v(st.integers(1, 500)),
                                    "temperature": v(st.floats(0, 2)),
                                    "stopSequences": v(st.lists(text, max_size=2))})),
                  "safetySettings": odd, "system_instruction": odd},
    )  # fmt: skip


SHAPES = {"openai": _openai, "anthropic": _anthropic, "responses": _responses, "gemini": _gemini}


@st.composite
def mutated(draw: st.DrawFn, shape: st.SearchStrategy[dict[str, Any]]) -> Any:
    """A near-valid request with a few values replaced somewhere in its tree."""
    body: Any = draw(shape)
    for _ in range(draw(st.sampled_from([0, 0, 1, 2, 3]))):
        node = body
        while isinstance(node, dict | list) and node and draw(st.booleans()):
            key = draw(st.sampled_from(list(node) if isinstance(node, dict) else range(len(node))))
            if not isinstance(node[key], dict | list) or draw(st.booleans()):
                node[key] = draw(deep() if draw(st.integers(0, 7)) == 5 else odd)
                break
            node = node[key]
        else:
            if isinstance(node, dict):
                node[draw(st.sampled_from(["type", "content", "role", "zz_new"]))] = draw(odd)
    return body


def encoded(value: Any) -> bytes:
    try:
        # Escaped (\\ud800: valid JSON, a lone surrogate) or raw (invalid UTF-8), by turns.
        raw = json.dumps(value, ensure_ascii=len(str(value)) % 2 == 0)
        return raw.encode("utf-8", "surrogatepass")
    except RecursionError:
        return b"[" * 5000  # a body too deep for the stdlib encoder: deep brackets anyway


def body(dialect: str) -> st.SearchStrategy[bytes]:
    """A body for a `dialect` surface: mostly mutated near-valid requests, some raw bytes."""
    good, bad = SHAPES[dialect](False), SHAPES[dialect](True)
    return st.one_of(
        good.map(encoded),
        mutated(bad).map(encoded),
        st.binary(max_size=300),
        st.sampled_from([b"", b"{}", b"[]", b"null", b'{"model":', b"[" * 100000, b"\xff\xfe{}"]),
    )


token = st.text(
    st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-_!#$%&'*+.^`|~"), min_size=1, max_size=30
)
header_value = st.one_of(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
            max_size=80),
    st.sampled_from(["Bearer ", "Bearer x", "Basic Og==", "x" * 8000]),
).map(lambda s: s.encode("latin-1"))  # fmt: skip
content_type = st.sampled_from(
    [b"application/json", b"application/json; charset=utf-8", b"text/plain", b"",
     b"application/json; charset=latin-1", b"multipart/form-data; boundary=x",
     b"APPLICATION/JSON", b"application/x-www-form-urlencoded", b"application/jsonx"]
)  # fmt: skip
headers = st.lists(
    st.one_of(
        st.tuples(token.map(str.encode), header_value),
        st.tuples(
            st.sampled_from(
                [
                    b"authorization",
                    b"x-api-key",
                    b"x-goog-api-key",
                    b"anthropic-version",
                    b"anthropic-beta",
                    b"cache-control",
                    b"x-failsoft-timeout",
                    b"x-stainless-retry-count",
                    b"accept-encoding",
                    b"transfer-encoding",
                    b"expect",
                ]
            ),
            header_value,
        ),
    ),
    max_size=5,
).map(lambda hs: [h for h in hs if h[0] not in (b"content-length", b"host", b"connection")])
"""Headers with any token name and latin-1 value, the ones failsoft reads most often."""
