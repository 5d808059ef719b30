"""Output limits: the built-in table, the config's overrides, and each dialect's field."""

from __future__ import annotations

from typing import Any

import pytest

from failsoft.translate.output_cap import cap, output_limit


@pytest.mark.parametrize(
    ("model", "limit"),
    [
        ("gpt-4o", 16384), ("gpt-4o-mini", 16384), ("gpt-4o-2024-05-13", 4096),
        ("gpt-4.1-mini", 32768), ("o3", 100000), ("o4-mini", 100000), ("o1-mini", 65536),
        ("gpt-5", 128000), ("gpt-5.1-codex", 128000), ("gpt-5-chat-latest", 16384),
        ("claude-opus-4-1-20250805", 32000), ("claude-opus-4-20250514", 32000),
        ("claude-opus-4-5-20251101", 64000), ("claude-opus-4-8", 128000),
        ("claude-sonnet-4-5", 64000), ("claude-haiku-4-5-20251001", 64000),
        ("claude-3-5-haiku-latest", 8192), ("claude-3-haiku-20240307", 4096),
        ("gemini-2.5-flash", 65536), ("gemini-3-pro-preview", 65536), ("gemini-2.0-flash", 8192),
        ("openrouter/openai/gpt-4o", 16384),
        ("llama3.1:8b", None), ("my-model", None), ("xgpt-4o", None),
    ],
)  # fmt: skip
def test_the_built_in_table(model: str, limit: int | None) -> None:
    assert output_limit(model, {}) == limit


def test_the_config_adds_and_overrides() -> None:
    configured = {"gpt-4o": 2000, "llama*": 8000}
    assert output_limit("gpt-4o", configured) == 2000
    assert output_limit("llama3.1:8b", configured) == 8000
    assert output_limit("gpt-4o-mini", configured) == 16384


@pytest.mark.parametrize(
    ("dialect", "payload", "capped"),
    [
        ("openai", {"max_completion_tokens": 9000}, {"max_completion_tokens": 100}),
        ("openai", {"max_tokens": 9000}, {"max_tokens": 100}),
        ("responses", {"max_output_tokens": 9000}, {"max_output_tokens": 100}),
        ("anthropic", {"max_tokens": 9000}, {"max_tokens": 100}),
        ("anthropic", {"max_tokens": 9000, "thinking": {"type": "enabled", "budget_tokens": 5000}},
         {"max_tokens": 100}),
        ("gemini", {"generationConfig": {"maxOutputTokens": 9000,
                                         "thinkingConfig": {"thinkingBudget": 8192}}},
         {"generationConfig": {"maxOutputTokens": 100, "thinkingConfig": {"thinkingBudget": 99}}}),
    ],
)  # fmt: skip
def test_each_dialect_is_capped(
    dialect: str, payload: dict[str, Any], capped: dict[str, Any]
) -> None:
    found = cap(dialect, payload, 100, "m")
    assert found is not None
    assert found[0] == capped
    assert "9000 lowered to 100 (m's output limit)" in found[1]
    assert cap(dialect, payload, 9000, "m") is None
    assert cap(dialect, payload, None, "m") is None


def test_a_thinking_budget_stays_below_the_lowered_limit() -> None:
    payload = {"max_tokens": 64000, "thinking": {"type": "enabled", "budget_tokens": 31999}}
    found = cap("anthropic", payload, 4096, "m")
    assert found is not None
    assert found[0]["thinking"] == {"type": "enabled", "budget_tokens": 4095}
    assert "thinking" not in found[1]
    tiny = cap("anthropic", payload, 100, "m")
    assert tiny is not None and "thinking turned off" in tiny[1]
