"""A provider adapter: where to send a chat request, with which headers, and how to read
its errors. The wire format itself lives in `failsoft.dialects`; an adapter adds what is
specific to one vendor's deployment (endpoint path, auth header, version headers).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar, Literal

from failsoft.config import ProviderConfig
from failsoft.dialects import WIRES
from failsoft.dialects.base import Wire, parse_retry_after
from failsoft.errors import UpstreamStatusError
from failsoft.translate import TargetOptions
from failsoft.translate.output_cap import output_limit
from failsoft.transport.http import USER_AGENT
from failsoft.types import Dialect


class Provider:
    """Base adapter; subclasses set `path` and add their auth and version headers."""

    path: ClassVar[str] = ""

    def __init__(self, name: str, config: ProviderConfig) -> None:
        self.name = name
        self.config = config
        self.dialect: Dialect = config.wire_dialect
        """What this provider speaks on the wire: `responses` for `api: responses`."""
        self.wire: Wire = WIRES[self.dialect]
        self.url = config.normalized_url + self.path
        self.options = TargetOptions(
            self.dialect,
            anthropic_version=config.anthropic_version,
            default_max_tokens=config.default_max_tokens,
            max_tokens_field=self._max_tokens_field(),
        )
        """How requests translated from another dialect are written for this provider."""
        self._output_limits: dict[str, int | None] = {}
        headers = {
            "content-type": "application/json",
            "accept-encoding": "identity",
            "user-agent": USER_AGENT,
        }
        headers.update({k.lower(): v for k, v in config.headers.items()})
        headers.update(self.auth_headers())
        self._headers: Mapping[str, str] = MappingProxyType(headers)
        """Read-only: the transport writes the head of a request with these once per
        route (`transport/http.py`), and nothing may change them behind its back."""
        # Credentials this adapter sends; scrubbed from anything upstream that is relayed.
        secret = config.api_key.reveal() if config.api_key else ""
        self._secrets = [s.encode() for s in (secret,) if len(s) >= 8]

    def output_limit(self, model: str) -> int | None:
        """`translate.output_cap.output_limit` for `model` at this provider, worked out
        once per model (a glob and regex scan otherwise run for every attempt)."""
        limits = self._output_limits
        if model in limits:
            return limits[model]
        found = output_limit(model, self.config.max_output_tokens)
        if len(limits) < 1024:  # caller-named models (`provider/anything`) are unbounded
            limits[model] = found
        return found

    def auth_headers(self) -> dict[str, str]:
        return {}

    def url_for(self, model: str, stream: bool) -> str:
        """Where a request for `model` goes (Gemini puts the model and the mode in the URL)."""
        return self.url

    def _max_tokens_field(self) -> Literal["max_tokens", "max_completion_tokens"]:
        return "max_completion_tokens"

    def headers(self, forwarded: Mapping[str, str]) -> Mapping[str, str]:
        """Headers for one request; `forwarded` holds caller headers this dialect relays."""
        return self._headers

    def scrub(self, data: bytes) -> bytes:
        """`data` with this provider's key removed, should an upstream ever echo it.

        Error bodies are relayed to callers and their messages logged; a provider that
        quotes the key it was sent must not hand it to every caller of the gateway.
        """
        for secret in self._secrets:
            if secret in data:
                data = data.replace(secret, b"[redacted]")
        return data

    def scrub_text(self, text: str) -> str:
        if not self._secrets:
            return text
        return self.scrub(text.encode("utf-8", "replace")).decode("utf-8", "replace")

    def status_error(
        self, status: int, headers: Mapping[str, str], body: bytes
    ) -> UpstreamStatusError:
        body = self.scrub(body)
        info = self.wire.parse_error(body)
        retry_after = parse_retry_after(headers)
        return UpstreamStatusError(
            status,
            body,
            error_type=info.type,
            error_code=info.code,
            error_message=info.message,
            retry_after=retry_after if retry_after is not None else info.retry_after,
            headers={k.lower(): v for k, v in headers.items() if k.lower() in _KEPT_HEADERS},
            dialect=self.dialect,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.url!r})"


# Upstream error headers worth relaying to the caller with a client-fault answer.
_KEPT_HEADERS = frozenset({"retry-after", "retry-after-ms", "request-id", "x-request-id"})
