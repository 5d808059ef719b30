"""A cached answer played back as a stream, in the caller's dialect.

Answers are stored as the whole JSON answer (`chat.completion`, `message`, `response`),
whether they were asked for as streams or not; a streaming request that hits the cache gets
that answer re-cut into the events a real stream would have had, so the SDKs' stream
helpers assemble the same message (Responses: `replay_responses.py`). Text is split into
word-sized pieces, tool-call arguments into one delta per call: what a client sees is a
short, well-formed stream, not a single blob.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from failsoft.cache.replay_responses import replay_responses

_PIECES = re.compile(r"\s*\S+\s*|\s+")


def _pieces(text: str, size: int = 6) -> list[str]:
    """`text` in runs of `size` words (keeping every character)."""
    words = _PIECES.findall(text)
    return ["".join(words[i : i + size]) for i in range(0, len(words), size)] or [text]


def replay(dialect: str, answer: dict[str, Any], include_usage: bool = False) -> bytes:
    if dialect == "responses":
        return replay_responses(answer, _pieces)
    if dialect == "anthropic":
        return _anthropic(answer)
    if dialect == "gemini":
        return _gemini(answer)
    return _openai(answer, include_usage)


def _sse(obj: Any, event: str | None = None) -> bytes:
    head = b"event: " + event.encode() + b"\n" if event else b""
    return head + b"data: " + orjson.dumps(obj) + b"\n\n"


def _openai(answer: dict[str, Any], include_usage: bool) -> bytes:
    base = {
        "id": answer.get("id", "chatcmpl-cached"),
        "object": "chat.completion.chunk",
        "created": answer.get("created", 0),
        "model": answer.get("model", ""),
    }
    if answer.get("system_fingerprint") is not None:
        base["system_fingerprint"] = answer["system_fingerprint"]
    out: list[bytes] = []

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> None:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        out.append(_sse({**base, "choices": [choice]}))

    for choice in answer.get("choices") or []:
        index = choice.get("index", 0)
        message = choice.get("message") or {}
        chunk(index, {"role": "assistant", "content": "", "refusal": None})
        content = message.get("content")
        if isinstance(content, str) and content:
            for piece in _pieces(content):
                chunk(index, {"content": piece})
        refusal = message.get("refusal")
        if isinstance(refusal, str) and refusal:
            chunk(index, {"refusal": refusal})
        for position, call in enumerate(message.get("tool_calls") or []):
            function = call.get("function") or {}
            first = {
                "index": position,
                "id": call.get("id"),
                "type": call.get("type", "function"),
                "function": {"name": function.get("name"), "arguments": ""},
            }
            chunk(index, {"tool_calls": [first]})
            arguments = function.get("arguments") or ""
            if arguments:
                chunk(
                    index,
                    {"tool_calls": [{"index": position, "function": {"arguments": arguments}}]},
                )
        chunk(index, {}, choice.get("finish_reason") or "stop")
    if include_usage and answer.get("usage") is not None:
        out.append(_sse({**base, "choices": [], "usage": answer["usage"]}))
    out.append(b"data: [DONE]\n\n")
    return b"".join(out)


def _anthropic(answer: dict[str, Any]) -> bytes:
    usage = dict(answer.get("usage") or {})
    start = {
        **{k: v for k, v in answer.items() if k not in ("content", "stop_reason", "stop_sequence")},
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**usage, "output_tokens": min(1, usage.get("output_tokens", 1))},
    }
    out = [_sse({"type": "message_start", "message": start}, "message_start")]
    for index, block in enumerate(answer.get("content") or []):
        kind = block.get("type")
        opening: dict[str, Any]
        deltas: list[dict[str, Any]]
        if kind == "text":
            opening = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": p} for p in _pieces(block.get("text", ""))]
        elif kind == "tool_use":
            opening = {**block, "input": {}}
            deltas = [{"type": "input_json_delta", "partial_json": ""}]
            deltas.append(
                {
                    "type": "input_json_delta",
                    "partial_json": orjson.dumps(block.get("input", {})).decode(),
                }
            )
        elif kind == "thinking":
            opening = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [{"type": "thinking_delta", "thinking": block.get("thinking", "")}]
            if block.get("signature"):
                deltas.append({"type": "signature_delta", "signature": block["signature"]})
        else:
            opening, deltas = block, []
        out.append(
            _sse({"type": "content_block_start", "index": index, "content_block": opening},
                 "content_block_start")
        )  # fmt: skip
        for delta in deltas:
            out.append(
                _sse({"type": "content_block_delta", "index": index, "delta": delta},
                     "content_block_delta")
            )  # fmt: skip
        out.append(_sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
    final = {
        "type": "message_delta",
        "delta": {
            "stop_reason": answer.get("stop_reason"),
            "stop_sequence": answer.get("stop_sequence"),
        },
        "usage": usage,
    }
    out.append(_sse(final, "message_delta"))
    out.append(_sse({"type": "message_stop"}, "message_stop"))
    return b"".join(out)


def _gemini(answer: dict[str, Any]) -> bytes:
    """`GenerateContentResponse` chunks: text in pieces, each other part whole, the last
    chunk with the finish reason and the usage."""
    head: dict[str, Any] = {k: answer[k] for k in ("modelVersion", "responseId") if k in answer}
    candidates = answer.get("candidates") or [{}]
    candidate = candidates[0] if isinstance(candidates[0], dict) else {}
    parts = (candidate.get("content") or {}).get("parts") or []
    out: list[bytes] = []

    def chunk(part: dict[str, Any]) -> None:
        content = {"role": "model", "parts": [part]}
        out.append(_sse({"candidates": [{"content": content, "index": 0}], **head}))

    for part in parts:
        text = part.get("text") if isinstance(part, dict) else None
        if isinstance(text, str) and len(part) == 1:
            for piece in _pieces(text):
                chunk({"text": piece})
        elif isinstance(part, dict):
            chunk(part)
    last = {k: v for k, v in candidate.items() if k not in ("content", "index")}
    last = {"content": {"role": "model"}, **last, "index": 0}
    final: dict[str, Any] = {"candidates": [last], **head}
    if answer.get("usageMetadata") is not None:
        final["usageMetadata"] = answer["usageMetadata"]
    out.append(_sse(final))
    return b"".join(out)
