"""Mid-conversation system messages folded into `system` for Claude models that refuse them."""

from __future__ import annotations

from typing import Any

import pytest

from failsoft.translate.mid_system import fold, refuses


@pytest.mark.parametrize(
    "model",
    [
        "claude-opus-4-7",
        "claude-sonnet-4-5",
        "claude-haiku-4-5-20251001",
        "claude-opus-4-1-20250805",
        "claude-sonnet-4-20250514",
        "claude-3-7-sonnet-latest",
        "claude-opus-4",
    ],
)
def test_older_claude_models_refuse(model: str) -> None:
    assert refuses(model)


@pytest.mark.parametrize(
    "model", ["claude-opus-4-8", "claude-opus-4-8-20260301", "agent", "gpt-4o"]
)
def test_newer_and_unknown_models_get_the_bytes(model: str) -> None:
    assert not refuses(model)


def test_fold_moves_the_text_to_the_end_of_system() -> None:
    payload: dict[str, Any] = {
        "system": "You are Claude Code.",
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "system", "content": [{"type": "text", "text": "Plan mode is on."}]},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "go"},
        ],
    }
    folded = fold(payload)
    assert folded is not None
    out = folded[0]
    assert out["system"] == "You are Claude Code.\n\nPlan mode is on."
    assert [m["role"] for m in out["messages"]] == ["user", "assistant", "user"]
    blocks = fold({**payload, "system": [{"type": "text", "text": "A"}]})
    assert blocks is not None
    assert blocks[0]["system"] == [
        {"type": "text", "text": "A"},
        {"type": "text", "text": "Plan mode is on."},
    ]
    assert fold({"messages": [{"role": "user", "content": "hi"}]}) is None
