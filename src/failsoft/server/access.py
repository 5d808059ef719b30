"""The access log and the per-surface request counts: one `Exchange` watches each request.

The exchange stands in for the ASGI `send` of every HTTP request, so every route (the chat
surfaces, the model list, status, admin, and routes failsoft does not serve) is seen the
same way: the status and failsoft's own response headers (`x-failsoft-request-id`,
`-attempts`, `-trail`, `-provider`, `-model`, `-cache`, `-rung`), the first body bytes
(time to first token on a stream) and the token counts in the answer. The chat endpoint
adds what only it knows: the virtual model, a client disconnect, a broken stream.

The line is written once, when the response's last byte is handed to the server (before
it reaches the caller, so a client that has its answer can find the line), or when the
handler returns without one (a disconnect, a crash). With the log off, or the
`failsoft.access` logger below INFO, the exchange records only the status and duration
for `/metrics`: no header scan, no body scan, no line.

Never logged: query strings (a Gemini caller puts its key in `?key=`), request headers,
bodies.
"""

from __future__ import annotations

import asyncio
import logging
import time
from bisect import bisect_left
from collections.abc import Awaitable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

from failsoft.auth.limits import Ticket
from failsoft.auth.limits_http import headers as limit_headers
from failsoft.config.log import LogConfig
from failsoft.errors import (
    ForbiddenModel,
    PayloadTooLarge,
    RequestError,
    Unauthenticated,
    UnknownModel,
    UnsupportedMediaType,
    Untranslatable,
)
from failsoft.logfmt import usage_in, usage_known
from failsoft.server.access_line import write as write_line
from failsoft.server.asgi import Message, Scope, Send
from failsoft.server.cycle import Cycle
from failsoft.server.refusals import RefusalLog
from failsoft.types import trail
from failsoft.usage.meter import request_tokens

access_log = logging.getLogger("failsoft.access")

EXCHANGE = "failsoft.exchange"
"""The scope key under which a handler finds its request's `Exchange`."""

CLIENT_CLOSED = 499
"""The status logged when the caller went away before any response started."""

SURFACES = (
    "openai",
    "anthropic",
    "responses",
    "gemini",
    "models",
    "status",
    "admin",
    "metrics",
    "health",
    "root",
    "unknown",
)


_EXACT = {
    "/v1/chat/completions": "openai",
    "/v1/messages": "anthropic",
    "/v1/responses": "responses",
    "/v1/models": "models",
}


def surface_of(path: str) -> str:
    """The API a path belongs to: a small fixed set, so it can label a metric."""
    exact = _EXACT.get(path)
    if exact is not None:
        return exact
    if path.startswith(("/v1/chat/", "/chat/")):
        return "openai"
    if path.startswith("/v1/messages"):
        return "anthropic"
    if path.startswith(("/v1/responses", "/responses")):
        return "responses"
    if path.startswith("/v1beta/"):
        return "gemini"
    if path in ("/v1/models", "/models"):
        return "models"
    if path == "/status" or path.startswith("/status/"):
        return "status"
    if path.startswith("/admin/"):
        return "admin"
    if path == "/metrics":
        return "metrics"
    if path in ("/healthz", "/health"):
        return "health"
    if path == "/":
        return "root"
    return "unknown"


_REFUSALS: dict[type[RequestError], str] = {
    UnknownModel: "unknown_model",
    ForbiddenModel: "forbidden_model",
    Unauthenticated: "unauthenticated",
    Untranslatable: "untranslatable",
    PayloadTooLarge: "too_large",
    UnsupportedMediaType: "media_type",
}
"""The refusal kind logged for each caller error (any other is `malformed`)."""
_BY_MODEL = frozenset({"unknown_model", "untranslatable", "forbidden_model"})

_HEADERS = {
    b"x-failsoft-request-id": "rid",
    b"x-failsoft-attempts": "attempts",
    b"x-failsoft-trail": "trail",
    b"x-failsoft-provider": "provider",
    b"x-failsoft-model": "answered",
    b"x-failsoft-cache": "cache",
    b"x-failsoft-rung": "rung",
}


class Exchange:
    """One request's `send`, and what the access line and `/metrics` need to know of it."""

    __slots__ = (
        "_counted",
        "_log",
        "_scope",
        "_send",
        "answered",
        "attempts",
        "broken",
        "cache",
        "caller",
        "cut",
        "detail",
        "disconnected",
        "done",
        "first",
        "input_tokens",
        "logged",
        "method",
        "model",
        "output_tokens",
        "path",
        "provider",
        "refused",
        "rid",
        "rung",
        "started",
        "status",
        "stream",
        "surface",
        "ticket",
        "trace",
        "trail",
    )

    def __init__(
        self, owner: AccessLog, send: Send, scope: Scope, detail: bool, logged: bool
    ) -> None:
        self._log = owner
        self._send = send
        self.started = time.perf_counter()
        self.status = 0
        self.done = False
        self.detail = detail
        """Read the headers and bodies: for the line, or for a request span."""
        self.logged = logged
        """Write the access line."""
        self.trace: Any = None
        """The request's span (tracing.otel.RequestTrace), set by a traced chat endpoint."""
        self.path: str = scope["path"]
        self.surface = surface_of(self.path)
        self.disconnected = False
        self.refused: str | None = None
        self.caller: str | None = None
        """The name of the caller's key (`auth:`), never the key."""
        self.model: str | None = None
        self.broken = False
        self.cut: str | None = None
        """failsoft ended the request itself: `slow_reader`, `deadline` or `shutdown`."""
        self._scope: Scope | None = None
        self._counted: bytes | None = None
        """An answer body whose token counts were handed over (`counted`): not scanned."""
        self.ticket: Ticket | None = None
        """The caller key's rate-limit ticket (auth/limits.py): its headers go on the
        answer, its slot is given back and its tokens charged at `finish`."""
        if detail:
            self.method: str = scope["method"]
            self.stream = False
            self.first: float | None = None
            self.input_tokens: int | None = None
            self.output_tokens: int | None = None
            self.rid: bytes | None = None
            self.attempts: bytes | str | None = None
            self.trail: bytes | str | None = None
            self.provider: bytes | None = None
            self.answered: bytes | None = None
            self.cache: bytes | None = None
            self.rung: bytes | None = None

    def __call__(self, message: Message) -> Awaitable[None]:
        """The server's `send` of `message`, once it is noted: a plain function handing
        back the server's own awaitable, not a coroutine awaiting it (one frame fewer per
        message; a caller awaits the call at once, so the order is the same)."""
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
            if self.detail:
                self._read_headers(message["headers"])
            if self.ticket is not None:
                extra = limit_headers(self.ticket.standing)
                if extra:
                    message = {**message, "headers": [*message["headers"], *extra]}
        elif kind == "http.response.body":
            body = message.get("body")
            if body:
                self.note_body(body)
            if not message.get("more_body", False) and not self.done:
                given_back = self.finish()
                if given_back is not None:
                    return self._after(given_back, message)
        return self._send(message)

    async def _after(self, given_back: asyncio.Task[None], message: Message) -> None:
        """The last body message once the key's slot is back in Redis (bounded by
        `state.timeout`): a caller that has read the last byte may send its next request
        to another process, which must not still count this one. Shielded: the release
        runs to its end even if the handler is cancelled meanwhile."""
        await asyncio.shield(given_back)
        await self._send(message)

    def note_body(self, body: bytes) -> None:
        """What a (non-empty) body message tells the line: also called for the stream
        events the committed relay writes to the connection itself (server/direct.py)."""
        if self.detail:
            if self.first is None:
                self.first = time.perf_counter()
            # `find`, not `in`: `bytes in bytes` first tries the needle as an int and
            # raises (and clears) a TypeError, ~2,000 instructions each time.
            if body is not self._counted and body.find(b"usage") >= 0:
                self._count_tokens(body)
            if self.trace is not None:
                self.trace.body(body)
        elif (
            self.ticket is not None
            and self.ticket.tokens
            and body is not self._counted
            and body.find(b"usage") >= 0
        ):
            self._count_tokens(body)

    def counted(self, answer: Any, body: bytes) -> None:
        """`body`, about to be sent whole, is the JSON of `answer` (the router parsed or
        built it): its token counts are read off `answer` (`usage_known`), and `body` is
        not scanned for them, when that is sure to give what the scan would."""
        if self.detail or (self.ticket is not None and self.ticket.tokens):
            known = usage_known(answer, body)
            if known is not None:
                self._counted = body
                found_in, found_out = known
                if found_in is not None:
                    self.input_tokens = found_in
                if found_out is not None:
                    self.output_tokens = found_out

    def _read_headers(self, headers: list[tuple[bytes, bytes]]) -> None:
        fields = _HEADERS
        for name, raw in headers:
            field = fields.get(name)
            if field is not None:
                setattr(self, field, raw)
            elif name == b"content-type" and raw.startswith(b"text/event-stream"):
                self.stream = True

    def limit(self, ticket: Ticket, scope: Scope) -> None:
        """Hold `ticket` until the response ends; a key with a `tpm` is charged what the
        request's upstreams billed (its usage meter, in `scope`), else the answer's token
        counts (a cached answer), so those are read even with the access log off."""
        self.ticket = ticket
        self._scope = scope
        if ticket.tokens and not self.detail:
            self.input_tokens = None
            self.output_tokens = None

    def _count_tokens(self, body: bytes) -> None:
        found_in, found_out = usage_in(body)
        if found_in is not None:
            self.input_tokens = found_in
        if found_out is not None:
            self.output_tokens = found_out

    def refuse(self, kind: str, key: str, reason: str, **fields: object) -> None:
        """failsoft refused this request itself: say so (rate-limited) on `failsoft.refusal`
        and in the access line."""
        self.refused = kind
        fields.setdefault("rid", self.rid if self.detail else None)
        self._log.refusals.refuse(kind, key, reason, surface=self.surface, **fields)

    def refuse_request(self, exc: RequestError, rid: str) -> None:
        """A caller error failsoft found itself (unknown model, malformed body, ...)."""
        kind = _REFUSALS.get(type(exc), "malformed")
        subject = self.model if kind in _BY_MODEL and self.model else self.path
        reason = exc.message
        if kind == "media_type" or reason.startswith("x-failsoft-timeout"):
            # These quote a header the caller sent: the caller sees it, the log does not.
            reason = reason.split(",", 1)[0]
        self.refuse(kind, subject, reason, status=exc.status, rid=rid)

    def stream_ended(self, stream: Any) -> None:
        """A stream's trail can grow after its headers went out (a resumed answer): the
        line gets the final one, and whether the answer broke."""
        self.broken = self.broken or getattr(stream, "error", None) is not None
        if self.detail:
            attempts = getattr(stream, "attempts", None)
            if attempts:
                self.trail = trail(attempts)
                self.attempts = str(sum(1 for a in attempts if a.made))

    def finish(self) -> asyncio.Task[None] | None:
        """The response ended (or never will): count it, and write its line. Hands back
        the release of a slot counted in Redis (`Ticket.done`), for the last bytes to
        wait on."""
        if self.done:
            return None
        self.done = True
        ticket = self.ticket
        given_back = None
        if ticket is not None:
            if ticket.tokens:
                billed = None if self._scope is None else request_tokens(self._scope)
                if billed is not None:
                    given_back = ticket.done(billed, 0)
                else:
                    given_back = ticket.done(self.input_tokens, self.output_tokens)
            else:
                given_back = ticket.done(None, None)
        elapsed = time.perf_counter() - self.started
        status = self.status or CLIENT_CLOSED
        self._log.count(self.surface, status, elapsed)
        if self.logged:
            # On failsoft's own connection (`Cycle.send`) this runs in the connection's
            # loop: handed down, not looked up (a `getpid` system call on Python 3.11).
            owner = getattr(self._send, "__self__", None)
            loop = owner.conn.loop if type(owner) is Cycle else None
            write_line(self, status, elapsed, self._log.json, loop)
        if self.trace is not None:
            self.trace.finish(self, status)
        return given_back


class AccessLog:
    """The access log's settings, the refusal log, and the per-surface counts."""

    def __init__(self, config: LogConfig, refusals: RefusalLog, tracing: bool = False) -> None:
        self.enabled = config.access
        self.json = config.access_json
        self.tracing = tracing
        """Requests are traced: their spans need the details even with the log off."""
        self.refusals = refusals
        self.requests: dict[str, list[int]] = {}
        """surface → requests by status class (`_CLASSES`, indexed by status // 100)"""
        self.durations: dict[str, list[int]] = {}
        """surface → requests per duration bucket (`BUCKETS`, then above the last)"""
        self.sums: dict[str, float] = {}

    def reconfigure(self, config: LogConfig) -> None:
        """The `log:` section of a reloaded config (the counts are kept)."""
        self.enabled = config.access
        self.json = config.access_format == "json"
        self.refusals.use_json(self.json)

    def begin(self, scope: Scope, send: Send) -> Exchange:
        logged = self.enabled and access_log.isEnabledFor(logging.INFO)
        exchange = Exchange(self, send, scope, logged or self.tracing, logged)
        scope[EXCHANGE] = exchange
        return exchange

    def count(self, surface: str, status: int, elapsed: float) -> None:
        counts = self.requests.get(surface)
        if counts is None:
            counts = self.requests[surface] = [0] * len(_CLASSES)
            self.durations[surface] = [0] * (len(BUCKETS) + 1)
            self.sums[surface] = 0.0
        counts[min(status // 100, 5)] += 1
        self.durations[surface][bisect_left(BUCKETS, elapsed)] += 1
        self.sums[surface] += elapsed

    def write(self, ex: Exchange, status: int, elapsed: float) -> None:
        write_line(ex, status, elapsed, self.json)

    def metrics(self) -> Iterator[Metric]:
        """`failsoft_http_requests_total{surface, class}` and the duration histogram."""
        requests = CounterMetricFamily(
            "failsoft_http_requests",
            "HTTP requests by API surface and status class (499: the caller left first).",
            labels=["surface", "class"],
        )
        for surface, counts in sorted(self.requests.items()):
            for index, count in enumerate(counts):
                if count and index:
                    requests.add_metric([surface, _CLASSES[index]], count)
        durations = HistogramMetricFamily(
            "failsoft_http_request_duration_seconds",
            "Time from a request's arrival to its response's last byte, by API surface.",
            labels=["surface"],
        )
        for surface, counts in sorted(self.durations.items()):
            cumulative: list[tuple[str, float]] = []
            total = 0
            for bound, seen in zip((*BUCKETS, float("inf")), counts, strict=True):
                total += seen
                cumulative.append(("+Inf" if bound == float("inf") else str(bound), total))
            durations.add_metric([surface], cumulative, self.sums[surface])
        yield requests
        yield durations
        refused = CounterMetricFamily(
            "failsoft_refusals",
            "Requests and connections failsoft refused itself, by kind (unauthenticated, "
            "rate_limited, budget, head_too_large, head_timeout, body_timeout, "
            "too_many_connections, unknown_model, malformed, shed, ...).",
            labels=["kind"],
        )
        for kind, count in sorted(self.refusals.counts.items()):
            refused.add_metric([kind], count)
        yield refused


BUCKETS = (0.005, 0.025, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
"""Seconds: from a cached answer to a long streamed one."""
_CLASSES = ("1xx", "1xx", "2xx", "3xx", "4xx", "5xx")
