"""Mid-conversation system messages for Anthropic models that refuse them.

Claude Code puts a `role: "system"` message inside `messages`; Claude Opus 4.8 takes it, and
older Claude models answer a 400 ("Unexpected role \"system\""). A gateway that sends Claude
Code's request to an older backup (the usual failover from Opus 4.8 to Sonnet 4.5) would turn
every rescue into a client fault. So for models known to refuse the role, failsoft moves
those messages' text to the end of the top-level `system`, where the older models read
instructions, and says so in a warning. Unknown names (custom deployments, newer models) get
the caller's bytes.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from failsoft.types import ChatRequest

REFUSERS = re.compile(
    r"claude-(?:\d|instant)|claude-(?:opus|sonnet|haiku)-4(?:-[0-7](?!\d)|-\d{8}|$)"
)
"""Claude models that predate mid-conversation system messages (3.x, 4, 4.1 … 4.7)."""
_KEY = "mid_system"


def refuses(model: str) -> bool:
    return REFUSERS.search(model) is not None


def fold_native(
    request: ChatRequest, payload: dict[str, Any], body: bytes, model: str
) -> tuple[dict[str, Any], bytes, str | None]:
    """The same-dialect `(payload, body, warning)` for an Anthropic target: untouched unless
    `model` refuses system messages inside `messages` and the request has some."""
    if body.find(b'"system"') < 0 or not refuses(model):  # (`find`: see native_request)
        return payload, body, None
    key = (_KEY, id(payload), model)
    cached = request.translations.get(key)
    if cached is None:
        folded = fold(payload)
        cached = (payload, body, None) if folded is None else (*folded, _note(model))
        request.translations[key] = cached
    assert isinstance(cached, tuple)
    return cached


def fold(payload: dict[str, Any]) -> tuple[dict[str, Any], bytes] | None:
    """`payload` with its mid-conversation system messages moved to `system` (None when
    it has none)."""
    messages = payload.get("messages")
    if not isinstance(messages, list):
        return None
    moved = [m for m in messages if isinstance(m, dict) and m.get("role") == "system"]
    if not moved:
        return None
    texts = [_text(m.get("content")) for m in moved]
    kept = [m for m in messages if not (isinstance(m, dict) and m.get("role") == "system")]
    out = {**payload, "messages": kept}
    system = payload.get("system")
    if isinstance(system, list):
        out["system"] = [*system, *({"type": "text", "text": t} for t in texts if t)]
    else:
        parts = [system] if isinstance(system, str) and system else []
        out["system"] = "\n\n".join(parts + [t for t in texts if t])
    return out, orjson.dumps(out)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            b["text"]
            for b in content
            if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
        )
    return ""


def _note(model: str) -> str:
    return f"moved mid-conversation system messages to the top-level system ({model} refuses them)"
