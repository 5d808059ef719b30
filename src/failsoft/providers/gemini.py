"""Gemini (generativelanguage v1beta): `{base_url}/models/{model}:generateContent` with
`x-goog-api-key`. Streams use `:streamGenerateContent?alt=sse`.

As in the other adapters `base_url` includes the API version
(`https://generativelanguage.googleapis.com/v1beta`; a bare host gets `/v1beta`).
"""

from __future__ import annotations

from urllib.parse import quote

from failsoft.providers.base import Provider


class GeminiProvider(Provider):
    path = ""

    def auth_headers(self) -> dict[str, str]:
        key = self.config.api_key
        return {"x-goog-api-key": key.reveal()} if key else {}

    def url_for(self, model: str, stream: bool) -> str:
        name = quote(model.removeprefix("models/"), safe="")
        if stream:
            return f"{self.url}/models/{name}:streamGenerateContent?alt=sse"
        return f"{self.url}/models/{name}:generateContent"
