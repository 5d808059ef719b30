"""An Anthropic caller's `context_management` on its way to another dialect.

Claude Code sends context edits with every request. Those that only clear old thinking or
old tool uses make the prompt smaller on Anthropic, never different in meaning, so another
dialect can go without them (with a warning); any other edit (compaction, a strategy
failsoft does not know) changes what the model sees, so the target is untranslatable.
"""

from __future__ import annotations

from typing import Any

from failsoft.translate.common import Warnings, expect

SHRINKING_EDITS = frozenset({"clear_thinking_20251015", "clear_tool_uses_20250919"})


def carry(value: Any, warnings: Warnings) -> None:
    """Edits that only shrink the prompt are dropped with a warning; any other (compaction,
    a strategy failsoft does not know) changes what the model sees, so the request cannot
    go to another dialect."""
    expect(isinstance(value, dict), "'context_management' must be an object")
    for key in value:
        expect(
            key == "edits", f"'context_management.{_short(key)[1:-1]}' has no equivalent elsewhere"
        )
    edits = value.get("edits")
    edits = [] if edits is None else edits
    expect(isinstance(edits, list), "'context_management.edits' must be an array")
    kinds: list[str] = []
    for i, edit in enumerate(edits):
        kind = edit.get("type") if isinstance(edit, dict) else None
        expect(
            kind in SHRINKING_EDITS,
            f"'context_management.edits[{i}]': {_short(kind)} edits have no equivalent in other "
            "dialects (only clear_thinking and clear_tool_uses edits can be left out)",
        )
        if kind not in kinds:
            kinds.append(str(kind))
    if kinds:  # names from SHRINKING_EDITS only: short and printable
        warnings.note(
            f"dropped context_management ({', '.join(sorted(kinds))}: edits that only clear "
            "old context on Anthropic)"
        )


def _short(name: Any) -> str:
    """A caller's name for an error message: quoted, at most 60 characters."""
    text = repr(name)
    return text if len(text) <= 60 else text[:57] + "..."
