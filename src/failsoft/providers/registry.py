"""Which adapter serves which `dialect:` value (and, for OpenAI, which `api:`)."""

from __future__ import annotations

from failsoft.config import ProviderConfig
from failsoft.providers.anthropic import AnthropicProvider
from failsoft.providers.base import Provider
from failsoft.providers.gemini import GeminiProvider
from failsoft.providers.openai import OpenAIProvider, ResponsesProvider

ADAPTERS: dict[str, type[Provider]] = {
    "openai": OpenAIProvider,
    "anthropic": AnthropicProvider,
    "gemini": GeminiProvider,
    "responses": ResponsesProvider,
}
"""Keyed by the dialect spoken on the wire (`ProviderConfig.wire_dialect`)."""


def build_providers(configs: dict[str, ProviderConfig]) -> dict[str, Provider]:
    return {name: ADAPTERS[cfg.wire_dialect](name, cfg) for name, cfg in configs.items()}
