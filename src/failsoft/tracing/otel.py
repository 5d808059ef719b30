"""Spans of a request and of its upstream attempts, after the OpenTelemetry GenAI semantic
conventions v1.37.0 (docs/observability.md has the attribute table).

    chat claude            SERVER   the caller's request, as long as its response
      chat claude-opus-4-7 CLIENT   attempt 1 (a 529), its `traceparent` sent upstream
      chat claude-sonnet-4-5 CLIENT attempt 2 (fallback, 200)

Spans are live, not rebuilt afterwards: an attempt's span starts before its request
goes upstream, so the `traceparent` the provider receives names the very span exported.
The router hands each span its end from the records it keeps anyway (`AttemptRecord`,
the access log's `Exchange`): nothing here is awaited, and nothing holds a prompt, an
answer or a credential.

Propagation is always W3C trace context (`traceparent`, `tracestate`), whatever
`OTEL_PROPAGATORS` says: it is what providers and collectors understand.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from opentelemetry.context import Context
from opentelemetry.trace import (
    Span,
    SpanKind,
    Status,
    StatusCode,
    TracerProvider,
    set_span_in_context,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from failsoft import __version__
from failsoft.config import Config
from failsoft.logfmt import MAX_VALUE
from failsoft.providers import Provider
from failsoft.types import AttemptRecord, ChatRequest, Dialect

if TYPE_CHECKING:
    from failsoft.router.attempt import Attempt
    from failsoft.router.streaming import CommittedStream
    from failsoft.server.access import Exchange

SEMCONV = "1.37.0"
SCHEMA_URL = f"https://opentelemetry.io/schemas/{SEMCONV}"

PROVIDER_NAMES: dict[str, str] = {
    "openai": "openai",
    "responses": "openai",
    "anthropic": "anthropic",
    "gemini": "gcp.gemini",
}
"""`gen_ai.provider.name` by the dialect a provider speaks (its config name goes in
`failsoft.provider`: an OpenAI-compatible server is `openai` here)."""

_FINISH = re.compile(rb'"(?:finish_reason|stop_reason|finishReason)"\s*:\s*"([A-Za-z_]{1,40})"')
_MAX_REASONS = 8
_PROPAGATOR = TraceContextTextMapPropagator()


def operation(dialect: Dialect | str) -> str:
    """`gen_ai.operation.name`: Gemini's API is `generate_content`, the others `chat`."""
    return "generate_content" if dialect == "gemini" else "chat"


def _cut(text: str) -> str:
    """A caller-chosen string (a model name) bounded, like in the log."""
    return text if len(text) <= MAX_VALUE else text[:MAX_VALUE] + "..."


class Tracer:
    """Starts request spans; owns the exporter it built (flushed at shutdown)."""

    def __init__(self, config: Config, provider: TracerProvider | None = None) -> None:
        self.owned = provider is None
        if provider is None:
            provider = _provider(config)
        self.provider = provider
        self.tracer = provider.get_tracer("failsoft", __version__, schema_url=SCHEMA_URL)
        self.config = config
        self._servers: dict[str, tuple[str | None, int | None]] = {}
        """provider name → (server.address, server.port): one entry per configured provider."""

    def request(
        self, request: ChatRequest, headers: list[tuple[bytes, bytes]], started: int
    ) -> RequestTrace:
        """The span of a caller's request, continuing the caller's `traceparent` if sent."""
        parent = _incoming(headers)
        model = _cut(request.model)
        plan = self.config.resolve(request.model)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": operation(request.dialect),
            "gen_ai.request.model": model,
            "failsoft.request_id": request.request_id,
            "failsoft.dialect": request.dialect,
            "failsoft.stream": request.stream,
        }
        if plan is not None:
            attributes["failsoft.virtual_model"] = plan.name
        _request_parameters(request.payload, attributes)
        span = self.tracer.start_span(
            f"{operation(request.dialect)} {model}",
            context=parent,
            kind=SpanKind.SERVER,
            attributes=attributes,
            start_time=started,
        )
        return RequestTrace(self, span)

    def server(self, provider: Provider) -> tuple[str | None, int | None]:
        found = self._servers.get(provider.name)
        if found is None:
            url = urlsplit(provider.url)
            port = url.port or (443 if url.scheme == "https" else 80)
            found = self._servers[provider.name] = (url.hostname, port)
        return found

    def shutdown(self) -> None:
        """Export what is still queued (a provider given by a test is the test's)."""
        if self.owned:
            shutdown = getattr(self.provider, "shutdown", None)
            if shutdown is not None:
                shutdown()


class RequestTrace:
    """One request's span; it starts the spans of the request's attempts."""

    __slots__ = ("_reasons", "context", "ids", "span", "tracer")

    def __init__(self, tracer: Tracer, span: Span) -> None:
        self.tracer = tracer
        self.span = span
        self.context: Context = set_span_in_context(span)
        ctx = span.get_span_context()
        self.ids = (format(ctx.trace_id, "032x"), format(ctx.span_id, "016x"))
        """(trace id, span id) in hex, for log lines."""
        self._reasons: list[str] = []

    def attempt(self, attempt: Attempt, kind: str, number: int, breaker: str) -> AttemptSpan:
        """The span of one upstream attempt, started now, with the headers that carry it."""
        provider = attempt.provider
        target = attempt.target
        address, port = self.tracer.server(provider)
        op = operation(provider.dialect)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": op,
            "gen_ai.provider.name": PROVIDER_NAMES.get(provider.dialect, provider.dialect),
            "gen_ai.request.model": target.model,
            "failsoft.provider": target.provider,
            "failsoft.attempt.number": number,
            "failsoft.attempt.kind": kind,
            "failsoft.breaker.state": breaker,
            "failsoft.translated": attempt.translation is not None,
        }
        if address is not None:
            attributes["server.address"] = address
        if port is not None:
            attributes["server.port"] = port
        span = self.tracer.tracer.start_span(
            f"{op} {target.model}",
            context=self.context,
            kind=SpanKind.CLIENT,
            attributes=attributes,
        )
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier, context=set_span_in_context(span))
        return AttemptSpan(span, carrier, target.model)

    def skipped(self, record: AttemptRecord) -> None:
        """A target passed over without an attempt (breaker open, budget spent, ...): an
        event on the request span, as it has no span of its own."""
        self.span.add_event(
            "failsoft.target.skipped",
            {
                "failsoft.provider": record.target.provider,
                "gen_ai.request.model": record.target.model,
                "failsoft.skip.reason": record.outcome,
            },
        )

    def body(self, data: bytes) -> None:
        """Finish reasons from the bytes a caller is sent (only read when traced)."""
        if len(self._reasons) >= _MAX_REASONS:
            return
        for found in _FINISH.findall(data):
            reason = found.decode("ascii")
            if reason not in self._reasons and len(self._reasons) < _MAX_REASONS:
                self._reasons.append(reason)

    def finish(self, ex: Exchange, status: int) -> None:
        """End the request span with what the caller got (the access log's record of it)."""
        span = self.span
        if span.is_recording():
            attributes: dict[str, Any] = {"http.response.status_code": status}
            if ex.provider is not None and ex.answered is not None:
                name = ex.provider.decode("latin-1")
                provider = self.tracer.config.providers.get(name)
                if provider is not None:
                    dialect = provider.wire_dialect
                    attributes["gen_ai.provider.name"] = PROVIDER_NAMES.get(dialect, dialect)
                attributes["failsoft.provider"] = name
                attributes["gen_ai.response.model"] = ex.answered.decode("latin-1")
            if ex.input_tokens is not None:
                attributes["gen_ai.usage.input_tokens"] = ex.input_tokens
            if ex.output_tokens is not None:
                attributes["gen_ai.usage.output_tokens"] = ex.output_tokens
            if self._reasons:
                attributes["gen_ai.response.finish_reasons"] = tuple(self._reasons)
            if ex.attempts is not None:
                text = ex.attempts.decode() if isinstance(ex.attempts, bytes) else ex.attempts
                if text.isdigit():
                    attributes["failsoft.attempts"] = int(text)
            if ex.trail:
                trail = ex.trail.decode("latin-1") if isinstance(ex.trail, bytes) else ex.trail
                attributes["failsoft.trail"] = _cut(trail)
            if ex.cache is not None:
                cache = ex.cache.decode("latin-1")
                attributes["failsoft.cache"] = cache
                attributes["failsoft.cache.served"] = cache in ("HIT", "STALE")
            if ex.rung is not None:
                attributes["failsoft.degrade.rung"] = ex.rung.decode("latin-1")
            if ex.broken:
                attributes["failsoft.stream.broken"] = True
            if ex.disconnected:
                attributes["failsoft.client.disconnected"] = True
            if ex.refused is not None:
                attributes["failsoft.refused"] = ex.refused
            error = _request_error(status, ex.broken)
            if error is not None:
                attributes["error.type"] = error
            span.set_attributes(attributes)
            if status >= 500 or ex.broken:
                span.set_status(Status(StatusCode.ERROR))
        span.end()


class AttemptSpan:
    """One attempt's span and the trace context headers its upstream request carries."""

    __slots__ = ("carrier", "model", "span")

    def __init__(self, span: Span, carrier: dict[str, str], model: str) -> None:
        self.span = span
        self.carrier = carrier
        """`traceparent` (and `tracestate`) naming this span, for the upstream request."""
        self.model = model

    def end(self, record: AttemptRecord, ok: bool) -> None:
        """The attempt's outcome as the trail has it (`200`, `529`, `reset`, ...)."""
        span = self.span
        if span.is_recording():
            outcome = record.outcome
            attributes: dict[str, Any] = {"failsoft.attempt.outcome": outcome}
            if outcome.isdigit():
                attributes["http.response.status_code"] = int(outcome)
            if ok:
                attributes["gen_ai.response.model"] = self.model
            else:
                attributes["error.type"] = outcome
                if outcome != "cancelled":  # a hedge or race partner that stood down
                    span.set_status(Status(StatusCode.ERROR, _cut(record.detail) or None))
            span.set_attributes(attributes)
        span.end()

    def end_stream(self, stream: CommittedStream) -> None:
        """A relayed stream's attempt ends with the stream: broken, or whole."""
        broken = stream.broken
        if broken is None:
            self.end(AttemptRecord(stream.target, "200"), ok=True)
            return
        span = self.span
        if span.is_recording():
            span.set_attributes(
                {
                    "failsoft.attempt.outcome": broken.outcome,
                    "failsoft.stream.broken": True,
                    "failsoft.stream.resumed": stream.resumed,
                    "http.response.status_code": 200,
                    "error.type": broken.outcome,
                }
            )
            span.set_status(Status(StatusCode.ERROR, "the stream broke after it started"))
        span.end()


_PARAMETERS = (
    ("max_tokens", "gen_ai.request.max_tokens"),
    ("max_completion_tokens", "gen_ai.request.max_tokens"),
    ("max_output_tokens", "gen_ai.request.max_tokens"),
    ("temperature", "gen_ai.request.temperature"),
    ("top_p", "gen_ai.request.top_p"),
)


def _request_parameters(payload: dict[str, Any], attributes: dict[str, Any]) -> None:
    """The sampling parameters the caller set, when they are numbers (Gemini's are in
    `generationConfig`, under its own names)."""
    config = payload.get("generationConfig") or payload.get("generation_config")
    if isinstance(config, dict):
        payload = {
            "max_tokens": config.get("maxOutputTokens", config.get("max_output_tokens")),
            "temperature": config.get("temperature"),
            "top_p": config.get("topP", config.get("top_p")),
        }
    for key, name in _PARAMETERS:
        value = payload.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            attributes[name] = value


def _request_error(status: int, broken: bool) -> str | None:
    if broken:
        return "stream_broken"
    if status >= 400:
        return str(status)
    return None


def _incoming(headers: list[tuple[bytes, bytes]]) -> Context | None:
    """The caller's trace context, if its request carried a valid `traceparent`."""
    carrier: dict[str, str] = {}
    for name, raw in headers:
        if name == b"traceparent" or name == b"tracestate":
            carrier[name.decode()] = raw.decode("latin-1")[:512]
    if "traceparent" not in carrier:
        return None
    context = _PROPAGATOR.extract(carrier)
    return context or None


def _provider(config: Config) -> TracerProvider:
    """An SDK provider exporting OTLP/HTTP in batches, from a background thread."""
    import os

    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider as SDKProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    tracing = config.tracing
    name = tracing.service_name or os.environ.get("OTEL_SERVICE_NAME") or "failsoft"
    resource = Resource.create({SERVICE_NAME: name, "service.version": __version__})
    sampler = ParentBased(TraceIdRatioBased(tracing.sample_ratio))
    provider = SDKProvider(resource=resource, sampler=sampler)
    headers = {key: secret.reveal() for key, secret in tracing.headers.items()} or None
    exporter = OTLPSpanExporter(endpoint=tracing.endpoint, headers=headers)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider
