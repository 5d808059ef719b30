"""Model aliases and glob patterns: clients' own model names land on a plan."""

from __future__ import annotations

import pytest

from failsoft.config import parse_config
from failsoft.config.plan import render_plan
from failsoft.config.schema import MAX_DIRECT_NAMES, MAX_MATCHED
from failsoft.errors import ConfigError

CONFIG = """
providers:
  anthropic: {dialect: anthropic, base_url: "http://127.0.0.1:1", direct: ["claude-x*"]}
  openai: {dialect: openai, base_url: "http://127.0.0.1:1/v1",
           max_output_tokens: {gpt-4o: 1000, "my-*": 50}}
models:
  coding:
    targets: [anthropic/claude-opus-4-7, openai/gpt-4o]
    aliases: [claude-opus-4-8, "claude-*"]
  fast:
    targets: [anthropic/claude-haiku-4-5]
    aliases: ["*-haiku-*", claude-sonnet-4-5]
  claude-sonnet-4-6: [anthropic/claude-sonnet-4-6]
"""


def names(text: str = CONFIG) -> dict[str, str | None]:
    config = parse_config(text)
    asked = [
        "coding",
        "claude-opus-4-8",
        "claude-sonnet-4-5",
        "claude-sonnet-4-6",
        "claude-haiku-4-5-20251001",
        "gemini-haiku-x",
        "anthropic/claude-x",
        "gpt-4o",
    ]
    return {name: (plan.name if (plan := config.resolve(name)) else None) for name in asked}


def test_exact_names_win_over_aliases_and_aliases_over_patterns() -> None:
    assert names() == {
        "coding": "coding",
        "claude-opus-4-8": "coding",  # an alias
        "claude-sonnet-4-5": "fast",  # an alias of `fast`, though `claude-*` matches first
        "claude-sonnet-4-6": "claude-sonnet-4-6",  # a model's own name beats every pattern
        "claude-haiku-4-5-20251001": "coding",  # patterns in config order: `claude-*` first
        "gemini-haiku-x": "fast",
        "anthropic/claude-x": "anthropic/claude-x",  # listed in `direct`: stays direct
        "gpt-4o": None,
    }


def test_pattern_lookups_are_remembered_in_a_bounded_map() -> None:
    config = parse_config(CONFIG)
    for i in range(MAX_MATCHED + 10):
        config.resolve(f"claude-{i}")
        config.resolve(f"unknown-{i}")
    assert len(config.names.matched) <= MAX_MATCHED
    plan = config.resolve("claude-1")
    assert plan is not None and plan.name == "coding"
    assert config.resolve("unknown-1") is None


@pytest.mark.parametrize(
    ("models", "problem"),
    [
        ("  a: {targets: [p/x], aliases: [z]}\n  b: {targets: [p/y], aliases: [z]}\n",
         "models.b.aliases[0]: duplicate alias 'z' (already an alias of model 'a')"),
        ("  a: {targets: [p/x], aliases: ['c-*', 'c-*']}\n",
         "models.a.aliases[1]: duplicate alias 'c-*' (already an alias of this model)"),
        ("  a: {targets: [p/x], aliases: [b]}\n  b: [p/y]\n",
         "models.a.aliases[0]: 'b' is already the name of a model"),
        ("  a: {targets: [p/x], aliases: claude}\n",
         "models.a.aliases: expected a list of names or glob patterns, got the string 'claude'"),
        ("  a: {targets: [p/x], aliases: ['']}\n",
         "models.a.aliases[0]: expected a non-empty string"),
        ("  a: {targets: [p/x], alias: [b]}\n", "models.a.alias: unknown key (did you mean 'aliases'?)"),
    ],
)  # fmt: skip
def test_alias_mistakes_are_config_errors(models: str, problem: str) -> None:
    text = 'providers:\n  p: {dialect: openai, base_url: "http://127.0.0.1:1"}\nmodels:\n' + models
    with pytest.raises(ConfigError) as info:
        parse_config(text, "test.yaml")
    assert any(problem in p for p in info.value.problems), info.value.problems


def test_max_output_tokens_must_be_positive() -> None:
    text = CONFIG.replace("gpt-4o: 1000", "gpt-4o: 0")
    with pytest.raises(ConfigError) as info:
        parse_config(text, "test.yaml")
    assert any("max_output_tokens" in p and "gpt-4o: 0" in p for p in info.value.problems)


def test_check_config_lists_aliases_and_patterns() -> None:
    out = render_plan(parse_config(CONFIG))
    assert "    aliases: claude-opus-4-8\n" in out
    assert "    patterns: claude-*  (after names, in config order)\n" in out
    assert "    aliases: claude-sonnet-4-5\n    patterns: *-haiku-*" in out


def test_direct_names_are_plan_targets_or_listed_and_bounded() -> None:
    """`provider/model` resolves only for a plan's target or a name the provider's `direct`
    list matches, and a pattern admits at most MAX_DIRECT_NAMES distinct names."""
    config = parse_config(CONFIG)
    assert config.resolve("openai/gpt-4o") is not None  # a target of `coding`
    assert config.resolve("openai/gpt-4o-x") is None  # openai has no `direct`
    assert config.resolve("anthropic/claude-x1") is not None  # `direct: ["claude-x*"]`
    for n in range(MAX_DIRECT_NAMES + 10):
        config.resolve(f"anthropic/claude-x-{n}")
    assert len(config.names.direct) == MAX_DIRECT_NAMES
    assert config.resolve("anthropic/claude-x-new") is None  # full
    assert config.resolve("anthropic/claude-x-5") is not None  # admitted before
    assert config.resolve("anthropic/claude-opus-4-7") is not None  # targets never count
