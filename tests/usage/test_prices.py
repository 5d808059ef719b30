"""Rates: config overrides first (by provider/model, then model), then the genai-prices
table, else unpriced (warned once)."""

from __future__ import annotations

import logging

import pytest

from failsoft.config.pricing import ModelPrice
from failsoft.usage.prices import PriceBook, Rate


def test_overrides_win_and_need_no_lookup() -> None:
    book = PriceBook({"openai/gpt-4o": ModelPrice(2, 8, 1), "llama": ModelPrice(0, 0)})
    assert book.rate("openai", "gpt-4o") == Rate(2e-6, 8e-6, 1e-6)
    assert book.rate("local", "llama") == Rate(0, 0, 0)
    assert book.rate("other", "gpt-4o") is None  # not resolved yet
    assert Rate(2e-6, 8e-6, 1e-6).cost(1000, 100, 400) == pytest.approx(
        600 * 2e-6 + 400 * 1e-6 + 100 * 8e-6
    )


def test_the_table_prices_known_models_by_url_or_dialect() -> None:
    book = PriceBook({})
    rate = book.resolve("openai", "gpt-4o-mini", "https://api.openai.com/v1", "openai")
    assert rate is not None and rate.input == pytest.approx(0.15e-6)
    assert book.rate("openai", "gpt-4o-mini") == rate
    local = book.resolve("sim", "claude-sonnet-4-5", "http://127.0.0.1:9/", "anthropic")
    assert local is not None and local.output == pytest.approx(15e-6)
    assert local.cached < local.input


def test_an_unknown_model_is_unpriced_and_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    book = PriceBook({})
    with caplog.at_level(logging.WARNING, "failsoft.usage"):
        assert book.resolve("x", "no-such-model-1", "http://127.0.0.1:9", "openai") is None
        assert book.resolve("x", "no-such-model-1", "http://127.0.0.1:9", "openai") is None
    assert len([r for r in caplog.records if "no-such-model-1" in r.getMessage()]) == 1
    assert book.known("x", "no-such-model-1") and not book.priced("x", "no-such-model-1")
