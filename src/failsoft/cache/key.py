"""The exact-match cache key: one sha256 over a canonical form of a request.

Two requests share a key only when they would get the same answer, so the key covers:

* the caller's dialect (`openai`, `anthropic`, `gemini`, `responses`: the stored body is in
  that dialect),
* the virtual model / plan name (the caller's `model` field is replaced by it),
* the namespace (a caller-key `fingerprint`, or "" for a shared cache): tenants never share,
* every body field except the few below. Among them: `messages`, `system`, `contents`,
  `systemInstruction`, `tools`, `tool_choice`, `toolConfig`, `parallel_tool_calls`,
  `response_format`, `output_config`, `generationConfig`, `temperature`, `top_p`, `top_k`,
  `seed`, `stop`, `stop_sequences`, `max_tokens`, `max_completion_tokens`, `n`,
  `presence_penalty`, `frequency_penalty`, `logit_bias`, `logprobs`, `top_logprobs`,
  `reasoning_effort`, `thinking`, `modalities`, `audio`, `safetySettings`, `cachedContent`;
  for the Responses API `input`, `instructions`, `text` (its `format`), `reasoning`,
  `max_output_tokens`, `include`, `truncation`, `previous_response_id`.

The body is hashed by exclusion, not by a list of known fields: a field failsoft has never
heard of might change the answer, and hashing it costs at worst a miss, whereas dropping it
could serve a wrong answer.

Ignored (they change the transport, billing or bookkeeping, not the answer):

* top level: `model` (replaced by the plan), `stream`, `stream_options`, `user`,
  `safety_identifier`, `metadata`, `store`, `service_tier`, `prompt_cache_key`,
  `prompt_cache_retention`, `labels`;
* anywhere in the tree: Anthropic `cache_control` markers (on blocks, tools, system parts,
  or top level). Inside a JSON Schema (`input_schema`, `parameters`, `json_schema`, `schema`,
  `response_schema`/`responseSchema`, `parametersJsonSchema`, `responseJsonSchema`) nothing
  is stripped: a property there may legitimately be called `cache_control`.

Canonical form: JSON with sorted keys and no whitespace; integral floats become integers
(`1.0` and `1` hash alike, as do `-0.0` and `0`); tuples are lists. Not normalised (each
costs a miss, never a wrong hit): defaults spelled out vs omitted (`temperature: 1`),
`stop: "x"` vs `["x"]`, string content vs a one-text-block list.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["IGNORED_FIELDS", "KEY_VERSION", "cache_key", "canonical", "fingerprint"]

KEY_VERSION = 1
"""Part of every key: bump it when the canonical form changes, so old entries just miss."""

IGNORED_FIELDS = frozenset(
    {
        "model",
        "stream",
        "stream_options",
        "user",
        "safety_identifier",
        "metadata",
        "store",
        "service_tier",
        "prompt_cache_key",
        "prompt_cache_retention",
        "labels",
    }
)
"""Top-level body fields that do not change the answer."""

_MARKERS = frozenset({"cache_control"})
_SCHEMA_KEYS = frozenset(
    {
        "input_schema",
        "parameters",
        "json_schema",
        "schema",
        "response_schema",
        "responseSchema",
        "parametersJsonSchema",
        "responseJsonSchema",
    }
)
_INT64 = 2**63


def _number(value: float) -> float | int:
    if math.isfinite(value) and value.is_integer() and abs(value) < _INT64:
        return int(value)
    return value


def _clean(value: Any, *, strip: bool) -> Any:
    """`value` in canonical shape; `strip` is false inside a JSON Schema."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, int):
        # orjson refuses integers outside 64 bits; spell them so they still hash distinctly.
        return value if -_INT64 <= value < 2**64 else {"$bigint": str(value)}
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for name, item in value.items():
            if not isinstance(name, str):
                raise TypeError(f"cache key: non-string object key {name!r}")
            if strip and name in _MARKERS:
                continue
            out[name] = _clean(item, strip=strip and name not in _SCHEMA_KEYS)
        return out
    if isinstance(value, list | tuple):
        return [_clean(item, strip=strip) for item in value]
    raise TypeError(f"cache key: {type(value).__name__} is not a JSON value")


def canonical(dialect: str, plan: str, payload: Mapping[str, Any], namespace: str = "") -> bytes:
    """The bytes `cache_key` hashes (exposed so a key's inputs can be inspected in tests)."""
    body = {k: v for k, v in payload.items() if k not in IGNORED_FIELDS}
    form = {
        "v": KEY_VERSION,
        "dialect": dialect,
        "plan": plan,
        "namespace": namespace,
        "body": _clean(body, strip=True),
    }
    return orjson.dumps(form, option=orjson.OPT_SORT_KEYS)


def cache_key(dialect: str, plan: str, payload: Mapping[str, Any], namespace: str = "") -> str:
    """Hex sha256 of the request's canonical form (see the module docstring for the rules)."""
    return hashlib.sha256(canonical(dialect, plan, payload, namespace)).hexdigest()


def fingerprint(secret: str) -> str:
    """A short, stable stand-in for a caller API key, usable as a namespace or in logs.

    Domain-separated so it never equals a plain sha256 of the key someone may have published
    elsewhere; 16 hex digits (64 bits) keep tenants apart without spelling out the key.
    """
    return hashlib.sha256(b"failsoft-cache-namespace\x00" + secret.encode()).hexdigest()[:16]
