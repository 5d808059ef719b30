"""An estimate of a Messages request's input tokens, for `count_tokens` without Anthropic.

No tokenizer: a local one would have to be downloaded, and each provider's differs
anyway. The rule is the providers' own rule of thumb, about four characters per token:
the characters of every text (system prompt, messages, thinking, tool calls and results,
the tools' names, descriptions and JSON schemas) divided by four, rounded up, plus a
fixed cost per image or document, and at least 1 for any input. Callers use the count to
decide when to compact a conversation, so erring a little high is the safer side.
"""

from __future__ import annotations

from typing import Any

import orjson

IMAGE_TOKENS = 1600
"""Per image or document: about what Anthropic charges a large image (~1.15 megapixels)."""
CHARS_PER_TOKEN = 4


def estimate_tokens(payload: dict[str, Any]) -> int:
    chars = _chars(payload.get("system"))
    media = 0
    for message in payload.get("messages") or ():
        if isinstance(message, dict):
            more, pictures = _content(message.get("content"))
            chars += more
            media += pictures
    for tool in payload.get("tools") or ():
        if isinstance(tool, dict):
            chars += len(orjson.dumps(tool))
    return max(1, -(-chars // CHARS_PER_TOKEN)) + IMAGE_TOKENS * media


def _content(content: Any) -> tuple[int, int]:
    if isinstance(content, str):
        return len(content), 0
    chars = media = 0
    for block in content if isinstance(content, list) else ():
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind in ("image", "document"):
            media += 1
        elif kind == "tool_result":
            more, pictures = _content(block.get("content"))
            chars += more
            media += pictures
        elif kind == "tool_use":
            chars += len(str(block.get("name") or "")) + len(orjson.dumps(block.get("input")))
        else:
            chars += sum(
                len(block[key]) for key in ("text", "thinking") if isinstance(block.get(key), str)
            )
    return chars, media


def _chars(system: Any) -> int:
    if isinstance(system, str):
        return len(system)
    if isinstance(system, list):
        return sum(
            len(block["text"])
            for block in system
            if isinstance(block, dict) and isinstance(block.get("text"), str)
        )
    return 0
