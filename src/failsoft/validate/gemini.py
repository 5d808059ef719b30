"""generateContent requests at the door: the fields failsoft reads, checked in Google's own
terms (either spelling, `systemInstruction` or `system_instruction`); the translator
(translate/gemini_caller.py) reads the rest. Unknown fields and part kinds pass through."""

from __future__ import annotations

from typing import Any

from failsoft.errors import InvalidRequest
from failsoft.validate.common import check_fields, fail

_FIELDS: dict[str, tuple[Any, str]] = {
    "systemInstruction": ((str, dict), "a Content object"),
    "system_instruction": ((str, dict), "a Content object"),
    "tools": (list, "a list of tools"),
    "toolConfig": (dict, "an object"),
    "tool_config": (dict, "an object"),
    "generationConfig": (dict, "an object"),
    "generation_config": (dict, "an object"),
    "safetySettings": (list, "a list of objects"),
    "safety_settings": (list, "a list of objects"),
}


def check(payload: dict[str, Any]) -> None:
    contents = payload.get("contents")
    if type(contents) is not list:
        if contents is None:
            raise InvalidRequest("contents: required (a list of Content objects)", param="contents")
        fail("contents", "a list of Content objects", contents)
    for i, content in enumerate(contents):
        if type(content) is not dict:
            fail(f"contents[{i}]", "a Content object", content)
        parts = content.get("parts")
        if parts is not None:
            if type(parts) is not list:
                fail(f"contents[{i}].parts", "a list of parts", parts)
            for j, part in enumerate(parts):
                if type(part) is not dict:
                    fail(f"contents[{i}].parts[{j}]", "a part (an object)", part)
        role = content.get("role")
        if role is not None and type(role) is not str:
            fail(f"contents[{i}].role", "a string", role)
    check_fields(payload, _FIELDS)
    tools = payload.get("tools")
    if tools:
        for i, tool in enumerate(tools):
            if type(tool) is not dict:
                fail(f"tools[{i}]", "a Tool object", tool)
