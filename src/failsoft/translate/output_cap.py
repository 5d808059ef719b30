"""`max_tokens` kept within the target model's output limit.

A caller sets its output limit for the model it had in mind (Claude Code asks for 64000);
a fallback model with a smaller limit refuses the request outright (400), which is not
the caller's fault and would stop the failover. So every request, translated or passed
through, is capped to the target model's limit when failsoft knows it: from the
provider's `max_output_tokens` in the config, else from the small table below. Unknown
models are never capped. A thinking budget is kept below the capped limit, as the APIs
require. The caller sees an `x-failsoft-warning` saying so.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from typing import Any

import orjson

from failsoft.types import ChatRequest

KNOWN: tuple[tuple[re.Pattern[str], int], ...] = tuple(
    (re.compile(pattern), limit)
    for pattern, limit in (
        # OpenAI (the more specific names first)
        (r"gpt-4o-2024-05-13", 4096),
        (r"(gpt-4o|chatgpt-4o)", 16384),
        (r"gpt-4\.1", 32768),
        (r"(gpt-4-turbo|gpt-3\.5-turbo)", 4096),
        (r"gpt-5(\.\d+)?-chat", 16384),
        (r"gpt-5", 128000),
        (r"o1-mini", 65536),
        (r"o1-preview", 32768),
        (r"(o1|o3|o4-mini)", 100000),
        # Anthropic
        (r"claude-(opus-4-[678]|sonnet-4-6)", 128000),
        (r"claude-(opus-4-5|sonnet-4|haiku-4-5|3-7-sonnet)", 64000),
        (r"claude-opus-4", 32000),
        (r"claude-3-5-(sonnet|haiku)", 8192),
        (r"claude-3-(opus|sonnet|haiku)", 4096),
        # Google
        (r"gemini-(2\.5|3)", 65536),
        (r"gemini-(2\.0|1\.5)", 8192),
    )
)
"""Output limits of well-known models (model-name prefix → tokens), from the providers'
model pages; the first match wins. A router's `vendor/` prefix is ignored."""

_FIELDS = {
    "anthropic": ("max_tokens",),
    "openai": ("max_completion_tokens", "max_tokens"),
    "responses": ("max_output_tokens",),
}
_NATIVE = "capped"
MIN_BUDGET = 1024
"""Anthropic's smallest thinking budget."""


def output_limit(model: str, configured: Mapping[str, int]) -> int | None:
    """The most `model` may be asked to write: the config's value (an exact name, else the
    first glob pattern that matches), else the built-in table's, else None."""
    found = configured.get(model)
    if found is not None:
        return found
    for pattern, limit in configured.items():
        if fnmatch.fnmatchcase(model, pattern):
            return limit
    bare = model.rsplit("/", 1)[-1]
    return next((limit for rx, limit in KNOWN if rx.match(bare)), None)


def cap(
    dialect: str, payload: dict[str, Any], limit: int | None, model: str
) -> tuple[dict[str, Any], str] | None:
    """`(capped copy, warning)` when `payload` asks `model` for more than `limit` output
    tokens; None when it fits (or the limit is unknown)."""
    if limit is None:
        return None
    if dialect == "gemini":
        return _gemini(payload, limit, model)
    for name in _FIELDS.get(dialect, ()):
        asked = payload.get(name)
        if _over(asked, limit):
            out = {**payload, name: limit}
            note = _note(name, asked, limit, model)
            if dialect == "anthropic" and not _anthropic_budget(out, limit):
                note += "; thinking turned off (no room for its 1024-token minimum)"
            return out, note
    return None


def _over(value: Any, limit: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > limit


def _note(name: str, asked: Any, limit: int, model: str) -> str:
    return f"{name} {asked} lowered to {limit} ({model}'s output limit)"


def _anthropic_budget(out: dict[str, Any], limit: int) -> bool:
    """Keeps a thinking budget below `limit` (Anthropic wants 1024 <= budget < max_tokens);
    False when that is impossible and thinking was removed."""
    thinking = out.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        return True
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or budget < limit:
        return True
    if limit <= MIN_BUDGET:
        del out["thinking"]
        return False
    out["thinking"] = {**thinking, "budget_tokens": limit - 1}
    return True


def _gemini(payload: dict[str, Any], limit: int, model: str) -> tuple[dict[str, Any], str] | None:
    config = payload.get("generationConfig")
    if not isinstance(config, dict) or not _over(config.get("maxOutputTokens"), limit):
        return None
    asked = config["maxOutputTokens"]
    config = {**config, "maxOutputTokens": limit}
    thinking = config.get("thinkingConfig")
    if isinstance(thinking, dict) and _over(thinking.get("thinkingBudget"), limit - 1):
        config["thinkingConfig"] = {**thinking, "thinkingBudget": limit - 1}
    return {**payload, "generationConfig": config}, _note("maxOutputTokens", asked, limit, model)


def cap_native(
    request: ChatRequest, payload: dict[str, Any], body: bytes, limit: int | None, model: str
) -> tuple[dict[str, Any], bytes, str | None]:
    """The same-dialect `(payload, body, warning)`: the caller's bytes untouched when they
    fit, else a capped copy (computed once per limit and request)."""
    if limit is None:
        return payload, body, None
    key = (_NATIVE, limit, model)
    cached = request.translations.get(key)
    if cached is None:
        capped = cap(request.dialect, payload, limit, model)
        if capped is None:
            cached = (payload, body, None)
        else:
            cached = (capped[0], orjson.dumps(capped[0]), capped[1])
        request.translations[key] = cached
    assert isinstance(cached, tuple)
    return cached
