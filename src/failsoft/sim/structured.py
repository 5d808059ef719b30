"""Structured output: the JSON a model writes when a request asks for a schema.

Each dialect names the schema its own way (`response_format`, `output_config.format`,
`generationConfig.responseJsonSchema`, the Responses API's `text.format`); each input
module reads it into one value, and the answer is built here, once. The values come from
the answer the same question would get as text, so a test can predict them and see that a
schema survived a translation: every string is that text, numbers are 1, booleans true.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

ANY_JSON: Mapping[str, Any] = {}
"""What a request for JSON without a schema (`json_object`) reads as."""

_DEPTH = 8
"""Deeper schemas get a string: a caller controls the schema, the simulator stays bounded."""


def json_answer(schema: Mapping[str, Any], text: str) -> str:
    """Compact JSON conforming to `schema` (an object with `{"answer": text}` when the
    schema says nothing more)."""
    value = _value(schema, text, 0)
    if not isinstance(value, dict) or (not value and not _properties(schema)):
        value = {"answer": text}
    return orjson.dumps(value).decode()


def _properties(schema: object) -> Mapping[str, Any]:
    if not isinstance(schema, Mapping):
        return {}
    found = schema.get("properties")
    return found if isinstance(found, Mapping) else {}


def _value(schema: object, text: str, depth: int) -> Any:
    if not isinstance(schema, Mapping) or depth >= _DEPTH:
        return text
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            chosen = next(
                (o for o in options if isinstance(o, Mapping) and o.get("type") != "null"),
                options[0],
            )
            return _value(chosen, text, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if kind == "array":
        return [_value(schema.get("items"), text, depth + 1)]
    if kind == "object" or "properties" in schema:
        return {
            str(name): _value(sub, text, depth + 1) for name, sub in _properties(schema).items()
        }
    return text


def openai_schema(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """Chat Completions: `response_format`."""
    fmt = body.get("response_format")
    return _format(fmt.get("json_schema") if isinstance(fmt, Mapping) else None, fmt)


def responses_schema(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """Responses: `text.format` (the schema sits beside `type`, not under `json_schema`)."""
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, Mapping) else None
    return _format(fmt, fmt)


def anthropic_schema(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """Messages: `output_config.format` (and the beta's top-level `output_format`)."""
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, Mapping) else body.get("output_format")
    return _format(fmt, fmt)


def gemini_schema(config: object) -> Mapping[str, Any] | None:
    """Gemini: `generationConfig` with `responseMimeType: application/json`."""
    if not isinstance(config, Mapping):
        return None
    mime = config.get("responseMimeType", config.get("response_mime_type"))
    if mime != "application/json":
        return None
    for key in ("responseJsonSchema", "response_json_schema", "responseSchema", "response_schema"):
        schema = config.get(key)
        if isinstance(schema, Mapping):
            return _lowered(schema, 0)
    return ANY_JSON


def _format(holder: object, fmt: object) -> Mapping[str, Any] | None:
    if not isinstance(fmt, Mapping):
        return None
    if fmt.get("type") == "json_object":
        return ANY_JSON
    if fmt.get("type") != "json_schema":
        return None
    schema = holder.get("schema") if isinstance(holder, Mapping) else None
    return schema if isinstance(schema, Mapping) else ANY_JSON


def _lowered(schema: Mapping[str, Any], depth: int) -> Mapping[str, Any]:
    """Gemini's OpenAPI-style `responseSchema` spells types in capitals (`OBJECT`)."""
    if depth >= _DEPTH:
        return schema
    out = dict(schema)
    if isinstance(out.get("type"), str):
        out["type"] = out["type"].lower()
    if isinstance(out.get("properties"), Mapping):
        out["properties"] = {
            k: _lowered(v, depth + 1) if isinstance(v, Mapping) else v
            for k, v in out["properties"].items()
        }
    if isinstance(out.get("items"), Mapping):
        out["items"] = _lowered(out["items"], depth + 1)
    return out
