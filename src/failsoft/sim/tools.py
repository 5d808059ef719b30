"""Deterministic tool calls: which tools, which arguments, call ids, thought signatures.

Arguments come from the tool's schema and the newest user text, so a test can predict
them ("Paris" for "What's the weather in Paris?") and check that a gateway carried the
call across a translation without loss.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from failsoft.sim.prompt import ToolSpec

SKIP_SIGNATURE = "skip_thought_signature_validator"
"""The value Google documents for histories that never had a real signature."""

_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SIGNATURE_MAGIC = base64.b64decode("FSim/Sig+Tok")
"""Nine bytes whose base64 holds '/' and '+', so every issued signature does too: a gateway
that mangles base64 (URL-safe alphabet, stripped padding) is caught."""
_SIGNATURE_KEY = b"failsoft-sim-thought-signature"
_SIGNATURE_BYTES = len(_SIGNATURE_MAGIC) + 20 + 9  # magic + digest + tag: 38 bytes, one '='


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]
    json: str
    """The arguments as compact JSON in schema order (OpenAI `function.arguments`)."""
    fragments: tuple[str, ...]
    """`json` cut into 2 or 3 stream deltas; each is one output token."""


def plan_calls(
    tools: Sequence[ToolSpec],
    forced: str | None,
    count: int,
    user_text: str,
    preferred: str | None = None,
    given: Mapping[str, Any] | None = None,
) -> tuple[ToolCall, ...]:
    """`count` calls: to the forced tool, else the `preferred` one when declared, else to the
    declared tools in order, cycling. `given` arguments, when set, are sent as they are
    (a real model leaves optional arguments out)."""
    if forced is not None:
        candidates = [tool for tool in tools if tool.name == forced][:1] or [ToolSpec(forced)]
    else:
        candidates = [tool for tool in tools if tool.name == preferred][:1] or list(tools)
    word = last_word(user_text)
    seen: Counter[str] = Counter()
    calls = []
    for index in range(count):
        tool = candidates[index % len(candidates)]
        seen[tool.name] += 1
        text = word if seen[tool.name] == 1 else f"{word}-{seen[tool.name]}"
        if given is not None:
            arguments = dict(given)
        else:
            arguments = {name: _value(schema, text) for name, schema in tool.properties}
        json = orjson.dumps(arguments).decode()
        calls.append(ToolCall(tool.name, arguments, json, fragments(json)))
    return tuple(calls)


def last_word(text: str) -> str:
    """The last word that has letters or digits, keeping only those ("Paris?" -> "Paris")."""
    for word in reversed(text.split()):
        kept = "".join(char for char in word if char.isalnum())
        if kept:
            return kept
    return "x"


def _value(schema: object, text: str) -> Any:
    if not isinstance(schema, Mapping):
        return text
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((item for item in kind if item != "null"), None)
    kind = kind.lower() if isinstance(kind, str) else ""
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        return {}
    return text  # "string", and anything without a usable type


def fragments(json: str) -> tuple[str, ...]:
    """Two or three pieces, cut inside the JSON as real streams do."""
    size = len(json)
    if size >= 6:
        return (json[: size // 3], json[size // 3 : 2 * size // 3], json[2 * size // 3 :])
    return (json[: size // 2], json[size // 2 :])


def openai_call_id(response_id: str, index: int) -> str:
    return "call_" + _digest(response_id, index, 12).hex()


def anthropic_call_id(response_id: str, index: int) -> str:
    return "toolu_" + "".join(_ALNUM[byte % 62] for byte in _digest(response_id, index, 24))


def _digest(response_id: str, index: int, size: int) -> bytes:
    return hashlib.blake2b(f"{response_id}/{index}".encode(), digest_size=size).digest()


def thought_signature(call: ToolCall) -> str:
    """Standard base64 of magic + digest + keyed tag: checkable later without any state."""
    digest = hashlib.blake2b(f"{call.name}\0{call.json}".encode(), digest_size=20).digest()
    body = _SIGNATURE_MAGIC + digest
    return base64.b64encode(body + _tag(body)).decode()


def valid_signature(value: object) -> bool:
    """True for the documented skip value and for signatures this simulator issued, in
    standard or URL-safe base64 (proto JSON takes both; google-genai sends the latter)."""
    if value == SKIP_SIGNATURE:
        return True
    if not isinstance(value, str):
        return False
    standard = value.replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    if len(raw) != _SIGNATURE_BYTES or not raw.startswith(_SIGNATURE_MAGIC):
        return False
    body, tag = raw[:-9], raw[-9:]
    return tag == _tag(body)


def _tag(body: bytes) -> bytes:
    return hashlib.blake2b(body, key=_SIGNATURE_KEY, digest_size=9).digest()
