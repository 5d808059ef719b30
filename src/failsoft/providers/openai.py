"""OpenAI and OpenAI-compatible servers (vLLM, Ollama, Groq, ...): `{base_url}/chat/completions`
with `Authorization: Bearer`. As in the openai SDK, `base_url` includes the `/v1`. With
`api: responses`, the same provider is sent OpenAI's Responses API, `{base_url}/responses`.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from failsoft.providers.base import Provider

_OPENAI_HOSTS = ("api.openai.com", ".openai.azure.com")


class OpenAIProvider(Provider):
    path = "/chat/completions"

    def _max_tokens_field(self) -> Literal["max_tokens", "max_completion_tokens"]:
        field = self.config.max_tokens_field
        if field != "auto":
            return field
        host = urlsplit(self.config.base_url).hostname or ""
        if host == _OPENAI_HOSTS[0] or host.endswith(_OPENAI_HOSTS[1]):
            return "max_completion_tokens"
        return "max_tokens"  # vLLM, Ollama, llama.cpp, ... know this one

    def auth_headers(self) -> dict[str, str]:
        key = self.config.api_key
        return {"authorization": f"Bearer {key.reveal()}"} if key else {}


class ResponsesProvider(OpenAIProvider):
    """An OpenAI provider with `api: responses`: same keys and hosts, another endpoint."""

    path = "/responses"
