"""OpenAI Responses (`POST /v1/responses`) requests → the internal form.

Requests for a Responses target are written in `responses_build.py`, whole answers are
in `responses_answer.py`, streams in `responses_stream.py`. A Responses request is a list
of items rather than messages: messages, function calls and their outputs, reasoning
items. Items become blocks of alternating turns; `instructions`
and system/developer messages become the system prompt. Custom (freeform) tools become
functions of one string `input`, their grammar dropped with a warning; the tools of a
`namespace` tool become tools of their own (`responses_namespace.py`). Reasoning items are
kept opaque (`encrypted_content` verbatim) for the provider that issued them.
"""

from __future__ import annotations

from typing import Any

from failsoft.translate.common import (
    Untranslatable,
    Warnings,
    expect,
    integer,
    need_str,
    number,
    parse_args,
    parse_data_url,
)
from failsoft.translate.ir import (
    Block,
    Image,
    Message,
    Reasoning,
    Request,
    ResponseFormat,
    Text,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from failsoft.translate.openai import append_turn
from failsoft.translate.responses_namespace import Flattened

FREEFORM_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {"input": {"type": "string"}},
    "required": ["input"],
    "additionalProperties": False,
}
"""The function a custom tool becomes for dialects that only know JSON-argument tools."""

# Steer OpenAI's platform or the caller's own stream: nothing to carry.
_SILENT = frozenset(
    {"model", "input", "stream", "stream_options", "store", "service_tier",
     "prompt_cache_key", "safety_identifier"}
)  # fmt: skip
_KNOWN = frozenset(
    {"instructions", "tools", "tool_choice", "parallel_tool_calls", "max_output_tokens",
     "temperature", "top_p", "reasoning", "text", "metadata", "user", "include",
     "background", "truncation"}
)  # fmt: skip
_INCLUDED = "reasoning.encrypted_content"
"""The one `include` failsoft honours: reasoning items always carry their state."""
_NO_EQUIVALENT = frozenset({"top_logprobs", "max_tool_calls", "prompt_cache_retention"})
_CANNOT = {
    "previous_response_id": "server-side conversation state held by the issuing provider "
    "(failsoft can keep conversations itself: `responses.store: true`)",
    "conversation": "server-side conversation state held by the issuing provider",
    "prompt": "stored prompt templates",
}
# Hosted tools only OpenAI runs; carried nowhere else.
_HOSTED = frozenset(
    {"web_search", "web_search_preview", "web_search_2025_08_26",
     "web_search_preview_2025_03_11", "file_search", "code_interpreter", "computer_use",
     "computer_use_preview", "image_generation", "mcp", "local_shell", "shell", "apply_patch"}
)  # fmt: skip


def parse_request(payload: dict[str, Any]) -> Request:
    warnings = Warnings()
    request = Request(messages=[])
    instructions = payload.get("instructions")
    if isinstance(instructions, str) and instructions:
        request.system.append(instructions)
    tools = payload.get("tools") or ()
    expect(isinstance(tools, list | tuple), "'tools' must be an array")
    flattened = Flattened()
    taken = {t.get("name") for t in tools if isinstance(t, dict) and t.get("type") != "namespace"}
    for i, tool in enumerate(tools):
        request.tools.extend(_parse_tool(tool, i, warnings, flattened, taken))
    request.namespaced = flattened.origin
    items = payload.get("input")
    if isinstance(items, str):
        request.messages.append(Message("user", [Text(items)]))
    else:
        if not isinstance(items, list):
            raise Untranslatable("'input' must be a string or an array of items")
        for i, item in enumerate(items):
            expect(isinstance(item, dict), f"input[{i}] must be an object")
            _parse_item(request, item, i, flattened)
    for key, value in payload.items():
        if key in _SILENT or key in _KNOWN or value is None:
            continue
        if key in _CANNOT:
            expect(False, f"'{key}': {_CANNOT[key]} has no equivalent in other dialects")
        if key in _NO_EQUIVALENT:
            warnings.drop(key, "no equivalent in other dialects")
        else:
            warnings.drop(key, "unknown to failsoft's translation")
    _platform(payload, warnings)
    request.tool_choice = _parse_tool_choice(payload.get("tool_choice"))
    _choose_namespaced(request, payload.get("tool_choice"), flattened)
    hosted_only = bool(tools) and not request.tools
    choice = request.tool_choice
    expect(
        not (hosted_only and choice is not None and choice.mode == "required"),
        "tool_choice 'required' with only OpenAI's hosted tools, which run nowhere else",
    )
    parallel = payload.get("parallel_tool_calls")
    request.parallel_tool_calls = parallel if isinstance(parallel, bool) else None
    request.max_tokens = integer(payload.get("max_output_tokens"), "max_output_tokens")
    request.temperature = number(payload.get("temperature"), "temperature")
    request.top_p = number(payload.get("top_p"), "top_p")
    reasoning = payload.get("reasoning")
    if reasoning is not None:
        expect(isinstance(reasoning, dict), "'reasoning' must be an object")
        effort = reasoning.get("effort")
        summary = reasoning.get("summary") or reasoning.get("generate_summary")
        request.reasoning_effort = effort if isinstance(effort, str) else None
        request.reasoning_summary = summary if isinstance(summary, str) else None
    request.response_format = _parse_text(payload.get("text"), warnings)
    metadata = payload.get("metadata")
    if metadata is not None:
        expect(isinstance(metadata, dict), "'metadata' must be an object")
        request.metadata = {str(k): str(v) for k, v in metadata.items()}
    user = payload.get("user")
    request.user = user if isinstance(user, str) else None
    request.dropped = warnings.items
    return request


def _platform(payload: dict[str, Any], warnings: Warnings) -> None:
    """Platform switches whose loss the caller should hear of."""
    include = payload.get("include")
    if isinstance(include, list):
        for value in include:
            if value != _INCLUDED:
                warnings.drop(f"include {value!r}", "no equivalent in other dialects")
    if payload.get("background") is True:
        warnings.drop("background", "the answer comes in the foreground")
    if payload.get("truncation") == "auto":
        warnings.drop("truncation 'auto'", "other dialects refuse an over-long context")


def _parse_item(request: Request, item: dict[str, Any], i: int, flattened: Flattened) -> None:
    kind = item.get("type", "message" if "role" in item else None)
    where = f"input[{i}]"
    if kind == "message":
        role = item.get("role")
        content = item.get("content")
        if role in ("system", "developer"):
            text = "".join(b.text for b in _parts(content, where) if isinstance(b, Text))
            if text:
                request.system.append(text)
        elif role in ("user", "assistant"):
            append_turn(request.messages, role, _parts(content, where))
        else:
            expect(False, f"{where}.role {role!r} is not user, assistant, system or developer")
    elif kind in ("function_call", "custom_tool_call"):
        call_id = need_str(item.get("call_id"), f"{where}.call_id is required")
        name = need_str(item.get("name"), f"{where}.name is required")
        namespace = item.get("namespace")
        if isinstance(namespace, str) and namespace:
            name = flattened.name_for(namespace, name)
        if kind == "function_call":
            arguments = item.get("arguments")
            if not isinstance(arguments, str):
                raise Untranslatable(f"{where}.arguments must be a JSON string")
            parsed = parse_args(arguments)
        else:
            value = item.get("input")
            expect(isinstance(value, str), f"{where}.input must be a string")
            parsed = {"input": value}
        append_turn(request.messages, "assistant", [ToolCall(call_id, name, parsed)])
    elif kind in ("function_call_output", "custom_tool_call_output"):
        call_id = need_str(item.get("call_id"), f"{where}.call_id is required")
        output = item.get("output")
        if isinstance(output, str):
            result: list[Text | Image] = [Text(output)]
        else:
            expect(isinstance(output, list), f"{where}.output must be a string or an array")
            result = [b for b in _parts(output, where) if isinstance(b, Text | Image)]
        append_turn(request.messages, "user", [ToolResult(call_id, result)])
    elif kind == "reasoning":
        summary = item.get("summary") or []
        expect(isinstance(summary, list), f"{where}.summary must be an array")
        encrypted = item.get("encrypted_content")
        expect(
            encrypted is None or isinstance(encrypted, str),
            f"{where}.encrypted_content must be a string",
        )
        texts = [str(s.get("text") or "") for s in summary if isinstance(s, dict)]
        ident = item.get("id")
        block = Reasoning(ident if isinstance(ident, str) else None, texts, encrypted)
        append_turn(request.messages, "assistant", [block])
    elif kind == "item_reference":
        expect(False, f"{where}: item references need the issuing provider's stored state")
    else:
        expect(False, f"{where}: {kind!r} items have no equivalent in other dialects")


def _parts(content: Any, where: str) -> list[Block]:
    if isinstance(content, str):
        return [Text(content)]
    expect(isinstance(content, list), f"{where}.content must be a string or an array")
    blocks: list[Block] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text"):
            text = part.get("text")
            expect(isinstance(text, str), f"{where}.content[{j}].text must be a string")
            blocks.append(Text(text))
        elif kind == "refusal":
            blocks.append(Text(str(part.get("refusal") or "")))
        elif kind == "input_image":
            url = need_str(
                part.get("image_url"),
                f"{where}.content[{j}]: only input_image with an image_url can be carried",
            )
            parsed = parse_data_url(url)
            image = Image(url=url) if parsed is None else Image(parsed[0], parsed[1])
            blocks.append(image)
        else:
            expect(False, f"{where}.content[{j}]: {kind!r} parts have no equivalent")
    return blocks


def _parse_tool(
    tool: Any, i: int, warnings: Warnings, flattened: Flattened, taken: set[Any]
) -> list[Tool]:
    """The tool(s) `tool` stands for: none for a hosted tool, each inner tool of a
    namespace under its flat name, else one."""
    expect(isinstance(tool, dict), f"tools[{i}] must be an object")
    kind = tool.get("type")
    if kind in _HOSTED:
        warnings.drop(f"{kind} tool", "OpenAI's hosted tools run nowhere else")
        return []
    if kind != "namespace":
        return [_one_tool(tool, f"tools[{i}]", warnings)]
    namespace = need_str(tool.get("name"), f"tools[{i}].name is required")
    inner = tool.get("tools")
    expect(isinstance(inner, list), f"tools[{i}].tools must be an array")
    about = tool.get("description")
    out: list[Tool] = []
    for j, member in enumerate(inner):
        where = f"tools[{i}].tools[{j}]"
        expect(isinstance(member, dict), f"{where} must be an object")
        expect(member.get("type") in ("function", "custom"), f"{where} must be a function")
        one = _one_tool(member, where, warnings)
        flat = flattened.add(namespace, one.name, taken)
        if isinstance(about, str) and about:
            lead = f"(In the {namespace!r} namespace: {about})"
            one.description = f"{one.description}\n\n{lead}" if one.description else lead
        one.name = flat
        out.append(one)
    return out


def _one_tool(tool: dict[str, Any], where: str, warnings: Warnings) -> Tool:
    kind = tool.get("type")
    expect(kind in ("function", "custom"), f"{where}: {kind!r} tools have no equivalent")
    name = need_str(tool.get("name"), f"{where}.name is required")
    description = tool.get("description")
    description = description if isinstance(description, str) else None
    if kind == "custom":
        fmt = tool.get("format")
        if isinstance(fmt, dict) and fmt.get("type") == "grammar":
            warnings.drop(
                f"the grammar of custom tool '{name}'",
                "other dialects call it as a function with one string `input`",
            )
        return Tool(name, description, dict(FREEFORM_PARAMETERS), freeform=True)
    parameters = tool.get("parameters")
    if not isinstance(parameters, dict):
        parameters = {"type": "object", "properties": {}}
    return Tool(name, description, parameters)


def _parse_tool_choice(value: Any) -> ToolChoice | None:
    if value is None:
        return None
    if value in ("auto", "none", "required"):
        return ToolChoice(value)
    if isinstance(value, dict) and value.get("type") in ("function", "custom"):
        return ToolChoice("tool", need_str(value.get("name"), "tool_choice.name is required"))
    if isinstance(value, dict) and value.get("type") in _HOSTED:
        expect(False, f"tool_choice forces OpenAI's hosted {value['type']!r} tool")
    expect(False, f"tool_choice {value!r} has no equivalent in other dialects")
    raise AssertionError  # unreachable


def _choose_namespaced(request: Request, value: Any, flattened: Flattened) -> None:
    """A forced tool that is a namespace's, by its flat name: named with its `namespace`,
    or by its own name when no other tool has it."""
    choice = request.tool_choice
    if choice is None or choice.name is None or not flattened.origin:
        return
    namespace = value.get("namespace") if isinstance(value, dict) else None
    if isinstance(namespace, str) and namespace:
        choice.name = flattened.name_for(namespace, choice.name)
        return
    if any(tool.name == choice.name for tool in request.tools):
        return
    flat = [f for f, (_, name) in flattened.origin.items() if name == choice.name]
    if len(flat) == 1:
        choice.name = flat[0]


def _parse_text(value: Any, warnings: Warnings) -> ResponseFormat | None:
    if value is None:
        return None
    expect(isinstance(value, dict), "'text' must be an object")
    if value.get("verbosity") is not None:
        warnings.drop("text.verbosity", "no equivalent in other dialects")
    fmt = value.get("format")
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return None
    if fmt["type"] == "json_object":
        return ResponseFormat("json_object")
    expect(fmt["type"] == "json_schema", f"text.format {fmt['type']!r} has no equivalent")
    schema = fmt.get("schema")
    expect(isinstance(schema, dict), "text.format.schema must be an object")
    name, strict = fmt.get("name"), fmt.get("strict")
    return ResponseFormat(
        "json_schema",
        schema,
        name if isinstance(name, str) else None,
        strict if isinstance(strict, bool) else None,
    )
