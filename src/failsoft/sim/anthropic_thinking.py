"""Anthropic extended thinking: the `thinking` parameter's rules, signed thinking blocks.

With `thinking: {type: enabled, budget_tokens}` the API opens its answer with a `thinking`
block whose `signature` it checks when the block comes back. While thinking is on, the
assistant turn whose tool calls the last user turn answers must open with its thinking
block: a gateway that lost the block (or changed its text or signature) is refused, as the
real API refuses it. Signatures are keyed digests of the thinking text, checkable later
without any state (as Gemini thought signatures are here).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from failsoft.sim.wire import ErrorSpec

THINKING = "The simulated model thinks the request over before it answers."
"""What the simulated model thinks; its words count as output tokens."""
THINKING_TOKENS = len(THINKING.split(" "))
MIN_BUDGET = 1024
THINKING_TYPES = ("enabled", "disabled", "adaptive")
"""`adaptive` (Claude Opus 4.6+; Claude Code's default) lets the model decide whether and how
much to think: the simulated model accepts it and answers without thinking, which a real
model may also do."""
DISPLAYS = ("summarized", "omitted")
_MAGIC = b"FSimThk"
_KEY = b"failsoft-sim-thinking"
_TAG = 9
_DOC = "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"


def enabled(body: Mapping[str, Any]) -> bool:
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") == "enabled"


def signature(text: str) -> str:
    body = _MAGIC + hashlib.blake2b(text.encode(), digest_size=24).digest()
    return base64.b64encode(body + _tag(body)).decode()


def block() -> dict[str, Any]:
    return {"type": "thinking", "thinking": THINKING, "signature": signature(THINKING)}


def check_params(body: Mapping[str, Any], max_tokens: int) -> ErrorSpec | None:
    """The `thinking` parameter and what the API refuses beside it."""
    thinking = body.get("thinking")
    if thinking is None:
        return None
    if not isinstance(thinking, dict) or thinking.get("type") not in THINKING_TYPES:
        return _invalid("thinking: Input tag does not match any of the expected tags")
    if thinking["type"] == "disabled":
        return None
    if thinking.get("display", "summarized") not in DISPLAYS:
        kind = thinking["type"]
        return _invalid(f"thinking.{kind}.display: Input should be 'summarized' or 'omitted'")
    if thinking["type"] == "adaptive":
        return _exclusions(body)
    budget = thinking.get("budget_tokens")
    if isinstance(budget, bool) or not isinstance(budget, int):
        return _invalid("thinking.enabled.budget_tokens: Field required")
    if budget < MIN_BUDGET:
        return _invalid(
            f"thinking.enabled.budget_tokens: Input should be greater than or equal to {MIN_BUDGET}"
        )
    if max_tokens <= budget:
        return _invalid("`max_tokens` must be greater than `thinking.budget_tokens`.")
    return _exclusions(body)


def _exclusions(body: Mapping[str, Any]) -> ErrorSpec | None:
    """What the API refuses beside thinking, budgeted or adaptive."""
    if body.get("temperature") not in (None, 1, 1.0):
        return _invalid("`temperature` may only be set to 1 when thinking is enabled.")
    if body.get("top_k") is not None:
        return _invalid("`top_k` must be unset when thinking is enabled.")
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
        return _invalid("Thinking may not be enabled when tool_choice forces tool use.")
    return None


def check_block(where: str, block: Mapping[str, Any]) -> ErrorSpec | None:
    """A thinking or redacted_thinking block sent back: intact, or refused."""
    if block.get("type") == "redacted_thinking":
        if not isinstance(block.get("data"), str) or not block["data"]:
            return _invalid(f"{where}.redacted_thinking.data: Field required")
        return None
    text, signed = block.get("thinking"), block.get("signature")
    if not isinstance(text, str):
        return _invalid(f"{where}.thinking.thinking: Field required")
    if not isinstance(signed, str):
        return _invalid(f"{where}.thinking.signature: Field required")
    if not _signed(text, signed):
        return _invalid(f"{where}: Invalid `signature` in `thinking` block")
    return None


def check_loop(messages: Sequence[Any]) -> ErrorSpec | None:
    """While thinking is on, the assistant turn a final tool result answers must open
    with its thinking block."""
    if len(messages) < 2 or not isinstance(messages[-1], dict):
        return None
    last, turn = messages[-1], messages[-2]
    content = last.get("content")
    if last.get("role") != "user" or not isinstance(content, list):
        return None
    if not any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content):
        return None
    blocks = turn.get("content") if isinstance(turn, dict) else None
    first = blocks[0] if isinstance(blocks, list) and blocks else None
    kind = first.get("type") if isinstance(first, dict) else None
    if kind in ("thinking", "redacted_thinking"):
        return None
    index = len(messages) - 2
    return _invalid(
        f"messages.{index}.content.0.type: Expected `thinking` or `redacted_thinking`, but "
        f"found `{kind}`. When `thinking` is enabled, a final `assistant` message must start "
        "with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` "
        "blocks). We recommend you include thinking blocks from previous turns. To avoid this "
        f"requirement, disable `thinking`. Please consult our documentation at {_DOC}"
    )


def _signed(text: str, value: str) -> bool:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    body, tag = raw[:-_TAG], raw[-_TAG:]
    expected = _MAGIC + hashlib.blake2b(text.encode(), digest_size=24).digest()
    return body == expected and tag == _tag(body)


def _tag(body: bytes) -> bytes:
    return hashlib.blake2b(body, key=_KEY, digest_size=_TAG).digest()


def _invalid(message: str) -> ErrorSpec:
    return ErrorSpec(400, message=message)
