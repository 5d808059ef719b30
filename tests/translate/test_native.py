"""Same-dialect targets get the caller's bytes, except Gemini ids too long for them."""

from __future__ import annotations

import orjson

from failsoft.translate.native import native_request
from failsoft.types import ChatRequest

LONG = "fsg_680d0cbe855a2996f25cb21b__sig__" + "A" * 60


def request(dialect: str, payload: dict[str, object]) -> ChatRequest:
    body = orjson.dumps(payload)
    return ChatRequest(dialect=dialect, model="m", stream=False, payload=payload, body=body)  # type: ignore[arg-type]


def test_bodies_without_signed_ids_are_the_callers_bytes() -> None:
    req = request("openai", {"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    payload, body = native_request(req)
    assert payload is req.payload and body is req.body


def test_openai_ids_are_shortened_consistently() -> None:
    req = request(
        "openai",
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": LONG, "type": "function", "function": {"name": "f", "arguments": "{}"}},
                    {"id": "call_short", "type": "function", "function": {"name": "g", "arguments": "{}"}},
                ]},
                {"role": "tool", "tool_call_id": LONG, "content": "a"},
                {"role": "tool", "tool_call_id": "call_short", "content": "b"},
            ],
        },
    )  # fmt: skip
    payload, body = native_request(req)
    calls = payload["messages"][1]["tool_calls"]
    assert len(calls[0]["id"]) <= 40 and calls[0]["id"] == payload["messages"][2]["tool_call_id"]
    assert calls[1]["id"] == "call_short"
    assert orjson.loads(body) == payload
    assert native_request(req)[1] is body  # computed once per request
    assert req.payload["messages"][1]["tool_calls"][0]["id"] == LONG  # Gemini targets keep it


def test_anthropic_ids_are_shortened_consistently() -> None:
    req = request(
        "anthropic",
        {
            "model": "m",
            "max_tokens": 5,
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": LONG, "name": "f", "input": {}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": LONG, "content": "a"}]},
            ],
        },
    )  # fmt: skip
    payload, _ = native_request(req)
    used = payload["messages"][1]["content"][0]["id"]
    assert len(used) <= 64 and payload["messages"][2]["content"][0]["tool_use_id"] == used
