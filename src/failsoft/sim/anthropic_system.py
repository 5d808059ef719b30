"""Mid-conversation `role: "system"` messages, checked as the Messages API checks them.

Claude Opus 4.8 takes a system message inside `messages` (no beta header): never first,
right after a user turn, followed by an assistant turn or nothing, never two in a row,
text only. Other models refuse the role. Claude Code sends one in its first request.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from failsoft.sim.wire import ErrorSpec

SUPPORTED = re.compile(r"claude-opus-4-8")
"""Models that accept the role (a dated or suffixed name of one counts too)."""


def check(model: str, messages: Sequence[Any], index: int) -> ErrorSpec | None:
    """The error for the system message at `messages[index]`, or None when it is allowed."""
    if SUPPORTED.match(model) is None:
        return _invalid(
            'messages: Unexpected role "system". The Messages API accepts a top-level '
            '`system` parameter, not "system" as an input message role.'
        )
    if index == 0:
        return _invalid(
            "messages.0: a system message cannot open `messages`; use the top-level `system` "
            "parameter"
        )
    before = messages[index - 1]
    if not isinstance(before, dict) or before.get("role") != "user":
        return _invalid(f"messages.{index}: role 'system' must immediately follow a user message")
    after = messages[index + 1] if index + 1 < len(messages) else None
    if after is not None and (not isinstance(after, dict) or after.get("role") != "assistant"):
        return _invalid(
            f"messages.{index}: role 'system' must precede an 'assistant' message or end the array"
        )
    content = messages[index].get("content")
    if isinstance(content, list):
        for position, block in enumerate(content):
            if not isinstance(block, dict) or block.get("type") != "text":
                return _invalid(
                    f"messages.{index}.content.{position}: system messages hold text blocks only"
                )
    elif not isinstance(content, str):
        return _invalid(f"messages.{index}.content: Input should be a valid string or list")
    return None


def _invalid(message: str) -> ErrorSpec:
    return ErrorSpec(400, message=message)
