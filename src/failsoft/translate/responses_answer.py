"""OpenAI Responses `response` objects ⇄ the internal form, and the answer vocabulary
(status, usage, item ids) that the stream translation shares.

A Responses answer has no stop reason: `status` is `completed` or `incomplete` (with
`incomplete_details.reason`), and a tool call is simply a `function_call` item in the
output. Those are mapped to and from the internal stop reasons here.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from failsoft.translate.common import args_json, parse_args
from failsoft.translate.ir import Reasoning, Response, Text, ToolCall, Usage

_INCOMPLETE_TO_STOP = {"max_output_tokens": "max_tokens", "content_filter": "refusal"}
_STOP_TO_INCOMPLETE = {"max_tokens": "max_output_tokens", "refusal": "content_filter"}


def parse_response(obj: dict[str, Any]) -> Response:
    """A Responses `response` object in the internal form."""
    content: list[Text | ToolCall | Reasoning] = []
    calls = False
    for item in obj.get("output") or ():
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "message":
            for part in item.get("content") or ():
                if not isinstance(part, dict):
                    continue
                if part.get("type") == "output_text":
                    content.append(Text(str(part.get("text") or "")))
                elif part.get("type") == "refusal":
                    content.append(Text(str(part.get("refusal") or "")))
        elif kind in ("function_call", "custom_tool_call"):
            calls = True
            name = str(item.get("name") or "")
            call_id = str(item.get("call_id") or item.get("id") or "")
            if kind == "function_call":
                arguments = parse_args(str(item.get("arguments") or ""))
            else:
                arguments = {"input": str(item.get("input") or "")}
            content.append(ToolCall(call_id, name, arguments))
        elif kind == "reasoning":
            summary = [
                str(s.get("text") or "") for s in item.get("summary") or () if isinstance(s, dict)
            ]
            ident, encrypted = item.get("id"), item.get("encrypted_content")
            content.append(
                Reasoning(
                    ident if isinstance(ident, str) else None,
                    summary,
                    encrypted if isinstance(encrypted, str) else None,
                )
            )
    created = obj.get("created_at")
    return Response(
        id=str(obj.get("id") or ""),
        model=str(obj.get("model") or ""),
        content=content,
        stop=stop_reason(obj, calls),
        usage=parse_usage(obj.get("usage")),
        created=int(created) if isinstance(created, int | float) else None,
    )


def stop_reason(obj: dict[str, Any], calls: bool) -> str:
    if obj.get("status") == "incomplete":
        details = obj.get("incomplete_details") or {}
        reason = details.get("reason") if isinstance(details, dict) else None
        return _INCOMPLETE_TO_STOP.get(str(reason), "max_tokens")
    return "tool_use" if calls else "end_turn"


def parse_usage(value: Any) -> Usage:
    if not isinstance(value, dict):
        return Usage()
    inputs = value.get("input_tokens_details") or {}
    outputs = value.get("output_tokens_details") or {}
    return Usage(
        input=value.get("input_tokens"),
        output=value.get("output_tokens"),
        cache_read=inputs.get("cached_tokens") if isinstance(inputs, dict) else None,
        cache_write=inputs.get("cache_write_tokens") if isinstance(inputs, dict) else None,
        reasoning=outputs.get("reasoning_tokens") if isinstance(outputs, dict) else None,
    )


def usage_body(usage: Usage) -> dict[str, Any]:
    inputs = usage.input or 0
    outputs = usage.output or 0
    return {
        "input_tokens": inputs,
        "input_tokens_details": {
            "cached_tokens": usage.cache_read or 0,
            "cache_write_tokens": usage.cache_write or 0,
        },
        "output_tokens": outputs,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning or 0},
        "total_tokens": inputs + outputs,
    }


def response_id(upstream_id: str) -> str:
    return upstream_id if upstream_id.startswith("resp_") else f"resp_{upstream_id}"


def status_fields(stop: str) -> dict[str, Any]:
    """`status` and `incomplete_details` for an internal stop reason."""
    reason = _STOP_TO_INCOMPLETE.get(stop)
    if reason is None:
        return {"status": "completed", "incomplete_details": None}
    return {"status": "incomplete", "incomplete_details": {"reason": reason}}


def message_item(ident: str, text: str, status: str) -> dict[str, Any]:
    return {
        "id": ident,
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    }


def call_item(
    ident: str,
    call_id: str,
    name: str,
    arguments: str,
    status: str,
    freeform: bool,
    namespaced: Mapping[str, tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """A call item; `namespaced` turns a namespace tool's flat name back into its own name
    and `namespace` (`responses_namespace.py`)."""
    origin = namespaced.get(name) if namespaced else None
    item = _call_item(ident, call_id, origin[1] if origin else name, arguments, status, freeform)
    if origin:
        item["namespace"] = origin[0]
    return item


def _call_item(
    ident: str, call_id: str, name: str, arguments: str, status: str, freeform: bool
) -> dict[str, Any]:
    if freeform:
        input_text = parse_args(arguments)
        value = input_text.get("input") if isinstance(input_text, dict) else None
        return {
            "id": ident,
            "type": "custom_tool_call",
            "call_id": call_id,
            "name": name,
            "input": value if isinstance(value, str) else arguments,
            "status": status,
        }
    return {
        "id": ident,
        "type": "function_call",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def reasoning_item(ident: str, block: Reasoning) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": block.id or ident,
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": s} for s in block.summary],
    }
    if block.encrypted_content is not None:
        item["encrypted_content"] = block.encrypted_content
    return item


def envelope(
    ident: str, model: str, created: int | None, output: list[dict[str, Any]]
) -> dict[str, Any]:
    """The `response` object's fields besides status and usage (the SDK requires them)."""
    return {
        "id": response_id(ident),
        "object": "response",
        "created_at": created or int(time.time()),
        "model": model,
        "output": output,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "metadata": {},
        "parallel_tool_calls": True,
        "temperature": None,
        "tool_choice": "auto",
        "tools": [],
        "top_p": None,
        "usage": None,
    }


def build_response(
    response: Response,
    freeform: frozenset[str] = frozenset(),
    namespaced: Mapping[str, tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """The `response` object a Responses caller gets for an answer from another dialect.

    `freeform` names the caller's custom tools, whose calls go back as `custom_tool_call`
    items with the string `input` the function form carried; `namespaced` maps the flat
    names of namespace tools back (`call_item`)."""
    output: list[dict[str, Any]] = []
    texts: list[str] = []
    n = 0

    def flush() -> None:
        nonlocal n
        if texts:
            output.append(message_item(f"msg_{response.id}_{n}", "".join(texts), "completed"))
            texts.clear()
            n += 1

    for block in response.content:
        if isinstance(block, Text):
            texts.append(block.text)
            continue
        flush()
        if isinstance(block, ToolCall):
            output.append(
                call_item(
                    f"fc_{response.id}_{n}",
                    block.id,
                    block.name,
                    args_json(block.arguments),
                    "completed",
                    block.name in freeform,
                    namespaced,
                )
            )
        else:
            output.append(reasoning_item(f"rs_{response.id}_{n}", block))
        n += 1
    flush()
    out = envelope(response.id, response.model, response.created, output)
    out.update(status_fields(response.stop))
    out["usage"] = usage_body(response.usage)
    return out
