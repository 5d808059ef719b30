"""The process's budget of request bytes in flight (`server.max_inflight_bytes`).

`server.max_body_bytes` bounds one body; nothing bounded them all: 4,096 requests in
flight with 32 MiB bodies would hold 128 GiB. Every request that sends a body counts
against one budget from its first byte until its response ends (the body is held that
long: parsed, translated, kept for retries and resumes). A request whose declared
`content-length` does not fit is refused before any of its body is read; a chunked
body without one is counted as it arrives and refused the moment it no longer fits.
The refusal is 503 (Anthropic: 529, its "overloaded") with `Retry-After`, in the
caller's dialect, like `admission.max_in_flight`'s: the gateway is full, not the request
wrong, so the SDKs retry it.

Per process: each worker has its own budget, as it has its own memory.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from failsoft.dialects import WIRES
from failsoft.server.asgi import Headers, Message, Receive, Send, send_bytes
from failsoft.types import Dialect


class BodiesFull(Exception):
    """A chunked body outgrew what was left of the budget while it was being read."""


class InflightBytes:
    """Bytes held by request bodies now; `take` says whether more fit."""

    __slots__ = ("held", "limit", "refused")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self.refused = 0
        """Requests refused for it (since start)."""

    def take(self, size: int) -> bool:
        if self.held + size > self.limit:
            return False
        self.held += size
        return True

    def give(self, size: int) -> None:
        self.held -= size

    def metrics(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "failsoft_inflight_request_bytes",
            "Request body bytes held by the requests in flight (server.max_inflight_bytes).",
            self.held,
        )
        yield CounterMetricFamily(
            "failsoft_inflight_bytes_refused",
            "Requests refused because their body did not fit in server.max_inflight_bytes.",
            self.refused,
        )


class Ticket:
    """One request's share of the budget: what its declared length reserved up front, and
    more as an undeclared (or understated) body arrives. `close` gives it all back."""

    __slots__ = ("_budget", "_receive", "held", "read")

    def __init__(self, budget: InflightBytes, receive: Receive, reserved: int) -> None:
        self._budget = budget
        self._receive = receive
        self.held = reserved
        self.read = 0

    async def receive(self) -> Message:
        message = await self._receive()
        body = message.get("body")
        if body:
            self.read += len(body)
            more = self.read - self.held
            if more > 0:
                if not self._budget.take(more):
                    raise BodiesFull
                self.held += more
        return message

    def close(self) -> None:
        held, self.held = self.held, 0
        self._budget.give(held)


async def refuse_full(
    send: Send, dialect: Dialect, budget: InflightBytes, retry_after: float
) -> None:
    """503 / 529 with Retry-After: the gateway holds all the request bytes it may."""
    budget.refused += 1
    wire = WIRES[dialect]
    message = (
        f"failsoft: the gateway holds its limit of {budget.limit} request bytes in flight "
        f"(server.max_inflight_bytes); retry in {retry_after:g}s"
    )
    body = wire.error_body(message, wire.exhausted_type, code="gateway_overloaded")
    headers: Headers = [
        (b"content-type", b"application/json"),
        (b"retry-after", str(max(1, math.ceil(retry_after))).encode()),
        (b"retry-after-ms", str(int(retry_after * 1000)).encode()),
        (b"x-should-retry", b"true"),
    ]
    await send_bytes(send, wire.exhausted_status, headers, body)
