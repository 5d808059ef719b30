"""The internal form → an OpenAI Responses request, for a Responses target.

Failsoft is stateless towards the target: every request carries the whole history as
items and `store: false`. Custom (freeform) tools and their calls go back out as custom
items; reasoning items go back with their `encrypted_content` untouched.
"""

from __future__ import annotations

from typing import Any

from failsoft.translate import thinking
from failsoft.translate.common import TargetOptions, Warnings, args_json, data_url, openai_id
from failsoft.translate.ir import Image, Message, Request, Text, Tool, ToolCall, ToolResult

MIN_OUTPUT_TOKENS = 16
"""The API refuses a smaller `max_output_tokens` (a 400 the caller did not cause)."""


def build_request(request: Request, options: TargetOptions, warnings: Warnings) -> dict[str, Any]:
    """The request for a Responses target, without `model` and `stream`. Nothing is stored
    upstream: failsoft sends the whole history each time, as for the other dialects."""
    items: list[dict[str, Any]] = []
    freeform = {tool.name for tool in request.tools if tool.freeform}
    custom_calls: set[str] = set()  # their outputs are custom_tool_call_output items
    for message in request.messages:
        items.extend(_items_out(message, warnings, freeform, custom_calls))
    out: dict[str, Any] = {"input": items, "store": False}
    if request.system:
        out["instructions"] = "\n\n".join(request.system)
    if request.tools:
        out["tools"] = [_tool_out(tool) for tool in request.tools]
        if request.parallel_tool_calls is not None:
            out["parallel_tool_calls"] = request.parallel_tool_calls
    choice = request.tool_choice
    if choice is not None:
        if choice.mode == "tool":
            kind = "custom" if choice.name in freeform else "function"
            out["tool_choice"] = {"type": kind, "name": choice.name}
        else:
            out["tool_choice"] = choice.mode
    if request.max_tokens is not None:
        out["max_output_tokens"] = max(request.max_tokens, MIN_OUTPUT_TOKENS)
        if request.max_tokens < MIN_OUTPUT_TOKENS:
            warnings.note(
                f"max_tokens raised to {MIN_OUTPUT_TOKENS}, the Responses API's smallest limit"
            )
    for key in ("temperature", "top_p"):
        value = getattr(request, key)
        if value is not None:
            out[key] = value
    for key in ("top_k", "seed", "presence_penalty", "frequency_penalty"):
        if getattr(request, key) is not None:
            warnings.drop(key, "the Responses API has no such setting")
    if request.stop:
        warnings.drop("stop sequences", "the Responses API has no stop sequences")
    if request.reasoning_effort is not None or request.reasoning_summary is not None:
        reasoning: dict[str, Any] = {}
        if request.reasoning_effort is not None:
            reasoning["effort"] = request.reasoning_effort
        if request.reasoning_summary is not None:
            reasoning["summary"] = request.reasoning_summary
        out["reasoning"] = reasoning
    fmt = request.response_format
    if fmt is not None:
        if fmt.kind == "json_object":
            out["text"] = {"format": {"type": "json_object"}}
        else:
            spec: dict[str, Any] = {
                "type": "json_schema",
                "name": fmt.name or "response",
                "schema": fmt.schema,
            }
            if fmt.strict is not None:
                spec["strict"] = fmt.strict
            out["text"] = {"format": spec}
    if request.metadata:
        out["metadata"] = request.metadata
    if request.user is not None:
        out["user"] = request.user
    return out


def _tool_out(tool: Tool) -> dict[str, Any]:
    if tool.freeform:
        out: dict[str, Any] = {"type": "custom", "name": tool.name}
    else:
        out = {"type": "function", "name": tool.name, "parameters": tool.parameters}
        out["strict"] = False
    if tool.description:
        out["description"] = tool.description
    return out


def _items_out(
    message: Message, warnings: Warnings, freeform: set[str], custom_calls: set[str]
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []

    def flush() -> None:
        # An assistant turn as an "easy" message with string content: output_text parts
        # would need the id and status of an output item the target never issued.
        if parts and message.role == "assistant":
            text = "".join(p["text"] for p in parts)
            items.append({"type": "message", "role": "assistant", "content": text})
        elif parts:
            items.append({"type": "message", "role": message.role, "content": list(parts)})
        parts.clear()

    for block in message.content:
        if isinstance(block, Text):
            parts.append({"type": "input_text", "text": block.text})
        elif isinstance(block, Image) and message.role == "assistant":
            warnings.drop("images in assistant turns", "Responses assistant items carry text")
        elif isinstance(block, Image):
            parts.append(_image_out(block))
        else:
            flush()
            if isinstance(block, ToolCall):
                items.append(_call_out(block, freeform, custom_calls))
            elif isinstance(block, ToolResult):
                items.append(_result_out(block, warnings, custom_calls))
            elif thinking.is_tagged(block.encrypted_content):
                continue  # Anthropic's thinking, which OpenAI could not verify
            elif block.encrypted_content is not None or block.summary:
                item: dict[str, Any] = {
                    "type": "reasoning",
                    "summary": [{"type": "summary_text", "text": s} for s in block.summary],
                }
                if block.id:
                    item["id"] = block.id
                if block.encrypted_content is not None:
                    item["encrypted_content"] = block.encrypted_content
                items.append(item)
    flush()
    return items


def _image_out(image: Image) -> dict[str, Any]:
    url = image.url if image.url is not None else data_url(image.media_type, image.data or "")
    return {"type": "input_image", "image_url": url, "detail": "auto"}


def _call_out(call: ToolCall, freeform: set[str], custom_calls: set[str]) -> dict[str, Any]:
    value = call.arguments.get("input") if isinstance(call.arguments, dict) else None
    if call.name in freeform and isinstance(value, str):
        custom_calls.add(call.id)
        call_id = openai_id(call.id)
        return {"type": "custom_tool_call", "call_id": call_id, "name": call.name, "input": value}
    return {
        "type": "function_call",
        "call_id": openai_id(call.id),
        "name": call.name,
        "arguments": args_json(call.arguments),
    }


def _result_out(result: ToolResult, warnings: Warnings, custom_calls: set[str]) -> dict[str, Any]:
    if result.is_error:
        warnings.note("a tool result's is_error flag is not carried to the Responses API")
    if all(isinstance(b, Text) for b in result.content):
        output: Any = "".join(b.text for b in result.content if isinstance(b, Text))
    else:
        output = [
            {"type": "input_text", "text": b.text} if isinstance(b, Text) else _image_out(b)
            for b in result.content
        ]
    kind = "custom_tool_call_output" if result.call_id in custom_calls else "function_call_output"
    return {"type": kind, "call_id": openai_id(result.call_id), "output": output}
