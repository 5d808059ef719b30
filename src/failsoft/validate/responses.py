"""Responses API requests at the door: the fields failsoft reads, checked in OpenAI's own
terms. `input` is known to be a string or an array (`responses_api.parse_body`); unknown
fields and item types pass through."""

from __future__ import annotations

from typing import Any

from failsoft.validate.common import check_fields, check_model, fail, is_int, is_number

_FIELDS: dict[str, tuple[Any, str]] = {
    "instructions": (str, "a string"),
    "tools": (list, "a list of tools"),
    "tool_choice": ((str, dict), "a string or an object"),
    "max_output_tokens": (is_int, "an integer"),
    "temperature": (is_number, "a number"),
    "top_p": (is_number, "a number"),
    "parallel_tool_calls": (bool, "true or false"),
    "previous_response_id": (str, "a string"),
    "reasoning": (dict, "an object"),
    "text": (dict, "an object"),
    "metadata": (dict, "an object"),
    "include": (list, "a list of strings"),
    "user": (str, "a string"),
}


def check(payload: dict[str, Any]) -> None:
    items = payload["input"]
    if type(items) is list:
        for i, item in enumerate(items):
            if type(item) is not dict:
                fail(f"input[{i}]", "an input item (an object)", item)
            content = item.get("content")
            if content is not None and type(content) is not str:
                if type(content) is not list:
                    fail(f"input[{i}].content", "a string or a list of content parts", content)
                for j, part in enumerate(content):
                    if type(part) is not dict:
                        fail(f"input[{i}].content[{j}]", "a content part (an object)", part)
    check_fields(payload, _FIELDS)
    previous = payload.get("previous_response_id")
    if previous is not None:  # a key into the conversation store: bounded and printable
        check_model(previous, param="previous_response_id")
    choice = payload.get("tool_choice")
    if type(choice) is dict and not isinstance(choice.get("type"), str | None):
        fail("tool_choice.type", "a string", choice["type"])
    tools = payload.get("tools")
    if tools:
        for i, tool in enumerate(tools):
            if type(tool) is not dict:
                fail(f"tools[{i}]", "a tool object", tool)
            kind = tool.get("type")
            if kind is not None and type(kind) is not str:
                fail(f"tools[{i}].type", "a string (the tool's type)", kind)
            name = tool.get("name")
            if name is not None and type(name) is not str:
                fail(f"tools[{i}].name", "a string", name)
