"""Gemini generateContent requests: routes, the validation the real API does, the neutral view.

Google's JSON parser accepts both camelCase and snake_case field names and rejects unknown
ones, so bodies are first normalized (message fields only; `args`, `response` and schemas
are user data and stay as sent). The checks are the ones a broken translation trips:
OpenAI/Anthropic shapes leaking through, turns in the wrong order, parallel results
split or dropped, and Gemini 3 thought signatures lost on the way back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, unquote

from failsoft.sim.gemini_checks import Invalid, check_turns, invalid
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
from failsoft.sim.structured import gemini_schema
from failsoft.sim.wire import ErrorSpec

METHODS = ("generateContent", "streamGenerateContent")
MODES = ("MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED")

_TOP = {
    "contents", "tools", "toolConfig", "safetySettings", "systemInstruction",
    "generationConfig", "cachedContent", "model", "labels", "serviceTier", "store",
}  # fmt: skip
_CONTENT = {"role", "parts"}
_DATA = (
    "text", "inlineData", "fileData", "functionCall", "functionResponse",
    "executableCode", "codeExecutionResult",
)  # fmt: skip
_PART = {*_DATA, "thought", "thoughtSignature", "videoMetadata", "partMetadata", "mediaResolution"}
_GENERATION = {
    "stopSequences", "responseMimeType", "responseSchema", "responseJsonSchema",
    "responseModalities", "candidateCount", "maxOutputTokens", "temperature", "topP", "topK",
    "seed", "presencePenalty", "frequencyPenalty", "responseLogprobs", "logprobs",
    "enableEnhancedCivicAnswers", "speechConfig", "thinkingConfig", "imageConfig",
    "mediaResolution",
}  # fmt: skip
_NESTED = {"inlineData", "fileData", "functionCall", "functionResponse"}
"""Part fields whose own keys are message fields (their `args`/`response` values are not)."""
_PROTO_PATH = {"generationConfig": "generation_config", "systemInstruction": "system_instruction"}


def route(path: str) -> tuple[str, str | None] | None:
    """`/v1beta/models/{model}:{method}` -> (model, method); the path may be URL-encoded."""
    rest = unquote(path[len("/v1beta/") :])
    if not rest.startswith("models/"):
        return None
    model, _, method = rest[len("models/") :].partition(":")
    model = model.removeprefix("models/")
    if not model or "/" in model:
        return None
    return model, method or None


def query(raw: str) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(raw).items()}


def check(body: Mapping[str, Any], model: str) -> ErrorSpec | None:
    try:
        normal = normalize(body)
        _check_config(normal)
        check_turns(normal["contents"], model)
    except Invalid as exc:
        return exc.spec
    return None


def normalize(body: Mapping[str, Any]) -> dict[str, Any]:
    """camelCase message fields, checked against the known names; raises `Invalid`."""
    top = _fields(body, _TOP, "")
    contents = top.get("contents")
    if not isinstance(contents, list) or not contents:
        raise invalid("* GenerateContentRequest.contents: contents is not specified\n")
    top["contents"] = [
        _content(content, f"contents[{index}]") for index, content in enumerate(contents)
    ]
    system = top.get("systemInstruction")
    if system is not None:
        top["systemInstruction"] = _content(system, "system_instruction", system=True)
    config = top.get("generationConfig")
    if config is not None:
        top["generationConfig"] = _fields(
            _mapping(config, "generation_config"), _GENERATION, "generation_config"
        )
    tools = top.get("tools")
    if tools is not None:
        top["tools"] = [_camel_all(tool, depth=2) for tool in _list(tools, "tools")]
    tool_config = top.get("toolConfig")
    if tool_config is not None:
        top["toolConfig"] = _camel_all(_mapping(tool_config, "tool_config"), depth=2)
    return top


def _content(value: object, where: str, *, system: bool = False) -> dict[str, Any]:
    content = _fields(_mapping(value, where), _CONTENT, where)
    role = content.get("role", "user" if not system else None)
    if not system and role not in ("user", "model"):
        raise invalid("Please use a valid role: user, model.")
    content["role"] = role
    parts = content.get("parts")
    if not isinstance(parts, list) or not parts:
        raise invalid(
            f"* GenerateContentRequest.{where}.parts: contents.parts must not be empty.\n"
        )
    content["parts"] = [_part(part, f"{where}.parts[{index}]") for index, part in enumerate(parts)]
    return content


def _part(value: object, where: str) -> dict[str, Any]:
    part = _fields(_mapping(value, where), _PART, where)
    if not any(name in part for name in _DATA):
        raise invalid(
            f"* GenerateContentRequest.{where}.data: required oneof field 'data' must have one "
            "initialized field\n"
        )
    for name in _NESTED & part.keys():
        part[name] = _camel_all(_mapping(part[name], f"{where}.{_snake(name)}"), depth=1)
    response = part.get("functionResponse")
    if response is not None and not (isinstance(response.get("name"), str) and response["name"]):
        raise invalid(
            f"* GenerateContentRequest.{where}.function_response.name: Name cannot be empty.\n"
        )
    return part


def _check_config(body: Mapping[str, Any]) -> None:
    config = body.get("generationConfig") or {}
    limit = config.get("maxOutputTokens")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
        raise invalid(
            f"Invalid value at 'generation_config.max_output_tokens' (TYPE_INT32), {compact(limit)}"
        )
    calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    mode = calling.get("mode")
    if mode is not None and mode not in MODES:
        raise invalid(
            "Invalid value at 'tool_config.function_calling_config.mode' (type.googleapis.com/"
            f"google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), {compact(mode)}"
        )


def _fields(value: Mapping[str, Any], known: set[str], where: str) -> dict[str, Any]:
    result = {}
    for key, item in value.items():
        name = _camel(key)
        if name not in known:
            at = f" at '{where}'" if where else ""
            raise invalid(
                f'Invalid JSON payload received. Unknown name "{key}"{at}: Cannot find field.'
            )
        result[name] = item
    return result


def _camel_all(value: object, depth: int = 1) -> Any:
    """camelCase the keys of `depth` levels of mappings (lists pass through)."""
    if isinstance(value, list):
        return [_camel_all(item, depth) for item in value]
    if not isinstance(value, Mapping) or depth == 0:
        return value
    keep = {"args", "response", "parameters", "parametersJsonSchema", "responseJsonSchema"}
    return {
        _camel(key): item if _camel(key) in keep else _camel_all(item, depth - 1)
        for key, item in value.items()
    }


def _camel(key: str) -> str:
    if "_" not in key:
        return key
    head, *rest = key.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _snake(key: str) -> str:
    return _PROTO_PATH.get(key) or "".join(f"_{c.lower()}" if c.isupper() else c for c in key)


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise invalid(f"Invalid value at '{where}', expected an object, got {compact(value)}")
    return value


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise invalid(f"Invalid value at '{where}', expected a list, got {compact(value)}")
    return value


def max_tokens(body: Mapping[str, Any]) -> int | None:
    config = body.get("generationConfig", body.get("generation_config"))
    if not isinstance(config, Mapping):
        return None
    value = config.get("maxOutputTokens", config.get("max_output_tokens"))
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def prompt(body: Mapping[str, Any]) -> Prompt:
    normal = normalize(body)
    turns = [_turn(content) for content in normal["contents"]]
    system = normal.get("systemInstruction")
    system_text = _text(system["parts"]) if system else ""
    tools, forced = _tools(normal)
    schema = gemini_schema(normal.get("generationConfig"))
    return Prompt(tuple(turns), tools, forced, len(system_text), continues=True, schema=schema)


def _turn(content: Mapping[str, Any]) -> Turn:
    parts = content["parts"]
    text = _text(parts)
    if content["role"] == "model":
        chars = len(text) + sum(
            call_chars(part["functionCall"].get("name"), part["functionCall"].get("args") or {})
            for part in parts
            if "functionCall" in part
        )
        return Turn("assistant", text, chars=chars)
    images = [image for part in parts if (image := _image(part)) is not None]
    results = [_result(part["functionResponse"]) for part in parts if "functionResponse" in part]
    return result_turn(results, text, images) if results else user_turn(text, images)


def _text(parts: list[dict[str, Any]]) -> str:
    return joined(
        part["text"]
        for part in parts
        if isinstance(part.get("text"), str) and not part.get("thought")
    )


def _image(part: Mapping[str, Any]) -> str | None:
    """Only image media counts: a PDF sent as inlineData is a document, not an image."""
    inline, linked = part.get("inlineData"), part.get("fileData")
    if isinstance(inline, Mapping):
        mime = inline.get("mimeType")
        return mime if isinstance(mime, str) and mime.startswith("image/") else None
    if isinstance(linked, Mapping):
        mime = linked.get("mimeType")
        return (
            "url" if mime is None or (isinstance(mime, str) and mime.startswith("image/")) else None
        )
    return None


def _result(response: Mapping[str, Any]) -> str:
    """{"result": "15 C"} -> "15 C": the wrappers gateways put around a plain string result."""
    value = response.get("response")
    if isinstance(value, Mapping) and len(value) == 1:
        ((key, item),) = value.items()
        if key in ("result", "content", "output") and isinstance(item, str):
            return item
    return compact(value)


def _tools(body: Mapping[str, Any]) -> tuple[tuple[ToolSpec, ...], str | None]:
    calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    mode = calling.get("mode", "AUTO")
    if mode == "NONE":
        return (), None
    allowed = calling.get("allowedFunctionNames")
    names = [name for name in allowed if isinstance(name, str)] if isinstance(allowed, list) else []
    tools = []
    for tool in body.get("tools") or ():
        declarations = tool.get("functionDeclarations") if isinstance(tool, Mapping) else None
        for declaration in declarations if isinstance(declarations, list) else ():
            name = declaration.get("name") if isinstance(declaration, Mapping) else None
            if not isinstance(name, str) or (names and name not in names):
                continue
            schema = declaration.get("parameters", declaration.get("parametersJsonSchema"))
            tools.append(ToolSpec(name, schema_properties(schema)))
    forced = names[0] if mode == "ANY" and len(names) == 1 and tools else None
    return tuple(tools), forced
