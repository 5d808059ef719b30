"""Chat Completions requests at the door: the fields failsoft reads, checked in OpenAI's own
terms, so a request OpenAI would refuse is a 400 whatever the model's targets (before,
`content` as an object was skipped as untranslatable on an Anthropic target and forwarded
as is to an OpenAI fallback, which answered it).

Unknown fields and unknown content-part types pass through (forward compatibility)."""

from __future__ import annotations

from typing import Any

from failsoft.validate.common import check_fields, fail, is_int, is_number, message_content, objects

_CONTENT = "a string or a list of content parts"

_FIELDS: dict[str, tuple[Any, str]] = {
    "tools": (list, "a list of tools"),
    "functions": (list, "a list of functions"),
    "tool_choice": ((str, dict), "a string or an object"),
    "stream_options": (dict, "an object"),
    "response_format": (dict, "an object"),
    "max_tokens": (is_int, "an integer"),
    "max_completion_tokens": (is_int, "an integer"),
    "n": (is_int, "an integer"),
    "seed": (is_int, "an integer"),
    "temperature": (is_number, "a number"),
    "top_p": (is_number, "a number"),
    "presence_penalty": (is_number, "a number"),
    "frequency_penalty": (is_number, "a number"),
    "parallel_tool_calls": (bool, "true or false"),
    "stop": ((str, list), "a string or a list of strings"),
    "user": (str, "a string"),
    "metadata": (dict, "an object"),
    "reasoning_effort": (str, "a string"),
}

_PART_FIELDS: dict[str, tuple[str, type, str]] = {
    "text": ("text", str, "a string"),
    "image_url": ("image_url", dict, "an object with a 'url'"),
    "input_audio": ("input_audio", dict, "an object"),
    "file": ("file", dict, "an object"),
}
"""part type → the field the translators read, its type, the expectation."""


def check(payload: dict[str, Any]) -> None:
    """`InvalidRequest` naming the first field of `payload` that is not what OpenAI
    documents. `messages` is known to be an array (`parse_chat_body`)."""
    for i, message in enumerate(payload["messages"]):
        content = message_content(i, message)
        if content is not None and type(content) is not str:
            if type(content) is not list:
                fail(f"messages[{i}].content", _CONTENT, content)
            for j, part in enumerate(content):
                kind = part.get("type") if type(part) is dict else None
                if type(kind) is not str:
                    fail(f"messages[{i}].content[{j}]", "a content part with a 'type'", part)
                rule = _PART_FIELDS.get(kind)
                if rule is not None and type(part.get(rule[0])) is not rule[1]:
                    where = f"messages[{i}].content[{j}].{rule[0]}"
                    fail(where, rule[2], part.get(rule[0]))
        calls = message.get("tool_calls")
        if calls is not None:
            if type(calls) is not list:
                fail(f"messages[{i}].tool_calls", "a list of tool calls", calls)
            objects(calls, f"messages[{i}].tool_calls")
            for j, call in enumerate(calls):
                function = call.get("function")
                if function is not None and type(function) is not dict:
                    fail(f"messages[{i}].tool_calls[{j}].function", "an object", function)
    check_fields(payload, _FIELDS)
    tools = payload.get("tools")
    if tools:
        for i, tool in enumerate(tools):
            if type(tool) is not dict:
                fail(f"tools[{i}]", "a tool object", tool)
            function = tool.get("function")
            if function is not None and type(function) is not dict:
                fail(f"tools[{i}].function", "an object", function)
    stop = payload.get("stop")
    if type(stop) is list:
        for i, item in enumerate(stop):
            if type(item) is not str:
                fail(f"stop[{i}]", "a string", item)
