"""OpenAI Chat Completions ⇄ the internal form: requests.

Whole answers are in `openai_answer.py`, streams in `openai_stream.py`. What does not
survive the trip is listed in docs/translation.md; in short, fields with no counterpart
elsewhere are dropped with a warning, and those whose loss would change the answer's
meaning (`n > 1`, audio) make the target untranslatable.
"""

from __future__ import annotations

from typing import Any

from failsoft.translate import thinking
from failsoft.translate.common import (
    TargetOptions,
    Warnings,
    args_json,
    data_url,
    expect,
    integer,
    need_str,
    number,
    openai_id,
    parse_args,
    parse_data_url,
    text_of,
)
from failsoft.translate.ir import (
    Block,
    Image,
    Message,
    Reasoning,
    Request,
    ResponseFormat,
    Role,
    Text,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)

# Fields that only steer OpenAI's platform or the caller's own stream: nothing to carry.
_SILENT = frozenset(
    {"model", "messages", "stream", "stream_options", "store", "metadata", "service_tier", "n"}
)
# Handled below.
_KNOWN = frozenset(
    {
        "tools", "tool_choice", "parallel_tool_calls", "max_tokens", "max_completion_tokens",
        "temperature", "top_p", "stop", "response_format", "user", "seed", "presence_penalty",
        "frequency_penalty", "reasoning_effort",
    }
)  # fmt: skip
# Meaningful, but nothing in the other dialects carries them.
_NO_EQUIVALENT = frozenset(
    {
        "logprobs", "top_logprobs", "logit_bias", "prediction",
        "verbosity", "safety_identifier", "prompt_cache_key",
    }
)  # fmt: skip
EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh", "max"})
"""Chat Completions' documented `reasoning_effort` values (openai SDK `ReasoningEffort`)."""
_CANNOT = {
    "audio": "audio output",
    "web_search_options": "OpenAI's hosted web search",
    "functions": "legacy `functions` (use `tools`)",
    "function_call": "legacy `function_call` (use `tool_choice`)",
}

# --------------------------------------------------------------------------- requests in


def parse_request(payload: dict[str, Any]) -> Request:
    warnings = Warnings()
    request = Request(messages=[])
    for i, message in enumerate(payload["messages"]):
        expect(isinstance(message, dict), f"messages[{i}] must be an object")
        _parse_message(request, message, i)
    for key, value in payload.items():
        if key in _SILENT or key in _KNOWN or value is None:
            continue
        if key in _CANNOT:
            expect(False, f"'{key}': {_CANNOT[key]} has no equivalent in other dialects")
        if key == "modalities":
            expect(value == ["text"], "'modalities' other than text has no equivalent")
        elif key in _NO_EQUIVALENT:
            warnings.drop(key, "no equivalent in other dialects")
        else:
            warnings.drop(key, "unknown to failsoft's translation")
    n = payload.get("n")
    expect(n in (None, 1), "'n' above 1 (several choices) has no equivalent in other dialects")
    request.tools = [_parse_tool(tool, i) for i, tool in enumerate(payload.get("tools") or ())]
    request.tool_choice = _parse_tool_choice(payload.get("tool_choice"))
    parallel = payload.get("parallel_tool_calls")
    request.parallel_tool_calls = parallel if isinstance(parallel, bool) else None
    max_tokens = payload.get("max_completion_tokens")
    if max_tokens is None:
        max_tokens = payload.get("max_tokens")
    request.max_tokens = integer(max_tokens, "max_completion_tokens")
    request.temperature = number(payload.get("temperature"), "temperature")
    request.top_p = number(payload.get("top_p"), "top_p")
    stop = payload.get("stop")
    if isinstance(stop, str):
        request.stop = [stop]
    elif isinstance(stop, list):
        request.stop = [s for s in stop if isinstance(s, str)]
    request.response_format = _parse_format(payload.get("response_format"))
    user = payload.get("user")
    request.user = user if isinstance(user, str) else None
    request.seed = integer(payload.get("seed"), "seed")
    request.presence_penalty = number(payload.get("presence_penalty"), "presence_penalty")
    request.frequency_penalty = number(payload.get("frequency_penalty"), "frequency_penalty")
    effort = payload.get("reasoning_effort")
    request.reasoning_effort = effort if isinstance(effort, str) else None
    request.dropped = warnings.items
    return request


def _parse_message(request: Request, message: dict[str, Any], i: int) -> None:
    role = message.get("role")
    content = message.get("content")
    if role in ("system", "developer"):
        text = text_of(content)
        if text:
            request.system.append(text)
    elif role == "user":
        append_turn(request.messages, "user", _user_content(content, i))
    elif role == "assistant":
        expect(message.get("function_call") is None, "legacy `function_call` messages")
        blocks: list[Block] = []
        text = content if isinstance(content, str) else _assistant_text(content, i)
        if text:
            blocks.append(Text(text))
        for j, call in enumerate(message.get("tool_calls") or ()):
            expect(
                isinstance(call, dict) and call.get("type", "function") == "function",
                f"messages[{i}].tool_calls[{j}] is not a function call",
            )
            function = call.get("function") or {}
            name = need_str(function.get("name"), f"messages[{i}].tool_calls[{j}].function.name")
            arguments = function.get("arguments")
            if isinstance(arguments, str):
                parsed = parse_args(arguments)
            else:
                parsed = arguments if arguments is not None else {}
            blocks.append(ToolCall(str(call.get("id") or f"call_{i}_{j}"), name, parsed))
        append_turn(request.messages, "assistant", blocks)
    elif role == "tool":
        call_id = need_str(message.get("tool_call_id"), f"messages[{i}].tool_call_id is required")
        result = ToolResult(call_id, _tool_content(content, i))
        append_turn(request.messages, "user", [result])
    else:
        expect(False, f"messages[{i}].role {role!r} has no equivalent in other dialects")


def append_turn(messages: list[Message], role: Role, blocks: list[Block]) -> None:
    """Consecutive turns of one role become one (Anthropic and Gemini alternate roles;
    tool results then share a user turn with what the user says next)."""
    if messages and messages[-1].role == role:
        messages[-1].content.extend(blocks)
    else:
        messages.append(Message(role, blocks))


def _user_content(content: Any, i: int) -> list[Block]:
    if isinstance(content, str):
        return [Text(content)]
    expect(isinstance(content, list), f"messages[{i}].content must be a string or an array")
    blocks: list[Block] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            blocks.append(Text(str(part.get("text") or "")))
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            blocks.append(_image(need_str(url, f"messages[{i}].content[{j}].image_url.url")))
        else:
            expect(False, f"messages[{i}].content[{j}]: {kind!r} parts have no equivalent")
    return blocks


def _image(url: str) -> Image:
    parsed = parse_data_url(url)
    if parsed is None:
        return Image(url=url)
    return Image(media_type=parsed[0], data=parsed[1])


def _assistant_text(content: Any, i: int) -> str:
    if content is None:
        return ""
    expect(isinstance(content, list), f"messages[{i}].content must be a string or an array")
    texts = []
    for part in content:
        if isinstance(part, dict) and part.get("type") in ("text", "refusal"):
            texts.append(str(part.get("text") or part.get("refusal") or ""))
    return "".join(texts)


def _tool_content(content: Any, i: int) -> list[Text | Image]:
    if isinstance(content, str):
        return [Text(content)]
    if content is None:
        return []
    expect(isinstance(content, list), f"messages[{i}].content must be a string or an array")
    return [Text(text_of([part])) for part in content if isinstance(part, dict)]


def _parse_tool(tool: Any, i: int) -> Tool:
    expect(isinstance(tool, dict), f"tools[{i}] must be an object")
    expect(
        tool.get("type", "function") == "function",
        f"tools[{i}]: {tool.get('type')!r} tools have no equivalent in other dialects",
    )
    function = tool.get("function") or {}
    name = need_str(function.get("name"), f"tools[{i}].function.name is required")
    parameters = function.get("parameters")
    if not isinstance(parameters, dict):
        parameters = {"type": "object", "properties": {}}
    description = function.get("description")
    return Tool(name, description if isinstance(description, str) else None, parameters)


def _parse_tool_choice(value: Any) -> ToolChoice | None:
    if value is None:
        return None
    if value in ("auto", "none", "required"):
        return ToolChoice(value)
    if isinstance(value, dict) and value.get("type") == "function":
        name = (value.get("function") or {}).get("name")
        expect(isinstance(name, str), "tool_choice.function.name is required")
        return ToolChoice("tool", name)
    expect(False, f"tool_choice {value!r} has no equivalent in other dialects")
    raise AssertionError  # unreachable


def _parse_format(value: Any) -> ResponseFormat | None:
    if not isinstance(value, dict) or value.get("type") in (None, "text"):
        return None
    if value["type"] == "json_object":
        return ResponseFormat("json_object")
    expect(value["type"] == "json_schema", f"response_format {value['type']!r}")
    spec = value.get("json_schema") or {}
    schema = spec.get("schema")
    return ResponseFormat(
        "json_schema",
        schema if isinstance(schema, dict) else {"type": "object"},
        spec.get("name") if isinstance(spec.get("name"), str) else None,
        spec.get("strict") if isinstance(spec.get("strict"), bool) else None,
    )


# --------------------------------------------------------------------------- requests out


def build_request(request: Request, options: TargetOptions, warnings: Warnings) -> dict[str, Any]:
    """The request for an OpenAI-dialect target, without `model` and `stream`."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": s} for s in request.system]
    for message in request.messages:
        if message.role == "system":
            text = "\n".join(b.text for b in message.content if isinstance(b, Text))
            messages.append({"role": "system", "content": text})
        elif message.role == "user":
            messages.extend(_user_messages(message.content, warnings))
        else:
            messages.append(_assistant_message(message.content, warnings))
    out: dict[str, Any] = {"messages": messages}
    if request.tools:
        out["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    **({"description": tool.description} if tool.description else {}),
                    "parameters": tool.parameters,
                },
            }
            for tool in request.tools
        ]
        if request.parallel_tool_calls is False:
            out["parallel_tool_calls"] = False
    choice = request.tool_choice
    if choice is not None:
        out["tool_choice"] = (
            {"type": "function", "function": {"name": choice.name}}
            if choice.mode == "tool"
            else choice.mode
        )
    if request.max_tokens is not None:
        out[options.max_tokens_field] = request.max_tokens
    for key in ("temperature", "top_p", "seed", "presence_penalty", "frequency_penalty"):
        value = getattr(request, key)
        if value is not None:
            out[key] = value
    if request.top_k is not None:
        warnings.drop("top_k", "OpenAI has no top_k")
    if request.stop:
        out["stop"] = request.stop[:4]
        if len(request.stop) > 4:
            warnings.drop("stop sequences after the 4th", "OpenAI takes at most 4")
    fmt = request.response_format
    if fmt is not None:
        if fmt.kind == "json_object":
            out["response_format"] = {"type": "json_object"}
        else:
            spec: dict[str, Any] = {"name": fmt.name or "response", "schema": fmt.schema}
            if fmt.strict is not None:
                spec["strict"] = fmt.strict
            out["response_format"] = {"type": "json_schema", "json_schema": spec}
    if request.user is not None:
        out["user"] = request.user
    _reasoning(request, warnings, out)
    if request.metadata:
        warnings.drop("metadata", "Chat Completions keeps it only for stored completions")
    return out


def _reasoning(request: Request, warnings: Warnings, out: dict[str, Any]) -> None:
    effort = request.reasoning_effort
    if effort in EFFORTS:
        out["reasoning_effort"] = effort
    elif effort is not None:
        warnings.drop(f"reasoning.effort {effort!r}", "not a Chat Completions reasoning_effort")
    if request.reasoning_summary is not None:
        warnings.drop("reasoning.summary", "Chat Completions returns no reasoning summary")


def _user_messages(blocks: list[Block], warnings: Warnings) -> list[dict[str, Any]]:
    """Tool results become `tool` messages (first, as OpenAI wants them right after the
    assistant's calls); everything else one user message."""
    out: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in blocks:
        if isinstance(block, ToolResult):
            texts = [b.text for b in block.content if isinstance(b, Text)]
            if len(texts) != len(block.content):
                warnings.drop("images in tool results", "OpenAI tool messages carry text only")
            text = "\n".join(texts)
            if block.is_error:
                warnings.note("a tool result's is_error flag is not carried to OpenAI")
            out.append({"role": "tool", "tool_call_id": openai_id(block.call_id), "content": text})
        elif isinstance(block, Text):
            parts.append({"type": "text", "text": block.text})
        elif isinstance(block, Image):
            url = block.url
            if url is None:
                url = data_url(block.media_type, block.data or "")
            parts.append({"type": "image_url", "image_url": {"url": url}})
    if parts:
        if len(parts) == 1 and parts[0]["type"] == "text":
            out.append({"role": "user", "content": parts[0]["text"]})
        else:
            out.append({"role": "user", "content": parts})
    return out


def _assistant_message(blocks: list[Block], warnings: Warnings) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in blocks:
        if isinstance(block, Text):
            texts.append(block.text)
        elif isinstance(block, ToolCall):
            calls.append(
                {
                    "id": openai_id(block.id),
                    "type": "function",
                    "function": {"name": block.name, "arguments": args_json(block.arguments)},
                }
            )
        elif isinstance(block, Reasoning):
            if not thinking.is_tagged(block.encrypted_content):
                warnings.drop("reasoning items", "only the provider that issued them reads them")
        else:
            warnings.drop("non-text assistant content", "OpenAI assistant turns carry text")
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    return message
