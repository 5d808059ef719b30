"""OpenAI and OpenAI-compatible servers (vLLM, Ollama, Groq, ...): `{base_url}/chat/completions`
with `Authorization: Bearer`. As in the openai SDK, `base_url` includes the `/v1`.
"""

from __future__ import annotations

from failsoft.providers.base import Provider


class OpenAIProvider(Provider):
    path = "/chat/completions"

    def auth_headers(self) -> dict[str, str]:
        key = self.config.api_key
        return {"authorization": f"Bearer {key.reveal()}"} if key else {}
