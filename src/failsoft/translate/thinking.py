"""Anthropic extended thinking carried through callers that have no place for it.

A Responses caller keeps a model's reasoning as `reasoning` items and sends them back with
the next turn; their `encrypted_content` is opaque to it. Anthropic requires the thinking
blocks of the turn being continued (with their `signature`) when thinking is on, so
failsoft puts the original blocks in that field, tagged so it knows them again:
`fsa1.` + base64url(JSON array of the blocks). An OpenAI-issued value never starts with
the tag (it is standard base64, which has no `.`), and a tagged value never reaches a
provider other than Anthropic. Anything that does not decode cleanly is treated as not
ours and dropped, never an error: the caller did not write it.

The same module maps a Responses `reasoning.effort` to a thinking budget.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

import orjson

from failsoft.translate.common import TargetOptions, Warnings
from failsoft.translate.ir import Reasoning, Request

PREFIX = "fsa1."
MAX_TAG = 4_000_000
"""Longest tagged value decoded (characters): a thinking block is bounded by its budget,
a caller's input is not."""
MAX_BLOCKS = 64

BUDGETS = {
    "minimal": 1024, "low": 2048, "medium": 8192, "high": 16384, "xhigh": 24576, "max": 24576
}  # fmt: skip
"""`reasoning.effort` → Anthropic `budget_tokens` (1024 is Anthropic's minimum). With the
default answer allowance on top, the largest stays under Claude Opus 4's 32000 output cap."""
MIN_BUDGET = 1024
_UNFIT = {
    "openai": re.compile(r"(gpt-4|gpt-3\.5|chatgpt-|gpt-5(\.\d+)?-chat)"),
    "gemini": re.compile(r"(gemini-1\.|gemini-2\.0|gemma)"),
}
"""Models that refuse a reasoning knob (OpenAI's chat models answer 400
unsupported_parameter to `reasoning_effort`; Gemini before 2.5 has no thinking)."""


def encode(blocks: list[dict[str, Any]]) -> str:
    """The tagged `encrypted_content` for Anthropic thinking / redacted_thinking blocks."""
    raw = orjson.dumps([clean(block) for block in blocks])
    return PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def is_tagged(value: str | None) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def decode(value: str | None) -> list[dict[str, Any]] | None:
    """The Anthropic blocks inside a tagged value; None when it is not a (valid) tag."""
    if not is_tagged(value) or len(value or "") > MAX_TAG:
        return None
    assert value is not None
    packed = value[len(PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4))
        blocks = orjson.loads(raw)
    except (binascii.Error, ValueError):
        return None
    if not isinstance(blocks, list) or not blocks or len(blocks) > MAX_BLOCKS:
        return None
    out = [clean(block) for block in blocks]
    return None if any(not block for block in out) else out


def clean(block: Any) -> dict[str, Any]:
    """Only the fields Anthropic accepts back, checked; {} for anything else."""
    if not isinstance(block, dict):
        return {}
    kind = block.get("type")
    if kind == "thinking":
        text, signature = block.get("thinking"), block.get("signature")
        if isinstance(text, str) and isinstance(signature, str) and signature:
            return {"type": "thinking", "thinking": text, "signature": signature}
    elif kind == "redacted_thinking":
        data = block.get("data")
        if isinstance(data, str) and data:
            return {"type": "redacted_thinking", "data": data}
    return {}


def effort_of(budget_tokens: Any) -> str:
    """An Anthropic caller's thinking budget as the nearest effort other dialects know."""
    if not isinstance(budget_tokens, int) or isinstance(budget_tokens, bool):
        return "medium"
    if budget_tokens <= BUDGETS["low"]:
        return "low"
    return "medium" if budget_tokens <= BUDGETS["medium"] else "high"


def budget(effort: str | None, max_tokens: int | None, default_max: int) -> tuple[int, int] | None:
    """`(budget_tokens, max_tokens)` for an effort, or None when it asks for no thinking or
    the caller's `max_tokens` leaves no room (Anthropic wants 1024 ≤ budget < max_tokens).
    Without a caller limit, the answer keeps `default_max` tokens on top of the budget."""
    wanted = BUDGETS.get(effort or "")
    if wanted is None:
        return None
    if max_tokens is None:
        return wanted, wanted + default_max
    if max_tokens <= MIN_BUDGET:
        return None
    return min(wanted, max_tokens - 1), max_tokens


def unfit(dialect: str, model: str, payload: dict[str, Any]) -> bool:
    """True when the target model would refuse the reasoning knob `payload` carries (the
    model is known only per attempt; a router's `vendor/` prefix is ignored)."""
    pattern = _UNFIT.get(dialect)
    if pattern is None or pattern.match(model.rsplit("/", 1)[-1]) is None:
        return False
    if dialect == "openai":
        return "reasoning_effort" in payload
    config = payload.get("generationConfig")
    return isinstance(config, dict) and "thinkingConfig" in config


def without_knob(payload: dict[str, Any]) -> dict[str, Any]:
    """`payload` without its reasoning knob (a copy; translations are shared)."""
    out = {k: v for k, v in payload.items() if k != "reasoning_effort"}
    config = out.get("generationConfig")
    if isinstance(config, dict):
        out["generationConfig"] = {k: v for k, v in config.items() if k != "thinkingConfig"}
    return out


# --------------------------------------------------------------------------- Anthropic out


def restore(block: Reasoning, warnings: Warnings) -> list[dict[str, Any]]:
    """A reasoning item for an Anthropic target: the thinking blocks failsoft tagged, or
    nothing (another provider's reasoning, or a tag that does not decode)."""
    blocks = decode(block.encrypted_content)
    if blocks is None:
        warnings.drop("reasoning items from another provider", "only their issuer reads them")
        return []
    return blocks


def configure(
    request: Request, options: TargetOptions, warnings: Warnings, out: dict[str, Any]
) -> None:
    """Turns on extended thinking for a caller's `reasoning.effort`, where Anthropic would
    accept it: not with a forced tool, and not when the tool call being answered lost its
    thinking block (Anthropic refuses such a history while thinking is on)."""
    effort = request.reasoning_effort
    if effort is None or effort == "none":
        return
    sized = budget(effort, request.max_tokens, options.default_max_tokens)
    if sized is None:
        if effort in BUDGETS:
            warnings.drop("reasoning.effort", "max_output_tokens leaves no room to think")
        else:
            warnings.drop(f"reasoning.effort {effort!r}", "no Anthropic thinking budget for it")
        return
    choice = out.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
        warnings.drop("reasoning.effort", "Anthropic cannot think while a tool is forced")
        return
    if not _continuable(out["messages"]):
        warnings.drop(
            "reasoning.effort",
            "the tool call being answered came without its thinking block",
        )
        return
    out["thinking"] = {"type": "enabled", "budget_tokens": sized[0]}
    out["max_tokens"] = sized[1]
    if out.get("temperature") not in (None, 1):
        out.pop("temperature")
        warnings.drop("temperature", "Anthropic takes only 1 while thinking")
    if out.pop("top_k", None) is not None:
        warnings.drop("top_k", "Anthropic refuses it while thinking")
    top_p = out.get("top_p")
    if top_p is not None and top_p < 0.95:
        out.pop("top_p")
        warnings.drop("top_p", "Anthropic takes only 0.95 to 1 while thinking")


def _continuable(messages: list[dict[str, Any]]) -> bool:
    """False when the last turn answers tool calls whose assistant turn does not open with
    a thinking block."""
    if len(messages) < 2 or messages[-1]["role"] != "user":
        return True
    if not any(b.get("type") == "tool_result" for b in messages[-1]["content"]):
        return True
    turn = messages[-2]["content"]
    return bool(turn) and turn[0].get("type") in ("thinking", "redacted_thinking")
