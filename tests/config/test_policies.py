"""The policy sections: defaults, per-model overrides merged key by key, and their errors."""

from __future__ import annotations

import pytest

from failsoft.config import BreakerConfig, Retry, parse_config
from failsoft.errors import ConfigError

BASE = "providers: {p: {dialect: openai, base_url: 'http://x'}}\n"


def test_limits() -> None:
    """The pools and admission are one set of knobs: defaults, and each set."""
    config = parse_config(BASE + "models: {m: [p/a]}\n")
    assert config.providers["p"].max_connections == 1024
    assert config.admission.pool_wait == 0.5
    text = (
        "providers: {p: {dialect: openai, base_url: 'http://x', max_connections: 8}}\n"
        "models: {m: [p/a]}\nadmission: {pool_wait: 0, per_target: 4}\n"
    )
    config = parse_config(text)
    assert config.providers["p"].max_connections == 8
    assert (config.admission.pool_wait, config.admission.per_target) == (0.0, 4)
    with pytest.raises(ConfigError) as info:
        parse_config(text.replace("max_connections: 8", "max_connections: 0"))
    assert "providers.p.max_connections: must be greater than 0, got 0" in str(info.value)


def test_defaults() -> None:
    config = parse_config(BASE + "models: {m: [p/a, p/b]}\n")
    model = config.models["m"]
    assert model.policies.retry == Retry()
    assert model.policies.retry.max_attempts == 2
    assert "529" not in model.policies.retry.retry_on
    assert model.policies.hedge.enabled is False
    assert model.policies.balance.strategy == "ordered"
    assert model.policies.resume.enabled is True  # on by default: breaks are finished
    assert model.policies.resume.prefill == "auto"
    assert model.policies.retry.max_wait == 5.0  # a short Retry-After is waited out
    assert model.deadlines.first_token == "auto"  # learnt per target
    assert model.deadlines.adaptive.cold == 10
    assert model.deadlines.first_byte == 15
    assert config.breaker.silence.enabled
    assert config.breaker == BreakerConfig()
    assert config.admission.max_in_flight == 4096
    assert model.weights == (1.0, 1.0)


def test_model_sections_merge_over_the_top_level_key_by_key() -> None:
    text = (
        BASE
        + """
retry: {max_attempts: 3, backoff: {base: 0.5}, budget: {ratio: 0.2}}
hedge: {enabled: true, delay: p95}
models:
  m:
    targets: [{provider: p, model: a, weight: 3}, p/b]
    retry: {backoff: {cap: 9}, retry_on: ["500", reset]}
    balance: {strategy: weighted}
    resume: {enabled: false}
  n: [p/a]
"""
    )
    config = parse_config(text)
    m, n = config.models["m"], config.models["n"]
    assert m.policies.retry.max_attempts == 3  # from the top level
    assert m.policies.retry.backoff.base == 0.5  # from the top level
    assert m.policies.retry.backoff.cap == 9  # its own
    assert m.policies.retry.retry_on == ("500", "reset")
    assert m.policies.retry.budget.ratio == 0.2
    assert m.policies.hedge.delay == "p95"
    assert m.policies.balance.strategy == "weighted"
    assert m.weights == (3.0, 1.0)
    assert not m.policies.resume.enabled  # its own
    assert n.policies.retry.backoff.cap == 4.0  # untouched defaults below the top level
    assert n.policies.resume.enabled


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("retry: {max_attempts: 0}\n", "retry.max_attempts: must be 1 or more, got 0"),
        ("retry: {retry_on: ['500', '299']}\n", "retry.retry_on: unknown outcome '299'"),
        ("retry: {on: ['500']}\n", "retry.on: unknown key"),
        ("retry: {backoff: {base: -1}}\n", "retry.backoff.base: must be greater than 0"),
        ("hedge: {delay: soon}\n", "hedge.delay: expected a number or one of 'p95'"),
        (
            "balance: {strategy: random}\n",
            "balance.strategy: expected one of 'ordered', 'weighted', 'least_latency'",
        ),
        ("breaker: {error_rate: 2}\n", "breaker.error_rate: must be between 0 and 1"),
        ("breaker: {opne_for: 2}\n", "breaker.opne_for: unknown key (did you mean 'open_for'?)"),
        ("admission: {max_in_flight: 0}\n", "admission.max_in_flight: must be 1 or more"),
        ("admission: {pool_wait: -1}\n", "admission.pool_wait: must be 0 or more"),
        ("models: {m: {targets: [p/a], breaker: {}}}\n", "models.m.breaker: unknown key"),
        (
            "models: {m: [{provider: p, model: a, weight: 0}]}\n",
            "models.m[0].weight: must be a number greater than 0",
        ),
    ],
)
def test_errors(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(BASE + text)
    assert any(expected in p for p in info.value.problems), info.value.problems
