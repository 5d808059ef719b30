"""When a failed webhook delivery is worth another attempt, and how long to wait first."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime

RETRYABLE = frozenset({408, 425, 429})
"""4xx answers that may succeed later (with every 5xx); any other 4xx will not."""


def retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Retry-After in seconds (delta or HTTP date); `fetch` keeps the server's header case."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)
