"""What a model's tokens cost: the `pricing` config first, then the `genai-prices` table.

`genai-prices` (MIT, maintained by Pydantic, https://github.com/pydantic/genai-prices) is a
community price table of the main providers with matching rules for model names. It is
built on pydantic, so it never runs on the request path: a model's rates are looked up
once, in the ledger's flush task (a worker thread), and kept as three floats. Until then a
new model's spend in this process counts 0 towards its budget (a few seconds at most).

Rates are taken at a small request size (a thousand tokens), so the long-context tiers some
providers charge above 200k input tokens are not applied, and cache writes are priced as
plain input: both documented in docs/spend.md. A model neither source knows costs 0, is
reported `unpriced`, and is warned about once.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

from failsoft.config.pricing import ModelPrice

log = logging.getLogger("failsoft.usage")

MAX_MODELS = 10_000
"""Distinct (provider, model) pairs whose rate (or absence) is remembered: bounded, as
upstream model names can come from callers naming `provider/model` directly."""

_TABLE_PROVIDER = {"openai": "openai", "anthropic": "anthropic", "gemini": "google"}
"""The table's provider for a target's dialect, when its base URL is not a known one."""


class Rate(NamedTuple):
    """US dollars per token."""

    input: float
    output: float
    cached: float

    def cost(self, input: int, output: int, cached: int) -> float:
        cached = min(cached, input)
        return (input - cached) * self.input + cached * self.cached + output * self.output


def _rate(price: ModelPrice) -> Rate:
    cached = price.input if price.cached_input is None else price.cached_input
    return Rate(price.input / 1e6, price.output / 1e6, cached / 1e6)


class PriceBook:
    """Rates by (provider, model): `rate` is a dict read; `resolve` does the lookups."""

    def __init__(self, pricing: dict[str, ModelPrice], table: bool = True) -> None:
        self.pricing = pricing
        self._overrides = {name: _rate(p) for name, p in pricing.items()}
        self._table = table
        self._known: dict[tuple[str, str], Rate | None] = {}

    def rate(self, provider: str, model: str) -> Rate | None:
        """The rate if already known (an override, or resolved before); never looks up."""
        found = self._overrides.get(f"{provider}/{model}") or self._overrides.get(model)
        return found if found is not None else self._known.get((provider, model))

    def known(self, provider: str, model: str) -> bool:
        """Whether `rate` has its final answer (a rate, or none anywhere)."""
        return (
            f"{provider}/{model}" in self._overrides
            or model in self._overrides
            or (provider, model) in self._known
        )

    def priced(self, provider: str, model: str) -> bool:
        return self.rate(provider, model) is not None

    def resolve(self, provider: str, model: str, base_url: str, dialect: str) -> Rate | None:
        """The rate, looked up in the table if need be (blocking: call it off the loop)."""
        if self.known(provider, model):
            return self.rate(provider, model)
        rate = self._lookup(model, base_url, dialect) if self._table else None
        full = len(self._known) >= MAX_MODELS
        if rate is None and not full:
            log.warning(
                "no price known for %s/%s: its usage is recorded at cost 0 (set one under "
                "`pricing:` in the config, 0 for a free model)",
                provider,
                model,
            )
        if not full:
            self._known[(provider, model)] = rate
        return rate

    @staticmethod
    def _lookup(model: str, base_url: str, dialect: str) -> Rate | None:
        """The table's rate: by the provider's base URL, else the dialect's provider,
        else the model name in any provider."""
        try:
            from genai_prices import Usage, calc_price
        except ImportError:  # pragma: no cover - a dependency; kept optional in spirit
            return None
        n = 1000
        plain_usage = Usage(input_tokens=n, output_tokens=n)
        cached_usage = Usage(input_tokens=n, cache_read_tokens=n)
        guess = _TABLE_PROVIDER.get(dialect)
        for how in ("url", "provider", "any"):
            try:
                if how == "url":
                    plain = calc_price(plain_usage, model, provider_api_url=base_url)
                    cached = calc_price(cached_usage, model, provider_api_url=base_url)
                elif how == "provider":
                    if guess is None:
                        continue
                    plain = calc_price(plain_usage, model, provider_id=guess)
                    cached = calc_price(cached_usage, model, provider_id=guess)
                else:
                    plain = calc_price(plain_usage, model)
                    cached = calc_price(cached_usage, model)
            except (LookupError, ValueError):
                continue
            return Rate(
                float(plain.input_price) / n,
                float(plain.output_price) / n,
                float(cached.input_price) / n,
            )
        return None
