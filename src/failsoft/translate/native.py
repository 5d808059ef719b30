"""The caller's own request for a target of its own dialect, with over-long tool ids fixed.

Same-dialect targets get the caller's bytes. The one exception: a conversation that ran on
Gemini carries call ids with the thought signature inside (`fsg_…__sig__…`, see
`translate/gemini.py`), and when it moves to an OpenAI target (ids of at most 40 characters)
or an Anthropic one, those ids would be refused. Only bodies that contain the marker are
parsed; the ids are shortened the same way for a call and its result, so they still match.

A second: a reasoning item failsoft closed itself when its stream broke mid-summary
(`dialects/responses_afresh.py`) has no `encrypted_content` and an id no provider issued
whole (`rs_fscut_…`); sent back, OpenAI (`store: false`) would refuse it as not found, so
such items are left out of a Responses target's `input`.
"""

from __future__ import annotations

from typing import Any

import orjson

from failsoft.translate.common import anthropic_id, openai_id
from failsoft.types import ChatRequest

MARKER = b"__sig__"
CUT_REASONING = "rs_fscut_"
"""The id prefix of a reasoning item cut short (the rest of its id is the upstream's)."""
_CUT = CUT_REASONING.encode()
_KEY = "native"


def native_request(request: ChatRequest) -> tuple[dict[str, Any], bytes]:
    """(payload, body) to send a same-dialect target, computed once per request."""
    if request.dialect == "gemini":
        return request.payload, request.body  # Gemini reads the signature itself
    body = request.body
    # `find`, not `in`: `bytes in bytes` first tries the needle as an int (a TypeError
    # raised and cleared, ~2,000 instructions); this runs on every same-dialect attempt.
    if body.find(MARKER) < 0 and not (request.dialect == "responses" and body.find(_CUT) >= 0):
        return request.payload, body
    cached = request.translations.get(_KEY)
    if cached is None:
        if request.dialect == "responses":
            payload = {**request.payload, "input": _responses(request.payload.get("input"))}
        else:
            fix = _openai if request.dialect == "openai" else _anthropic
            payload = {**request.payload, "messages": fix(request.payload.get("messages"))}
        cached = (payload, orjson.dumps(payload))
        request.translations[_KEY] = cached
    assert isinstance(cached, tuple)
    return cached


def _openai(messages: Any) -> Any:
    if not isinstance(messages, list):
        return messages
    out = []
    for message in messages:
        if isinstance(message, dict):
            message = dict(message)
            if isinstance(message.get("tool_call_id"), str):
                message["tool_call_id"] = openai_id(message["tool_call_id"])
            calls = message.get("tool_calls")
            if isinstance(calls, list):
                message["tool_calls"] = [
                    {**call, "id": openai_id(call["id"])}
                    if isinstance(call, dict) and isinstance(call.get("id"), str)
                    else call
                    for call in calls
                ]
        out.append(message)
    return out


def _responses(items: Any) -> Any:
    """Call ids of `function_call` / `custom_tool_call` items and their outputs, shortened
    as for Chat Completions; reasoning items cut short, left out."""
    if not isinstance(items, list):
        return items
    return [
        {**item, "call_id": openai_id(item["call_id"])}
        if isinstance(item, dict) and isinstance(item.get("call_id"), str)
        else item
        for item in items
        if not _cut(item)
    ]


def _cut(item: Any) -> bool:
    ident = item.get("id") if isinstance(item, dict) else None
    return (
        item.get("type") == "reasoning"
        and isinstance(ident, str)
        and ident.startswith(CUT_REASONING)
        and not item.get("encrypted_content")
    )


def _anthropic(messages: Any) -> Any:
    if not isinstance(messages, list):
        return messages
    out = []
    for message in messages:
        if isinstance(message, dict) and isinstance(message.get("content"), list):
            message = {**message, "content": [_block(b) for b in message["content"]]}
        out.append(message)
    return out


def _block(block: Any) -> Any:
    if not isinstance(block, dict):
        return block
    for key in ("id", "tool_use_id"):
        if block.get("type") in ("tool_use", "tool_result") and isinstance(block.get(key), str):
            block = {**block, key: anthropic_id(block[key])}
    return block
