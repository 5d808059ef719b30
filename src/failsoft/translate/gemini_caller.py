"""A Gemini caller's request in the internal form, and answers written back for it.

`translate/gemini.py` speaks Gemini to targets; this module is the other side: what
google-genai and Gemini CLI send. Google's JSON parser takes camelCase and snake_case
field names alike, so message fields are camelCased first (user data — call `args`, a
function's `response`, schemas — is left as sent). What other dialects cannot carry is
refused (`Untranslatable`: a target skip) or dropped with a warning; see
docs/translation.md for the list. Google's OpenAPI-style schemas (`"type": "OBJECT"`,
`nullable`) become JSON Schema, which every other dialect takes.

Answers from other dialects name their calls with ids (`call_…`, `toolu_…`); the Gemini
answer carries the id in `functionCall.id`, which Gemini callers send back with the call
and its `functionResponse`, so the target sees its own ids again. The first call of an
answer gets Google's `skip_thought_signature_validator` signature, so the conversation can
move on to a Gemini 3 target, which refuses unsigned calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from failsoft.translate import gemini, thinking
from failsoft.translate.common import Warnings, args_object, expect
from failsoft.translate.ir import Request, Response, ResponseFormat, Text, ToolCall, Usage

_KEEP = frozenset(
    {"args", "response", "parameters", "parametersJsonSchema", "responseSchema",
     "responseJsonSchema", "responseJsonSchemaOrdering"}
)  # fmt: skip
"""Fields whose value is user data: their keys are never renamed."""
_DROPPED_TOP = {
    "safetySettings": "only Gemini has safety settings",
    "labels": "only Gemini bills by label",
    "serviceTier": "only Gemini has this service tier",
    "store": "only Gemini stores these requests",
}
_DROPPED_CONFIG = {
    "responseLogprobs": "log probabilities are not carried",
    "logprobs": "log probabilities are not carried",
    "enableEnhancedCivicAnswers": "only Gemini has it",
    "mediaResolution": "only Gemini has it",
    "audioTimestamp": "only Gemini has it",
}
_REFUSED_CONFIG = ("speechConfig", "imageConfig")
_LEVELS = {"minimal": "minimal", "low": "low", "medium": "medium", "high": "high"}
_FINISH = {"max_tokens": "MAX_TOKENS", "refusal": "SAFETY"}
_SCHEMA_DEPTH = 32


# --------------------------------------------------------------------------- requests in


def parse_request(payload: dict[str, Any]) -> Request:
    """The caller's request in the internal form; `ValueError` for a shape Google itself
    refuses (the caller gets a 400), `Untranslatable` for what no other dialect carries."""
    body = camel_keys(payload, 1)
    warnings = Warnings()
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise ValueError("'contents' is required and must be a non-empty array")
    turns = [_content(c, f"contents[{i}]", warnings) for i, c in enumerate(contents)]
    body["contents"] = [turn for turn in turns if turn["parts"]]
    system = body.get("systemInstruction")
    if system is not None:
        if isinstance(system, str):
            system = {"parts": [{"text": system}]}
        system = {**_mapping(system, "systemInstruction"), "role": "user"}  # its role is moot
        body["systemInstruction"] = _content(system, "systemInstruction", warnings)
    for name, why in _DROPPED_TOP.items():
        if body.get(name):
            warnings.drop(name, why)
    expect(not body.get("cachedContent"), "'cachedContent' names a cache only Gemini holds")
    body["tools"] = _tools(body.get("tools"))
    config = body.get("toolConfig")
    if config is not None:
        body["toolConfig"] = camel_keys(_mapping(config, "toolConfig"), 2)
    generation = camel_keys(_mapping(body.get("generationConfig") or {}, "generationConfig"), 1)
    body["generationConfig"] = generation
    request = gemini.parse_request(body)
    _config(generation, request, warnings)
    calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    allowed = calling.get("allowedFunctionNames") or []
    if calling.get("mode") == "ANY" and len(allowed) > 1:
        warnings.drop("allowedFunctionNames", "other dialects can require a call, not a list")
    if calling.get("mode") == "VALIDATED":
        request.tool_choice = None
    request.dropped = warnings.items
    return request


def _content(value: Any, where: str, warnings: Warnings) -> dict[str, Any]:
    content = camel_keys(_mapping(value, where), 1)
    role = content.get("role") or "user"
    if role == "function":  # older clients send function responses under this role
        role = "user"
    if role not in ("user", "model"):
        raise ValueError(f"{where}: role must be 'user' or 'model', not {role!r}")
    parts = content.get("parts")
    if not isinstance(parts, list):
        raise ValueError(f"{where}: 'parts' must be an array")
    kept = []
    for index, part in enumerate(parts):
        part = camel_keys(_mapping(part, f"{where}.parts[{index}]"), 2)
        if part.get("thought"):
            warnings.drop("thought parts", "only the Gemini model that wrote them reads them")
            continue
        for media in ("inlineData", "fileData"):
            if media in part:
                mime = _mapping(part[media], f"{where}.parts[{index}].{media}").get("mimeType")
                expect(
                    not isinstance(mime, str) or mime.startswith("image/"),
                    f"{where}: {media} of type {mime!r} (only images cross dialects)",
                )
        if "functionResponse" in part:
            response = _mapping(part["functionResponse"], f"{where}.functionResponse")
            if not isinstance(response.get("name"), str) or not response["name"]:
                raise ValueError(f"{where}: a functionResponse needs its 'name'")
        if "functionCall" in part:
            call = _mapping(part["functionCall"], f"{where}.functionCall")
            if not isinstance(call.get("name"), str) or not call["name"]:
                raise ValueError(f"{where}: a functionCall needs its 'name'")
        kept.append(part)
    return {"role": role, "parts": kept}


def _tools(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("'tools' must be an array")
    out = []
    for index, tool in enumerate(value):
        tool = camel_keys(_mapping(tool, f"tools[{index}]"), 1)
        others = sorted(key for key in tool if key != "functionDeclarations")
        expect(not others, f"tools[{index}]: {', '.join(others)} runs only at Gemini")
        declarations = tool.get("functionDeclarations") or []
        if not isinstance(declarations, list):
            raise ValueError(f"tools[{index}].functionDeclarations must be an array")
        fixed = []
        for d in declarations:
            d = camel_keys(_mapping(d, f"tools[{index}].functionDeclarations"), 1)
            if not isinstance(d.get("name"), str) or not d["name"]:
                raise ValueError(f"tools[{index}]: a function declaration needs its 'name'")
            if isinstance(d.get("parameters"), Mapping):
                d["parameters"] = json_schema(d["parameters"])
            fixed.append(d)
        out.append({"functionDeclarations": fixed})
    return out


def _config(config: dict[str, Any], request: Request, warnings: Warnings) -> None:
    for name, why in _DROPPED_CONFIG.items():
        if config.get(name):
            warnings.drop(f"generationConfig.{name}", why)
    for name in _REFUSED_CONFIG:
        expect(not config.get(name), f"generationConfig.{name}: only Gemini answers with it")
    count = config.get("candidateCount")
    expect(count in (None, 1), "candidateCount above 1: other dialects answer once here")
    modalities = config.get("responseModalities")
    expect(
        not modalities or list(modalities) == ["TEXT"],
        "responseModalities other than TEXT: only Gemini answers with them",
    )
    if config.get("responseMimeType") == "application/json":
        schema = config.get("responseJsonSchema")
        if not isinstance(schema, Mapping) and isinstance(config.get("responseSchema"), Mapping):
            schema = json_schema(config["responseSchema"])
        request.response_format = (
            ResponseFormat("json_schema", dict(schema), name="response")
            if isinstance(schema, Mapping)
            else ResponseFormat("json_object")
        )
    elif config.get("responseMimeType") not in (None, "text/plain"):
        warnings.drop(f"responseMimeType {config['responseMimeType']!r}", "answered as text")
    think = config.get("thinkingConfig")
    if isinstance(think, Mapping):
        think = camel_keys(think, 1)
        level, budget = think.get("thinkingLevel"), think.get("thinkingBudget")
        if isinstance(level, str) and level.lower() in _LEVELS:
            request.reasoning_effort = _LEVELS[level.lower()]
        elif isinstance(budget, int) and not isinstance(budget, bool) and budget > 0:
            request.reasoning_effort = thinking.effort_of(budget)


def json_schema(schema: Mapping[str, Any], depth: int = 0) -> dict[str, Any]:
    """Google's OpenAPI-subset schema as JSON Schema: lower-case types, `nullable` as a
    null type, `propertyOrdering` left out (JSON Schema has no ordering)."""
    out: dict[str, Any] = {}
    for key, value in camel_keys(schema, 1).items():
        if key == "propertyOrdering":
            continue
        if depth < _SCHEMA_DEPTH and key == "properties" and isinstance(value, Mapping):
            value = {
                k: json_schema(v, depth + 1) if isinstance(v, Mapping) else v
                for k, v in value.items()
            }
        elif depth < _SCHEMA_DEPTH and key == "items" and isinstance(value, Mapping):
            value = json_schema(value, depth + 1)
        elif depth < _SCHEMA_DEPTH and key == "anyOf" and isinstance(value, list):
            value = [json_schema(v, depth + 1) if isinstance(v, Mapping) else v for v in value]
        elif key == "type" and isinstance(value, str):
            value = value.lower()
        out[key] = value
    if out.pop("nullable", False) is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def camel_keys(value: Mapping[str, Any], depth: int) -> dict[str, Any]:
    """`value` with `depth` levels of keys camelCased (user data fields kept as sent)."""
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = _camel(key) if isinstance(key, str) else key
        if depth > 1 and name not in _KEEP and isinstance(item, Mapping):
            item = camel_keys(item, depth - 1)
        out[name] = item
    return out


def _camel(key: str) -> str:
    if "_" not in key:
        return key
    head, *rest = key.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} must be an object")
    return value


# --------------------------------------------------------------------------- answers out


def call_part(call: ToolCall, first: bool) -> dict[str, Any]:
    """A `functionCall` part for a call another dialect made (its id kept, so results
    find it)."""
    own, signature = gemini.split_call_id(call.id)
    function: dict[str, Any] = {"name": call.name}
    if own:
        function["id"] = own
    function["args"] = args_object(call.arguments)
    part: dict[str, Any] = {"functionCall": function}
    if signature is not None:
        part["thoughtSignature"] = signature
    elif first:
        part["thoughtSignature"] = gemini.SKIP_SIGNATURE
    return part


def finish_reason(stop: str) -> str:
    return _FINISH.get(stop, "STOP")


def usage_metadata(usage: Usage) -> dict[str, int]:
    prompt, output = usage.input or 0, usage.output or 0
    out = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": max(output - (usage.reasoning or 0), 0),
        "totalTokenCount": prompt + output,
    }
    if usage.reasoning:
        out["thoughtsTokenCount"] = usage.reasoning
    if usage.cache_read:
        out["cachedContentTokenCount"] = usage.cache_read
    return out


def build_response(response: Response) -> dict[str, Any]:
    """A `GenerateContentResponse` for an answer another dialect gave."""
    parts: list[dict[str, Any]] = []
    calls = 0
    for block in response.content:
        if isinstance(block, Text) and block.text:
            parts.append({"text": block.text})
        elif isinstance(block, ToolCall):
            parts.append(call_part(block, calls == 0))
            calls += 1
    candidate: dict[str, Any] = {
        "content": {"role": "model", "parts": parts},
        "finishReason": finish_reason(response.stop),
        "index": 0,
    }
    return {
        "candidates": [candidate],
        "usageMetadata": usage_metadata(response.usage),
        "modelVersion": response.model,
        "responseId": response.id,
    }
