"""Messages API requests at the door: the fields failsoft reads, checked in Anthropic's own
terms (`max_tokens` is required there), so a request Anthropic would refuse is a 400
whatever the model's targets. Unknown fields and block types pass through."""

from __future__ import annotations

from typing import Any

from failsoft.errors import InvalidRequest
from failsoft.validate.common import check_fields, fail, is_int, is_number, message_content

_FIELDS: dict[str, tuple[Any, str]] = {
    "system": ((str, list), "a string or a list of text blocks"),
    "tools": (list, "a list of tools"),
    "tool_choice": (dict, "an object"),
    "max_tokens": (is_int, "an integer"),
    "temperature": (is_number, "a number"),
    "top_p": (is_number, "a number"),
    "top_k": (is_int, "an integer"),
    "stop_sequences": (list, "a list of strings"),
    "metadata": (dict, "an object"),
    "thinking": (dict, "an object"),
    "output_config": (dict, "an object"),
}


def check(payload: dict[str, Any]) -> None:
    """`InvalidRequest` naming the first field of `payload` that is not what Anthropic
    documents. `messages` is known to be an array (`parse_chat_body`)."""
    for i, message in enumerate(payload["messages"]):
        content = message_content(i, message)
        if type(content) is not str:
            if type(content) is not list:
                fail(f"messages[{i}].content", "a string or a list of content blocks", content)
            blocks(content, f"messages[{i}].content")
    if "max_tokens" not in payload:
        raise InvalidRequest("max_tokens: required (an integer)", param="max_tokens")
    check_fields(payload, _FIELDS)
    if payload["max_tokens"] is None:
        fail("max_tokens", "an integer", None)
    system = payload.get("system")
    if type(system) is list:
        blocks(system, "system")
    for name in ("tools", "stop_sequences"):
        items = payload.get(name)
        if items:
            want = dict if name == "tools" else str
            for i, item in enumerate(items):
                if type(item) is not want:
                    fail(f"{name}[{i}]", "an object" if want is dict else "a string", item)


_BLOCK_FIELDS: dict[str, tuple[str, Any, str]] = {
    "text": ("text", str, "a string"),
    "image": ("source", dict, "an object"),
    "document": ("source", dict, "an object"),
    "tool_use": ("name", str, "a string"),
    "tool_result": ("content", (str, list, type(None)), "a string or a list of blocks"),
}
"""block type → the field the translators read, its type, the expectation."""


def blocks(items: list[Any], where: str) -> None:
    for j, block in enumerate(items):
        kind = block.get("type") if type(block) is dict else None
        if type(kind) is not str:
            fail(f"{where}[{j}]", "a content block with a 'type'", block)
        rule = _BLOCK_FIELDS.get(kind)
        if rule is not None:
            name, want, expected = rule
            value = block.get(name)
            if type(value) is not want and (type(want) is not tuple or type(value) not in want):
                fail(f"{where}[{j}].{name}", expected, value)
            if kind == "tool_result" and type(value) is list:  # blocks inside, checked alike
                blocks(value, f"{where}[{j}].content")
