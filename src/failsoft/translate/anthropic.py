"""Anthropic Messages ⇄ the internal form: requests and whole responses.

Streams are in `anthropic_stream.py`. Anthropic-only features (extended thinking,
prompt-cache hints, citations) are dropped on the way to other dialects; those the
answer depends on (documents, server tools, MCP servers) make the target untranslatable.
Thinking in an answer becomes reasoning blocks whose opaque content (`thinking.py`) brings
the original blocks back when a Responses caller returns them.
"""

from __future__ import annotations

from typing import Any

from failsoft.translate import context_edits, thinking
from failsoft.translate.common import (
    TargetOptions,
    Warnings,
    anthropic_id,
    args_object,
    caller_anthropic_id,
    expect,
    integer,
    need_str,
    number,
    system_texts,
)
from failsoft.translate.ir import (
    Block,
    Image,
    Message,
    Reasoning,
    Request,
    Response,
    ResponseFormat,
    Text,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
    Usage,
)

_SILENT = frozenset({"model", "messages", "stream", "service_tier"})
_KNOWN = frozenset(
    {
        "system", "tools", "tool_choice", "max_tokens", "temperature", "top_p", "top_k",
        "stop_sequences", "metadata", "output_config", "thinking",
    }
)  # fmt: skip
_CANNOT = {
    "mcp_servers": "remote MCP servers",
    "container": "code-execution containers",
}
_SKIPPED_BLOCKS = frozenset({"thinking", "redacted_thinking"})
EFFORTS = frozenset({"low", "medium", "high", "xhigh", "max"})
"""`output_config.effort` values; with adaptive thinking they become a reasoning effort."""


# --------------------------------------------------------------------------- requests in


def parse_request(payload: dict[str, Any]) -> Request:
    warnings = Warnings()
    request = Request(messages=[])
    request.system = _system(payload.get("system"), warnings)
    for i, message in enumerate(payload["messages"]):
        expect(isinstance(message, dict), f"messages[{i}] must be an object")
        role = message.get("role")
        expect(role in ("user", "assistant", "system"), f"messages[{i}].role {role!r}")
        blocks = _blocks(message.get("content"), f"messages[{i}]")
        if role == "system":
            expect(
                all(isinstance(b, Text) for b in blocks),
                f"messages[{i}]: a system message holds text only",
            )
            request.messages.append(Message("system", blocks))
        elif request.messages and request.messages[-1].role == role:
            request.messages[-1].content.extend(blocks)
        else:
            request.messages.append(Message(role, blocks))
    for key, value in payload.items():
        if key in _SILENT or key in _KNOWN or value is None:
            continue
        if key == "context_management":
            context_edits.carry(value, warnings)
            continue
        expect(key not in _CANNOT, f"'{key}': {_CANNOT.get(key)} have no equivalent elsewhere")
        warnings.drop(key, "unknown to failsoft's translation")
    think = payload.get("thinking")
    config = payload.get("output_config")
    effort = config.get("effort") if isinstance(config, dict) else None
    if isinstance(think, dict) and think.get("type") == "enabled":
        request.reasoning_effort = thinking.effort_of(think.get("budget_tokens"))
    elif isinstance(think, dict) and think.get("type") == "adaptive" and effort in EFFORTS:
        request.reasoning_effort = effort  # how hard the model thinks: the same idea
        effort = None
    elif isinstance(think, dict) and think.get("type") not in (None, "disabled"):
        warnings.drop(f"thinking {think.get('type')!r}", "only budgeted thinking is carried")
    if effort is not None:
        warnings.drop("output_config.effort", "carried only with adaptive thinking")
    request.tools = [_tool(tool, i) for i, tool in enumerate(payload.get("tools") or ())]
    request.tool_choice, request.parallel_tool_calls = _tool_choice(payload.get("tool_choice"))
    request.max_tokens = integer(payload.get("max_tokens"), "max_tokens")
    request.temperature = number(payload.get("temperature"), "temperature")
    request.top_p = number(payload.get("top_p"), "top_p")
    request.top_k = integer(payload.get("top_k"), "top_k")
    stop = payload.get("stop_sequences")
    if isinstance(stop, list):
        request.stop = [s for s in stop if isinstance(s, str)]
    metadata = payload.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        request.user = metadata["user_id"]
    request.response_format = _output_format(payload.get("output_config"), warnings)
    request.dropped = warnings.items
    return request


def _system(value: Any, warnings: Warnings) -> list[str]:
    """The system prompt's texts. Only text blocks have an equivalent elsewhere; any other
    block is dropped and said so in `x-failsoft-warning`, never silently."""
    if isinstance(value, str):
        return [value] if value else []
    texts: list[str] = []
    if isinstance(value, list):
        for i, block in enumerate(value):
            kind = block.get("type") if isinstance(block, dict) else None
            text = block.get("text") if kind == "text" else None
            if isinstance(text, str):
                if text:
                    texts.append(text)
            else:
                shown = kind if isinstance(kind, str) else "untyped"
                warnings.drop(f"system[{i}] ({shown} block)", "only text system blocks carry over")
    return texts


def _blocks(content: Any, where: str) -> list[Block]:
    if isinstance(content, str):
        return [Text(content)]
    expect(isinstance(content, list), f"{where}.content must be a string or an array")
    blocks: list[Block] = []
    for j, block in enumerate(content):
        path = f"{where}.content[{j}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            blocks.append(Text(str(block.get("text") or "")))
        elif kind == "image":
            blocks.append(_image(block, path))
        elif kind == "tool_use":
            expect(isinstance(block.get("name"), str), f"{path}.name is required")
            blocks.append(ToolCall(str(block.get("id") or ""), block["name"], block.get("input")))
        elif kind == "tool_result":
            result = block.get("content")
            parts: list[Text | Image] = []
            if isinstance(result, str):
                parts.append(Text(result))
            else:
                for item in _blocks(result or [], path):
                    expect(isinstance(item, Text | Image), f"{path}: only text and images")
                    parts.append(item)  # type: ignore[arg-type]
            blocks.append(
                ToolResult(str(block.get("tool_use_id") or ""), parts, bool(block.get("is_error")))
            )
        elif kind in _SKIPPED_BLOCKS:
            continue  # the reasoning of an earlier answer: no other model can use it
        else:
            expect(False, f"{path}: {kind!r} blocks have no equivalent in other dialects")
    return blocks


def _image(block: dict[str, Any], path: str) -> Image:
    source = block.get("source") or {}
    kind = source.get("type")
    if kind == "base64":
        return Image(media_type=source.get("media_type"), data=str(source.get("data") or ""))
    if kind == "url":
        return Image(url=str(source.get("url") or ""))
    expect(False, f"{path}: images from {kind!r} sources have no equivalent elsewhere")
    raise AssertionError  # unreachable


def _tool(tool: Any, i: int) -> Tool:
    expect(isinstance(tool, dict), f"tools[{i}] must be an object")
    kind = tool.get("type")
    expect(kind in (None, "custom"), f"tools[{i}]: Anthropic's {kind!r} tool has no equivalent")
    name = need_str(tool.get("name"), f"tools[{i}].name is required")
    schema = tool.get("input_schema")
    description = tool.get("description")
    return Tool(
        name,
        description if isinstance(description, str) else None,
        schema if isinstance(schema, dict) else {"type": "object", "properties": {}},
    )


def _tool_choice(value: Any) -> tuple[ToolChoice | None, bool | None]:
    if not isinstance(value, dict):
        return None, None
    parallel = False if value.get("disable_parallel_tool_use") else None
    kind = value.get("type")
    if kind == "auto":
        return ToolChoice("auto"), parallel
    if kind == "none":
        return ToolChoice("none"), parallel
    if kind == "any":
        return ToolChoice("required"), parallel
    if kind == "tool":
        expect(isinstance(value.get("name"), str), "tool_choice.name is required")
        return ToolChoice("tool", value["name"]), parallel
    expect(False, f"tool_choice type {kind!r}")
    raise AssertionError  # unreachable


def _output_format(value: Any, warnings: Warnings) -> ResponseFormat | None:
    if not isinstance(value, dict):
        return None
    for key in value:
        if key not in ("format", "effort"):
            warnings.drop(f"output_config.{key}", "no equivalent in other dialects")
    fmt = value.get("format")
    if not isinstance(fmt, dict):
        return None
    expect(fmt.get("type") == "json_schema", f"output_config.format type {fmt.get('type')!r}")
    schema = fmt.get("schema")
    return ResponseFormat("json_schema", schema if isinstance(schema, dict) else None)


# --------------------------------------------------------------------------- requests out


def build_request(request: Request, options: TargetOptions, warnings: Warnings) -> dict[str, Any]:
    """The request for an Anthropic-dialect target, without `model` and `stream`."""
    out: dict[str, Any] = {
        "max_tokens": request.max_tokens or options.default_max_tokens,
        "messages": _messages(request.messages, warnings),
    }
    # Mid-conversation system messages only reach this writer from another dialect's
    # caller; Anthropic accepts them in place on few models, the top-level field on all.
    system = system_texts(request)
    if system:
        out["system"] = (
            system[0] if len(system) == 1 else [{"type": "text", "text": text} for text in system]
        )
    if request.tools:
        out["tools"] = [
            {
                "name": tool.name,
                **({"description": tool.description} if tool.description else {}),
                "input_schema": tool.parameters,
            }
            for tool in request.tools
        ]
    choice = _choice_out(request)
    if choice is not None:
        out["tool_choice"] = choice
    _sampling(request, options, warnings, out)
    if request.stop:
        out["stop_sequences"] = request.stop
    fmt = request.response_format
    if fmt is not None:
        if fmt.kind == "json_schema":
            out["output_config"] = {"format": {"type": "json_schema", "schema": fmt.schema}}
        else:
            warnings.drop("response_format json_object", "Anthropic needs a JSON schema")
    if request.user is not None:
        out["metadata"] = {"user_id": request.user}
    for key in ("seed", "presence_penalty", "frequency_penalty"):
        if getattr(request, key) is not None:
            warnings.drop(key, "Anthropic has no equivalent")
    if request.metadata:
        warnings.drop("metadata", "Anthropic's metadata holds only a user id")
    thinking.configure(request, options, warnings, out)
    return out


def _sampling(
    request: Request, options: TargetOptions, warnings: Warnings, out: dict[str, Any]
) -> None:
    for key in ("temperature", "top_p", "top_k"):
        value = getattr(request, key)
        if value is None:
            continue
        if options.rejects_sampling:
            warnings.drop(key, f"Anthropic API {options.anthropic_version} rejects it")
            continue
        if key == "temperature" and value > 1:
            warnings.note(f"temperature {value:g} lowered to 1 (Anthropic's maximum)")
            value = 1.0
        out[key] = value


def _choice_out(request: Request) -> dict[str, Any] | None:
    choice = request.tool_choice
    if choice is None and request.parallel_tool_calls is not False:
        return None
    if not request.tools:
        return None
    mode = choice.mode if choice is not None else "auto"
    out: dict[str, Any] = {
        "type": {"auto": "auto", "none": "none", "required": "any", "tool": "tool"}[mode]
    }
    if mode == "tool" and choice is not None:
        out["name"] = choice.name
    if request.parallel_tool_calls is False and mode != "none":
        out["disable_parallel_tool_use"] = True
    return out


def _messages(messages: list[Message], warnings: Warnings) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue  # in the top-level `system` (see build_request)
        blocks: list[dict[str, Any]] = []
        for block in message.content:
            if isinstance(block, Reasoning):
                if message.role == "assistant":
                    blocks.extend(thinking.restore(block, warnings))
                continue
            converted = _block_out(block)
            if converted is not None:
                blocks.append(converted)
        if message.role == "user":
            # Tool results must open the user turn that answers the calls.
            blocks.sort(key=lambda b: b["type"] != "tool_result")
        if not blocks:
            continue  # Anthropic refuses empty turns
        if out and out[-1]["role"] == message.role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": message.role, "content": blocks})
    return out


def _block_out(block: Text | Image | ToolCall | ToolResult) -> dict[str, Any] | None:
    if isinstance(block, Text):
        return {"type": "text", "text": block.text} if block.text else None
    if isinstance(block, Image):
        return {"type": "image", "source": _source(block)}
    if isinstance(block, ToolCall):
        return {
            "type": "tool_use",
            "id": anthropic_id(block.id),
            "name": block.name,
            "input": args_object(block.arguments),
        }
    content: list[dict[str, Any]] = []
    for part in block.content:
        if isinstance(part, Text):
            if part.text:
                content.append({"type": "text", "text": part.text})
        else:
            content.append({"type": "image", "source": _source(part)})
    out: dict[str, Any] = {"type": "tool_result", "tool_use_id": anthropic_id(block.call_id)}
    if len(content) == 1 and content[0]["type"] == "text":
        out["content"] = content[0]["text"]
    elif content:
        out["content"] = content
    if block.is_error:
        out["is_error"] = True
    return out


def _source(image: Image) -> dict[str, Any]:
    if image.url is not None:
        return {"type": "url", "url": image.url}
    return {"type": "base64", "media_type": image.media_type or "image/png", "data": image.data}


# --------------------------------------------------------------------------- responses


def parse_response(obj: dict[str, Any]) -> Response:
    content: list[Text | ToolCall | Reasoning] = []
    for block in obj.get("content") or ():
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            content.append(Text(str(block.get("text") or "")))
        elif kind == "tool_use":
            content.append(
                ToolCall(str(block.get("id") or ""), str(block.get("name")), block.get("input"))
            )
        elif kind in _SKIPPED_BLOCKS and thinking.clean(block):
            said = block.get("thinking")
            summary = [said] if isinstance(said, str) and said else []
            content.append(Reasoning(None, summary, thinking.encode([block])))
    stop = obj.get("stop_reason")
    if stop == "model_context_window_exceeded":
        stop = "max_tokens"
    return Response(
        id=str(obj.get("id") or ""),
        model=str(obj.get("model") or ""),
        content=content,
        stop=stop if isinstance(stop, str) else "end_turn",
        stop_sequence=obj.get("stop_sequence"),
        usage=parse_usage(obj.get("usage")),
    )


def parse_usage(value: Any) -> Usage:
    if not isinstance(value, dict):
        return Usage()
    read = value.get("cache_read_input_tokens")
    write = value.get("cache_creation_input_tokens")
    raw = value.get("input_tokens")
    total = None if raw is None else raw + (read or 0) + (write or 0)
    return Usage(input=total, output=value.get("output_tokens"), cache_read=read, cache_write=write)


def usage_body(usage: Usage) -> dict[str, Any]:
    read, write = usage.cache_read or 0, usage.cache_write or 0
    return {
        "input_tokens": max(0, (usage.input or 0) - read - write),
        "output_tokens": usage.output or 0,
        "cache_creation_input_tokens": write,
        "cache_read_input_tokens": read,
    }


def message_id(upstream_id: str) -> str:
    return upstream_id if upstream_id.startswith("msg_") else f"msg_{anthropic_id(upstream_id)}"


def build_response(response: Response) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for block in response.content:
        if isinstance(block, Text):
            content.append({"type": "text", "text": block.text})
        elif isinstance(block, ToolCall):
            content.append(
                {
                    "type": "tool_use",
                    "id": caller_anthropic_id(block.id),
                    "name": block.name,
                    "input": args_object(block.arguments),
                }
            )
    return {
        "id": message_id(response.id),
        "type": "message",
        "role": "assistant",
        "model": response.model,
        "content": content,
        "stop_reason": response.stop,
        "stop_sequence": response.stop_sequence,
        "usage": usage_body(response.usage),
    }
