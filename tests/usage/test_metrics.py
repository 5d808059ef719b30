"""The spend counters: by key name, bounded (later names count as `other`)."""

from __future__ import annotations

import pytest

from failsoft.config.pricing import ModelPrice
from failsoft.usage import metrics
from failsoft.usage.meter import Usage
from failsoft.usage.prices import PriceBook


def test_spend_and_tokens_by_key_with_a_bounded_label_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counters = metrics.SpendCounters(PriceBook({"m": ModelPrice(1, 2)}))
    monkeypatch.setattr(metrics, "MAX_KEYS", 2)
    for key in ("a", "b", "c", "d"):
        counters(key, [Usage("p", "m", 1_000_000, 500_000)])
    assert set(counters.spend) == {"a", "b", "other"}
    assert counters.spend["a"] == 2.0
    assert counters.spend["other"] == 4.0
    families = {f.name: f for f in counters.metrics()}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for s in families["failsoft_tokens"].samples
    }
    assert samples[("failsoft_tokens_total", (("direction", "output"), ("key", "other")))] == 1e6
