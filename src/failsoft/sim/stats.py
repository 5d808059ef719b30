"""Attempt counters and a bounded request log.

Tests assert exact attempt counts (an SDK with `max_retries=2` against a 529 must show
3 attempts and retry counts 0, 1, 2), often from another thread than the server's
loop, so every read and write takes one lock.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from typing import Any

RECORDED_HEADERS = (
    "anthropic-beta",
    "anthropic-version",
    "traceparent",
    "tracestate",
    "user-agent",
    "x-sim-fault",
    "x-stainless-read-timeout",
    "x-stainless-retry-count",
    "x-stainless-timeout",
)
"""Request headers worth keeping; never credentials."""


@dataclass(frozen=True, slots=True)
class RequestRecord:
    time: float
    """Wall-clock seconds since the epoch when the request arrived."""
    model: str
    path: str
    dialect: str
    stream: bool
    outcome: str
    """HTTP status as a string ("200", "529"), or the fault kind when the client got no
    complete HTTP answer ("reset", "hang", "cut", "stall", "malformed", "no_terminal",
    "mid_stream_error", "endless", "huge_line")."""
    fault: str | None
    """Kind of the applied fault, also for faults that still end in a 200 (slow_*)."""
    request_id: str
    auth: str | None
    """Where the key came from ("authorization", "x-api-key", "x-goog-api-key", or "key" for
    Gemini's query parameter); the key itself is never stored."""
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    """The request body as parsed JSON (None if it was not JSON), so a test can check what a
    gateway sent upstream. Bodies carry no credentials."""

    @property
    def retry_count(self) -> int | None:
        value = self.headers.get("x-stainless-retry-count")
        return int(value) if value is not None and value.isdigit() else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Stats:
    def __init__(self, log_size: int = 1000) -> None:
        self._lock = threading.Lock()
        self._attempts: dict[str, Counter[str]] = {}
        self._log: deque[RequestRecord] = deque(maxlen=log_size)

    def record(self, record: RequestRecord) -> None:
        with self._lock:
            outcomes = self._attempts.get(record.model)
            if outcomes is None:
                outcomes = self._attempts[record.model] = Counter()
            outcomes[record.outcome] += 1
            self._log.append(record)

    def attempts(self, model: str) -> int:
        with self._lock:
            outcomes = self._attempts.get(model)
            return sum(outcomes.values()) if outcomes else 0

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            models = {
                model: {"attempts": sum(outcomes.values()), "outcomes": dict(outcomes)}
                for model, outcomes in self._attempts.items()
            }
        return {"attempts": sum(m["attempts"] for m in models.values()), "models": models}

    def requests(self, model: str | None = None, limit: int | None = None) -> list[RequestRecord]:
        with self._lock:
            records = [r for r in self._log if model is None or r.model == model]
        return records[-limit:] if limit else records

    def clear(self) -> None:
        with self._lock:
            self._attempts.clear()
            self._log.clear()
