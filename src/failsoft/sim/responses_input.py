"""OpenAI Responses requests (`POST /v1/responses`): the API's validation, and the neutral view.

The checks are the ones a broken translation into the Responses item model trips: items
of unknown types, content parts that belong to the other role, a `function_call_output`
answering no earlier `function_call`, a call left without its output, a reasoning item
that is not followed by the output it reasoned about, or whose `encrypted_content` is not
one the simulator issued. The simulator keeps no conversations, so `previous_response_id`
is refused as an id the API does not know.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from failsoft.sim import responses_reasoning
from failsoft.sim.openai_input import invalid_type, media_type
from failsoft.sim.prompt import (
    Prompt,
    ToolSpec,
    Turn,
    call_chars,
    compact,
    joined,
    result_turn,
    schema_properties,
    user_turn,
)
from failsoft.sim.structured import responses_schema
from failsoft.sim.wire import ErrorSpec

ITEM_TYPES = (
    "message",
    "function_call",
    "function_call_output",
    "reasoning",
    "custom_tool_call",
    "custom_tool_call_output",
)
ROLES = ("user", "assistant", "system", "developer")
_INPUT_PARTS = ("input_text", "input_image", "input_file")
_OUTPUT_PARTS = ("output_text", "refusal")
_CALLS = ("function_call", "custom_tool_call")
_OUTPUTS = {"function_call_output": "function_call", "custom_tool_call_output": "custom_tool_call"}
_CHOICES = ("none", "auto", "required")
_MIN_OUTPUT_TOKENS = 16
_CUSTOM_INPUT = (("input", {"type": "string"}),)
"""A custom (freeform) tool's call carries one string, named `input` on the wire."""


def check(body: Mapping[str, Any]) -> ErrorSpec | None:
    if not isinstance(body.get("model"), str) or not body["model"]:
        return ErrorSpec(
            400,
            message="Missing required parameter: 'model'.",
            code="missing_required_parameter",
            param="model",
        )
    previous = body.get("previous_response_id")
    if previous is not None:
        return ErrorSpec(
            400,
            message=f"Previous response with id '{previous}' not found.",
            code="previous_response_not_found",
            param="previous_response_id",
        )
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        return invalid_type("instructions", "a string", instructions)
    value = body.get("max_output_tokens")
    if value is not None:
        if isinstance(value, bool) or not isinstance(value, int):
            return invalid_type("max_output_tokens", "an integer", value)
        if value < _MIN_OUTPUT_TOKENS:
            return ErrorSpec(
                400,
                message="Invalid 'max_output_tokens': integer below minimum value. Expected a "
                f"value >= {_MIN_OUTPUT_TOKENS}, but got {value} instead.",
                code="integer_below_min_value",
                param="max_output_tokens",
            )
    error = _check_tools(body.get("tools")) or _check_choice(body)
    if error is not None:
        return error
    items = body.get("input")
    if items is None:
        return ErrorSpec(
            400,
            message="Missing required parameter: 'input'.",
            code="missing_required_parameter",
            param="input",
        )
    if isinstance(items, str):
        return None
    if not isinstance(items, list):
        return invalid_type("input", "a string or an array", items)
    return _check_items(items)


def _check_tools(tools: object) -> ErrorSpec | None:
    if tools is None:
        return None
    if not isinstance(tools, list):
        return invalid_type("tools", "an array", tools)
    for index, tool in enumerate(tools):
        where = f"tools[{index}]"
        if not isinstance(tool, dict):
            return invalid_type(where, "an object", tool)
        kind = tool.get("type")
        if not isinstance(kind, str):
            return _missing(f"{where}.type")
        if kind in ("function", "custom", "namespace") and not isinstance(tool.get("name"), str):
            return _missing(f"{where}.name")
        if kind == "namespace":
            error = _check_namespace(tool, where)
            if error is not None:
                return error
    return None


def _check_namespace(tool: Mapping[str, Any], where: str) -> ErrorSpec | None:
    """A namespace groups function and custom tools (and nothing else) under its name."""
    members = tool.get("tools")
    if not isinstance(members, list):
        return _missing(f"{where}.tools")
    for index, member in enumerate(members):
        at = f"{where}.tools[{index}]"
        if not isinstance(member, dict):
            return invalid_type(at, "an object", member)
        if member.get("type") not in ("function", "custom"):
            return _invalid_value(f"{at}.type", member.get("type"), ("function", "custom"))
        if not isinstance(member.get("name"), str):
            return _missing(f"{at}.name")
    return None


def _check_choice(body: Mapping[str, Any]) -> ErrorSpec | None:
    choice = body.get("tool_choice")
    if choice is None or choice in _CHOICES:
        return None
    if not isinstance(choice, dict):
        return _invalid_value("tool_choice", choice, _CHOICES)
    kind = choice.get("type")
    if kind not in ("function", "custom"):
        return None  # allowed_tools and the hosted tools' choices: not simulated, not refused
    name = choice.get("name")
    if not isinstance(name, str):
        return _missing("tool_choice.name")
    tools = body.get("tools")
    declared = [
        tool.get("name")
        for tool in (tools if isinstance(tools, list) else ())
        if isinstance(tool, dict) and tool.get("type") == kind
    ]
    if name not in declared:
        return ErrorSpec(
            400,
            message=f"Tool choice '{kind}' not found in 'tools' parameter.",
            param="tool_choice",
        )
    return None


def _check_items(items: Sequence[Any]) -> ErrorSpec | None:
    called: set[str] = set()
    pending: list[str] = []  # calls since the last message, still without an output
    for index, item in enumerate(items):
        where = f"input[{index}]"
        if not isinstance(item, dict):
            return invalid_type(where, "an object", item)
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "item_reference":
            return responses_reasoning.not_persisted(item)
        if kind not in ITEM_TYPES:
            return _invalid_value(f"{where}.type", kind, ITEM_TYPES)
        if kind == "message":
            if pending:
                return _no_output(pending[0])
            error = _check_message(item, where)
        elif kind in _CALLS:
            error = _check_call(item, where, kind)
            if error is None:
                called.add(item["call_id"])
                pending.append(item["call_id"])
        elif kind in _OUTPUTS:
            call_id = item.get("call_id")
            if not isinstance(call_id, str):
                return _missing(f"{where}.call_id")
            if call_id not in called:
                return ErrorSpec(
                    400,
                    message=f"No tool call found for {kind.replace('_', ' ')} with call_id "
                    f"{call_id}.",
                    param="input",
                )
            if call_id in pending:
                pending.remove(call_id)
            error = _check_output(item, where)
        else:
            error = _check_reasoning(item, where, items[index + 1 : index + 2])
        if error is not None:
            return error
    if pending:
        return _no_output(pending[0])
    return None


def _check_message(item: Mapping[str, Any], where: str) -> ErrorSpec | None:
    role = item.get("role")
    if role not in ROLES:
        return _invalid_value(f"{where}.role", role, ROLES)
    content = item.get("content")
    if isinstance(content, str):
        return None
    if not isinstance(content, list):
        return invalid_type(f"{where}.content", "a string or an array", content)
    allowed = _OUTPUT_PARTS if role == "assistant" else _INPUT_PARTS
    for position, part in enumerate(content):
        path = f"{where}.content[{position}]"
        if not isinstance(part, dict):
            return invalid_type(path, "an object", part)
        if part.get("type") not in allowed:
            return _invalid_value(f"{path}.type", part.get("type"), allowed)
        field = {"input_image": None, "input_file": None, "refusal": "refusal"}.get(
            part["type"], "text"
        )
        if field is not None and not isinstance(part.get(field), str):
            return _missing(f"{path}.{field}")
        if part["type"] == "input_image" and not (
            isinstance(part.get("image_url"), str) or isinstance(part.get("file_id"), str)
        ):
            return _missing(f"{path}.image_url")
    return None


def _check_call(item: Mapping[str, Any], where: str, kind: str) -> ErrorSpec | None:
    payload = "arguments" if kind == "function_call" else "input"
    for field in ("call_id", "name", payload):
        value = item.get(field)
        if value is None:
            return _missing(f"{where}.{field}")
        if not isinstance(value, str):
            return invalid_type(f"{where}.{field}", "a string", value)
    return None


def _check_output(item: Mapping[str, Any], where: str) -> ErrorSpec | None:
    output = item.get("output")
    if output is None:
        return _missing(f"{where}.output")
    if not isinstance(output, str | list):
        return invalid_type(f"{where}.output", "a string or an array", output)
    return None


def _check_reasoning(
    item: Mapping[str, Any], where: str, following: Sequence[Any]
) -> ErrorSpec | None:
    if not isinstance(item.get("summary"), list):
        return _missing(f"{where}.summary")
    encrypted = item.get("encrypted_content")
    if encrypted is not None and not isinstance(encrypted, str):
        return invalid_type(f"{where}.encrypted_content", "a string", encrypted)
    after = following[0] if following else None
    kind = after.get("type", "message") if isinstance(after, dict) else None
    role = after.get("role") if isinstance(after, dict) else None
    if kind in _CALLS or (kind == "message" and role == "assistant"):
        return responses_reasoning.verify(item)
    name = item.get("id") if isinstance(item.get("id"), str) else "(no id)"
    return ErrorSpec(
        400,
        message=f"Item '{name}' of type 'reasoning' was provided without its required "
        "following item.",
        param="input",
    )


def _no_output(call_id: str) -> ErrorSpec:
    return ErrorSpec(400, message=f"No tool output found for function call {call_id}.")


def _missing(param: str) -> ErrorSpec:
    return ErrorSpec(
        400,
        message=f"Missing required parameter: '{param}'.",
        code="missing_required_parameter",
        param=param,
    )


def _invalid_value(param: str, got: object, allowed: Sequence[str]) -> ErrorSpec:
    listed = ", ".join(f"'{value}'" for value in allowed[:-1]) + f", and '{allowed[-1]}'"
    return ErrorSpec(
        400,
        message=f"Invalid value: {got!r}. Supported values are: {listed}.",
        code="invalid_value",
        param=param,
    )


# the neutral view -------------------------------------------------------------------


def prompt(body: Mapping[str, Any]) -> Prompt:
    instructions = body.get("instructions")
    system_chars = len(instructions) if isinstance(instructions, str) else 0
    items = body.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    turns: list[Turn] = []
    results: list[str] = []
    for item in items or ():
        kind = item.get("type", "message")
        if kind in _OUTPUTS:
            results.append(_output_text(item.get("output")))
            continue
        if results:
            turns.append(result_turn(results))
            results = []
        if kind in _CALLS:
            payload = item.get("arguments" if kind == "function_call" else "input")
            chars = call_chars(item.get("name"), payload)
            if turns and turns[-1].role == "assistant":  # calls join the text said before them
                said = turns[-1]
                turns[-1] = Turn("assistant", said.text, chars=said.chars + chars)
            else:
                turns.append(Turn("assistant", "", chars=chars))
        elif kind == "message":
            turns.append(_turn(item))
    if results:
        turns.append(result_turn(results))
    tools, forced = _tools(body)
    schema = responses_schema(body)
    return Prompt(tuple(turns), tools, forced, system_chars=system_chars, schema=schema)


def _turn(item: Mapping[str, Any]) -> Turn:
    role = item.get("role")
    content = item.get("content")
    text = _text(content)
    if role == "user":
        return user_turn(text, _images(content))
    if role == "assistant":
        return Turn("assistant", text, chars=len(text))
    return Turn("system", text, chars=len(text))


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    return joined(
        part["text"]
        for part in _list(content)
        if part.get("type") in ("input_text", "output_text") and isinstance(part.get("text"), str)
    )


def _images(content: object) -> list[str]:
    images = []
    for part in _list(content):
        if part.get("type") == "input_image":
            url = part.get("image_url")
            images.append(media_type(url) if isinstance(url, str) else "file")
    return images


def _output_text(output: object) -> str:
    if isinstance(output, str):
        return output
    texts = [
        part["text"]
        for part in _list(output)
        if isinstance(part, dict) and isinstance(part.get("text"), str)
    ]
    return joined(texts) if texts else compact(output)


def _tools(body: Mapping[str, Any]) -> tuple[tuple[ToolSpec, ...], str | None]:
    choice = body.get("tool_choice")
    if choice == "none":
        return (), None
    tools = []
    declared = []
    for tool in _list(body.get("tools")):  # a namespace's members are called by their names
        if tool.get("type") == "namespace":
            declared.extend(_list(tool.get("tools")))
        else:
            declared.append(tool)
    for tool in declared:
        kind = tool.get("type")
        if kind == "function":
            tools.append(ToolSpec(tool["name"], schema_properties(tool.get("parameters"))))
        elif kind == "custom":
            tools.append(ToolSpec(tool["name"], _CUSTOM_INPUT))
    forced = None
    if isinstance(choice, dict) and choice.get("type") in ("function", "custom"):
        name = choice.get("name")
        forced = name if isinstance(name, str) else None
    return tuple(tools), forced if tools else None


def _list(value: object) -> list[Any]:
    return [entry for entry in value if isinstance(entry, dict)] if isinstance(value, list) else []
