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


def test_responses_call_ids_are_shortened_consistently() -> None:
    items = [
        {"role": "user", "content": "hi"},
        {"type": "function_call", "call_id": LONG, "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": LONG, "output": "a"},
        {"type": "function_call", "call_id": "call_short", "name": "g", "arguments": "{}"},
    ]
    req = request("responses", {"model": "m", "input": items, "store": False})
    payload, body = native_request(req)
    assert orjson.loads(body) == payload
    out = payload["input"]
    assert isinstance(out, list)
    assert out[1]["call_id"] == out[2]["call_id"] != LONG
    assert len(out[1]["call_id"]) <= 40
    assert out[0] == items[0] and out[3] == items[3]
    assert payload["store"] is False and "messages" not in payload


def test_reasoning_items_cut_short_are_left_out_for_a_responses_target() -> None:
    """failsoft closed them itself after a break (`dialects/responses_afresh.py`): no
    provider could find them by id."""
    items = [
        {"role": "user", "content": "hi"},
        {"type": "reasoning", "id": "rs_fscut_1", "summary": []},
        {"type": "reasoning", "id": "rs_2", "summary": [], "encrypted_content": "x"},
        {"role": "assistant", "content": "hello"},
    ]
    payload, _ = native_request(request("responses", {"model": "m", "input": items}))
    assert payload["input"] == [items[0], items[2], items[3]]
    whole = request("responses", {"model": "m", "input": [items[0], items[2], items[3]]})
    assert native_request(whole)[1] is whole.body  # nothing marked: the caller's bytes
