"""A key's limits on the wire: the 429 in the caller's dialect, and the rate-limit headers
the SDKs and dashboards know (OpenAI's `x-ratelimit-*`, Anthropic's
`anthropic-ratelimit-*`), on refusals and on answers alike.

The 429 says `x-should-retry: true` and `Retry-After` (whole seconds, at least 1): the
openai and anthropic SDKs retry it after that long by themselves.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from failsoft.auth.limits import RateLimited, Standing
from failsoft.dialects import WIRES
from failsoft.types import Dialect

# Not failsoft.server.asgi's aliases: server/access.py imports this module.
Headers = list[tuple[bytes, bytes]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_KIND = {"openai": "rate_limit_exceeded", "anthropic": "rate_limit_error"}


def duration(seconds: float) -> str:
    """OpenAI's way of writing a reset: `20ms`, `1s`, `1.5s`, `6m0s`."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    if seconds < 60:
        return f"{round(seconds, 3):g}s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{round(rest, 3):g}s"


def _instant(at: float, after: float) -> bytes:
    """RFC 3339 in UTC, to the second (rounded up), as Anthropic writes its resets."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(math.ceil(at + after))).encode()


def headers(standing: Standing) -> Headers:
    """The rate-limit headers for a key's `standing` (empty without rpm and tpm)."""
    out: Headers = []
    for word, position in (("requests", standing.requests), ("tokens", standing.tokens)):
        if position is None:
            continue
        limit, remaining, reset = position
        w = word.encode()
        out += [
            (b"x-ratelimit-limit-" + w, str(limit).encode()),
            (b"x-ratelimit-remaining-" + w, str(remaining).encode()),
            (b"x-ratelimit-reset-" + w, duration(reset).encode()),
            (b"anthropic-ratelimit-" + w + b"-limit", str(limit).encode()),
            (b"anthropic-ratelimit-" + w + b"-remaining", str(remaining).encode()),
            (b"anthropic-ratelimit-" + w + b"-reset", _instant(standing.at, reset)),
        ]
    return out


async def refuse_limited(send: Send, dialect: Dialect, exc: RateLimited) -> None:
    """429 in the caller's dialect, retryable after `Retry-After` seconds."""
    wire = WIRES[dialect]
    if dialect == "gemini":
        body = wire.error_body(exc.message, "RESOURCE_EXHAUSTED")
    else:
        body = wire.error_body(exc.message, _KIND[dialect], code="rate_limit_exceeded")
    retry = max(1, math.ceil(exc.retry_after))
    out: Headers = [
        (b"content-type", b"application/json"),
        (b"retry-after", str(retry).encode()),
        (b"x-should-retry", b"true"),
        (b"x-failsoft-limit", exc.limit.encode()),
    ]
    out += headers(exc.standing)
    out.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": 429, "headers": out})
    await send({"type": "http.response.body", "body": body, "more_body": False})
