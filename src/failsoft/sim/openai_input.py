"""OpenAI Chat Completions requests: the validation the real API does, and the neutral view.

The checks are the ones a broken translation trips: unknown roles, tool results that
answer no call, calls left unanswered, arguments sent as objects instead of strings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from failsoft.sim.prompt import (
    Prompt,
    ToolSpec,
    Turn,
    call_chars,
    joined,
    result_turn,
    schema_properties,
    user_turn,
)
from failsoft.sim.structured import openai_schema
from failsoft.sim.wire import ErrorSpec

_NOT_REASONING = re.compile(r"(gpt-4|gpt-3\.5|chatgpt-)")
"""Models the API refuses `reasoning_effort` for."""
ROLES = ("system", "developer", "user", "assistant", "tool")
_ROLE_LIST = "'system', 'assistant', 'user', 'tool', and 'developer'"
_TEMPLATE_FLAGS = ("continue_final_message", "add_generation_prompt")
"""vLLM's extensions for continuing a trailing assistant message (a prefill)."""
_BOTH_FLAGS = "Cannot set both `continue_final_message` and `add_generation_prompt` to True."
_ORPHAN_TOOL = (
    "Invalid parameter: messages with role 'tool' must be a response to a preceeding "
    "message with 'tool_calls'."
)


def check(body: Mapping[str, Any]) -> ErrorSpec | None:
    if not isinstance(body.get("model"), str) or not body["model"]:
        return ErrorSpec(400, message="you must provide a model parameter")
    messages = body.get("messages")
    if messages is None:
        return ErrorSpec(
            400,
            message="Missing required parameter: 'messages'.",
            code="missing_required_parameter",
            param="messages",
        )
    if not isinstance(messages, list):
        return invalid_type("messages", "an array", messages)
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            return ErrorSpec(
                400, message=f"Invalid type for '{name}'.", code="invalid_type", param=name
            )
        if isinstance(value, int) and value < 1:
            return ErrorSpec(
                400,
                message=f"Invalid '{name}': integer below minimum value. Expected a value "
                f">= 1, but got {value} instead.",
                code="integer_below_min_value",
                param=name,
            )
    if body.get("reasoning_effort") is not None and _NOT_REASONING.match(body["model"]):
        return ErrorSpec(
            400,
            message="Unsupported parameter: 'reasoning_effort' is not supported with this model.",
            code="unsupported_parameter",
            param="reasoning_effort",
        )
    for name in _TEMPLATE_FLAGS:
        value = body.get(name)
        if value is not None and not isinstance(value, bool):
            return invalid_type(name, "a boolean", value)
    continues = body.get("continue_final_message") is True
    if continues and body.get("add_generation_prompt") is not False:
        # vLLM's default add_generation_prompt=true would open a new assistant turn.
        return ErrorSpec(400, message=_BOTH_FLAGS, param="add_generation_prompt")
    return _check_messages(messages)


def _check_messages(messages: Sequence[Any]) -> ErrorSpec | None:
    called: set[str] = set()
    # The latest assistant calls and where they were, until the turn after their results:
    pending: tuple[int, list[str]] | None = None
    answered: set[str] = set()
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            return invalid_type(where, "an object", message)
        role = message.get("role")
        if role not in ROLES:
            return ErrorSpec(
                400,
                message=f"Invalid value: {role!r}. Supported values are: {_ROLE_LIST}.",
                code="invalid_value",
                param=f"{where}.role",
            )
        if role == "tool":
            if message.get("tool_call_id") not in called:
                return ErrorSpec(400, message=_ORPHAN_TOOL, param=f"messages.[{index}].role")
            answered.add(message["tool_call_id"])
            continue
        if pending is not None:
            error = _unanswered(*pending, answered)
            if error is not None:
                return error
            pending = None
        if role != "assistant":
            continue
        ids = []
        for position, call in enumerate(_list(message.get("tool_calls"))):
            if not isinstance(call, dict):
                continue
            function = call.get("function")
            arguments = function.get("arguments") if isinstance(function, dict) else None
            if not isinstance(arguments, str):
                path = f"{where}.tool_calls[{position}].function.arguments"
                return invalid_type(path, "a string", arguments)
            if isinstance(call.get("id"), str):
                ids.append(call["id"])
        called.update(ids)
        pending, answered = ((index, ids) if ids else None), set()
    if pending is not None and pending[0] < len(messages) - 1:
        return _unanswered(*pending, answered)
    return None


def _unanswered(index: int, ids: Sequence[str], answered: set[str]) -> ErrorSpec | None:
    """Calls must all be answered before the conversation goes on (a trailing call is fine)."""
    missing = [call_id for call_id in ids if call_id not in answered]
    if not missing:
        return None
    return ErrorSpec(
        400,
        message="An assistant message with 'tool_calls' must be followed by tool messages "
        "responding to each 'tool_call_id'. The following tool_call_ids did not have response "
        f"messages: {', '.join(missing)}",
        param=f"messages.[{index}].role",
    )


def invalid_type(param: str, expected: str, got: object) -> ErrorSpec:
    return ErrorSpec(
        400,
        message=f"Invalid type for '{param}': expected {expected}, but got {_json_type(got)} "
        "instead.",
        code="invalid_type",
        param=param,
    )


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    return "an object"


def prompt(body: Mapping[str, Any]) -> Prompt:
    turns: list[Turn] = []
    results: list[str] = []
    for message in body.get("messages") or ():
        role = message.get("role")
        if role == "tool":
            results.append(_text(message.get("content")))
            continue
        if results:
            turns.append(result_turn(results))
            results = []
        turns.append(_turn(role, message))
    if results:
        turns.append(result_turn(results))
    tools, forced = _tools(body)
    continues = body.get("continue_final_message") is True
    schema = openai_schema(body)
    return Prompt(tuple(turns), tools, forced, continues=continues, schema=schema)


def _turn(role: str, message: Mapping[str, Any]) -> Turn:
    content = message.get("content")
    text = _text(content)
    if role == "user":
        return user_turn(text, _images(content))
    if role == "assistant":
        chars = len(text)
        for call in _list(message.get("tool_calls")):
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                chars += call_chars(function.get("name"), function.get("arguments"))
        return Turn("assistant", text, chars=chars)
    return Turn("system", text, chars=len(text))


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    return joined(
        part["text"]
        for part in _list(content)
        if isinstance(part, dict)
        and part.get("type") == "text"
        and isinstance(part.get("text"), str)
    )


def _images(content: object) -> list[str]:
    images = []
    for part in _list(content):
        if not isinstance(part, dict) or part.get("type") != "image_url":
            continue
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        images.append(media_type(url) if isinstance(url, str) else "url")
    return images


def media_type(url: str) -> str:
    """`data:image/png;base64,…` -> "image/png"; any other URL -> "url"."""
    if not url.startswith("data:"):
        return "url"
    head = url[5:].split(",", 1)[0]
    return head.split(";", 1)[0] or "text/plain"


def _tools(body: Mapping[str, Any]) -> tuple[tuple[ToolSpec, ...], str | None]:
    choice = body.get("tool_choice")
    if choice == "none":
        return (), None
    tools = []
    for tool in _list(body.get("tools")):
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            tools.append(ToolSpec(function["name"], schema_properties(function.get("parameters"))))
    forced = None
    if isinstance(choice, dict) and choice.get("type") == "function":
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        forced = name if isinstance(name, str) else None
    return tuple(tools), forced if tools else None


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []
