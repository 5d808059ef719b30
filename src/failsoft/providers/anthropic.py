"""Anthropic: `{base_url}/v1/messages` with `x-api-key` and `anthropic-version`.

As in the anthropic SDK, `base_url` excludes the `/v1`. The caller's `anthropic-version`
and `anthropic-beta` are relayed, since they change request semantics (API 2026-10-21
rejects sampling parameters that 2023-06-01 accepts); the provider's configured version is
used when the caller sent none.
"""

from __future__ import annotations

from collections.abc import Mapping

from failsoft.providers.base import Provider

FORWARDED = ("anthropic-version", "anthropic-beta")


class AnthropicProvider(Provider):
    path = "/v1/messages"

    def auth_headers(self) -> dict[str, str]:
        key = self.config.api_key
        base = {"anthropic-version": self.config.anthropic_version}
        if key:
            base["x-api-key"] = key.reveal()
        return base

    def headers(self, forwarded: Mapping[str, str]) -> Mapping[str, str]:
        if not forwarded:
            return self._headers
        headers = dict(self._headers)
        for name in FORWARDED:
            value = forwarded.get(name)
            if value:
                headers[name] = value
        return headers
