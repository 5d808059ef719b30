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
        _parts(content.get("parts"), f"contents[{i}]")
        role = content.get("role")
        if role is not None and type(role) is not str:
            fail(f"contents[{i}].role", "a string", role)
    check_fields(payload, _FIELDS)
    for name in ("systemInstruction", "system_instruction"):
        system = payload.get(name)
        if type(system) is dict:
            _parts(system.get("parts"), name)
    for name in ("generationConfig", "generation_config"):
        config = payload.get(name)
        if type(config) is dict:
            for key in ("stopSequences", "stop_sequences"):
                stop = config.get(key)
                if stop is not None and (
                    type(stop) is not list or any(type(s) is not str for s in stop)
                ):
                    fail(f"{name}.{key}", "a list of strings", stop)
    for name in ("toolConfig", "tool_config"):
        config = payload.get(name)
        if type(config) is dict:
            _tool_config(config, name)
    tools = payload.get("tools")
    if tools:
        for i, tool in enumerate(tools):
            if type(tool) is not dict:
                fail(f"tools[{i}]", "a Tool object", tool)


def _parts(parts: Any, where: str) -> None:
    """A Content's parts: objects, each one's `text` and `thoughtSignature` (when there)
    a string, as Google's Part says: translators join the texts and carry the signatures
    inside call ids."""
    if parts is None:
        return
    if type(parts) is not list:
        fail(f"{where}.parts", "a list of parts", parts)
    for j, part in enumerate(parts):
        if type(part) is not dict:
            fail(f"{where}.parts[{j}]", "a part (an object)", part)
        text = part.get("text")
        if text is not None and type(text) is not str:
            fail(f"{where}.parts[{j}].text", "a string", text)
        signature = part.get("thoughtSignature")
        if signature is not None and type(signature) is not str:
            fail(f"{where}.parts[{j}].thoughtSignature", "a string", signature)


def _tool_config(config: dict[str, Any], where: str) -> None:
    """`functionCallingConfig`: an object; its `mode` a string, its
    `allowedFunctionNames` a list of strings (the translators pick a tool by them)."""
    for key in ("functionCallingConfig", "function_calling_config"):
        calling = config.get(key)
        if calling is None:
            continue
        if type(calling) is not dict:
            fail(f"{where}.{key}", "an object", calling)
        mode = calling.get("mode")
        if mode is not None and type(mode) is not str:
            fail(f"{where}.{key}.mode", "a string", mode)
        for spelling in ("allowedFunctionNames", "allowed_function_names"):
            names = calling.get(spelling)
            if names is None:
                continue
            if type(names) is not list or any(type(n) is not str for n in names):
                fail(f"{where}.{key}.{spelling}", "a list of strings", names)
