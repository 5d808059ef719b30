"""Structured output: the simulator answers a request for a schema with JSON that follows it,
whichever dialect asked, so a test can see that a schema crossed a translation."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai

from failsoft.sim import SimServer
from failsoft.sim.structured import ANY_JSON, gemini_schema, json_answer, responses_schema
from tests.helpers import request

from .helpers import GEMINI, GPT, KEY, MODEL, gemini_body, gemini_path, user

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "summary": {"type": "string"},
        "count": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "mood": {"enum": ["calm", "busy"]},
        "nested": {"type": "object", "properties": {"ok": {"type": "boolean"}}},
        "maybe": {"anyOf": [{"type": "null"}, {"type": "number"}]},
    },
    "required": ["summary"],
}


def expected(text: str) -> dict[str, Any]:
    return {
        "summary": text,
        "count": 1,
        "tags": [text],
        "mood": "calm",
        "nested": {"ok": True},
        "maybe": 1,
    }


def test_values_follow_the_schema_and_come_from_the_text() -> None:
    assert json.loads(json_answer(SCHEMA, "hello there")) == expected("hello there")


def test_json_without_a_schema_is_an_answer_object() -> None:
    assert json.loads(json_answer(ANY_JSON, "hi")) == {"answer": "hi"}
    assert json.loads(json_answer({"type": "string"}, "hi")) == {"answer": "hi"}


def test_a_deep_schema_stays_bounded() -> None:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(200):
        schema = {"type": "object", "properties": {"a": schema}}
    out = json.loads(json_answer(schema, "x"))
    depth = 0
    while isinstance(out, dict):
        out, depth = out["a"], depth + 1
    assert out == "x" and depth == 8


def test_gemini_capitalized_types_and_mime_type() -> None:
    config = {
        "responseMimeType": "application/json",
        "responseSchema": {"type": "OBJECT", "properties": {"n": {"type": "INTEGER"}}},
    }
    schema = gemini_schema(config)
    assert schema is not None
    assert json.loads(json_answer(schema, "t")) == {"n": 1}
    assert gemini_schema({"responseMimeType": "text/plain"}) is None
    assert gemini_schema({"responseMimeType": "application/json"}) is ANY_JSON


def test_plain_text_formats_ask_for_no_json() -> None:
    assert responses_schema({"text": {"format": {"type": "text"}}}) is None
    assert responses_schema({}) is None


def plain(client: openai.OpenAI) -> str:
    return (
        client.chat.completions.create(model=GPT, messages=user()).choices[0].message.content or ""
    )


def test_openai_response_format(oai: openai.OpenAI) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "r", "schema": SCHEMA}}
    answer = oai.chat.completions.create(model=GPT, messages=user(), response_format=fmt)  # type: ignore[arg-type]
    assert json.loads(answer.choices[0].message.content or "") == expected(plain(oai))
    json_object = oai.chat.completions.create(
        model=GPT, messages=user(), response_format={"type": "json_object"}
    )
    assert json.loads(json_object.choices[0].message.content or "") == {"answer": plain(oai)}


def test_responses_text_format(oai: openai.OpenAI) -> None:
    fmt = {"type": "json_schema", "name": "r", "schema": SCHEMA}
    answer = oai.responses.create(model=GPT, input="Say hello", text={"format": fmt})  # type: ignore[typeddict-item]
    assert json.loads(answer.output_text) == expected(plain(oai))


def test_anthropic_output_config(ant: anthropic.Anthropic, sim: SimServer) -> None:
    message = ant.messages.create(model=MODEL, max_tokens=512, messages=user())
    text = "".join(b.text for b in message.content if b.type == "text")
    fmt = {"format": {"type": "json_schema", "schema": SCHEMA}}
    shaped = ant.messages.create(
        model=MODEL, max_tokens=512, messages=user(), extra_body={"output_config": fmt}
    )
    assert json.loads("".join(b.text for b in shaped.content if b.type == "text")) == expected(text)


def test_gemini_response_json_schema(sim: SimServer) -> None:
    url = sim.url + gemini_path(GEMINI)
    headers = {"x-goog-api-key": KEY}
    text = json.loads(request(url, body=gemini_body(), headers=headers).body)
    config = {"responseMimeType": "application/json", "responseJsonSchema": SCHEMA}
    shaped = json.loads(
        request(url, body=gemini_body(generationConfig=config), headers=headers).body
    )
    said = text["candidates"][0]["content"]["parts"][0]["text"]
    answer = shaped["candidates"][0]["content"]["parts"][0]["text"]
    assert json.loads(answer) == expected(said)
