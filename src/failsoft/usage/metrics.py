"""`failsoft_spend_usd_total{key}` and `failsoft_tokens_total{key,direction}`.

Counted by this process since it started (Prometheus sums the fleet). Labelled by the key's
name, never the key; at most `MAX_KEYS` names, every later one counted as `other`, so a
store-backed key list cannot grow the series without bound. No model label: per-model
spend is in `/admin/usage`.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric

from failsoft.usage.meter import Usage
from failsoft.usage.prices import PriceBook

MAX_KEYS = 1000
OTHER = "other"


class SpendCounters:
    __slots__ = ("_book", "spend", "tokens")

    def __init__(self, book: PriceBook) -> None:
        self._book = book
        self.spend: dict[str, float] = {}
        self.tokens: dict[str, list[int]] = {}
        """key label → [input, output, cached]."""

    def set_book(self, book: PriceBook) -> None:
        self._book = book

    def __call__(self, key: str, usages: list[Usage]) -> None:
        if key not in self.tokens and len(self.tokens) >= MAX_KEYS:
            key = OTHER
        counts = self.tokens.get(key)
        if counts is None:
            counts = self.tokens[key] = [0, 0, 0]
            self.spend[key] = 0.0
        book = self._book
        for u in usages:
            counts[0] += u.input
            counts[1] += u.output
            counts[2] += u.cached
            rate = book.rate(u.provider, u.model)
            if rate is not None:
                self.spend[key] += rate.cost(u.input, u.output, u.cached)

    def metrics(self) -> Iterator[Metric]:
        spend = CounterMetricFamily(
            "failsoft_spend_usd",
            "Estimated spend in US dollars by caller key (priced from usage; models without "
            "a price count 0).",
            labels=["key"],
        )
        tokens = CounterMetricFamily(
            "failsoft_tokens",
            "Tokens billed by upstreams, by caller key and direction (cached: input read "
            "from the provider's prompt cache, also counted in input).",
            labels=["key", "direction"],
        )
        for key, value in self.spend.items():
            spend.add_metric([key], value)
        for key, (i, o, c) in self.tokens.items():
            tokens.add_metric([key, "input"], i)
            tokens.add_metric([key, "output"], o)
            tokens.add_metric([key, "cached"], c)
        yield spend
        yield tokens
