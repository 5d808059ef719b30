"""Traces of real requests: a gateway with an in-memory exporter in front of the simulator,
called through the real SDKs. The span tree, its GenAI attributes, the `traceparent` the
simulator receives, and a caller's trace continued."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest

from failsoft.assemble import Runtime
from failsoft.config import Config
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.conftest import CALLER_KEY, PROVIDER_KEY, make_config
from tests.helpers import request
from tests.services import require_modules
from tests.translate.conftest import translate_config


class Traced:
    """A traced gateway and the spans it exported."""

    def __init__(self, gateway: GatewayThread, exporter: Any) -> None:
        self.gateway = gateway
        self.exporter = exporter

    @property
    def url(self) -> str:
        return self.gateway.url

    def spans(self, count: int, timeout: float = 5.0) -> list[Any]:
        """The exported spans once there are `count` (an attempt relaying a stream ends
        just after the caller has the answer)."""
        deadline = time.monotonic() + timeout
        while True:
            found = list(self.exporter.get_finished_spans())
            if len(found) >= count or time.monotonic() > deadline:
                assert len(found) == count, [s.name for s in found]
                return found
            time.sleep(0.01)


@pytest.fixture
def make_traced(sim: SimServer) -> Iterator[Callable[..., Traced]]:
    """A gateway (BASE_CONFIG plus `extra`) whose spans go to an in-memory exporter."""
    require_modules("otel", "opentelemetry.sdk")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    started: list[tuple[GatewayThread, Any]] = []

    def make(extra: str = "", config: Config | None = None) -> Traced:
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        config = config or make_config(sim.url, extra)
        runtime = Runtime(config, tracer_provider=provider)
        gateway = GatewayThread(config, runtime=runtime).start()
        started.append((gateway, provider))
        return Traced(gateway, exporter)

    yield make
    for gateway, provider in started:
        gateway.stop()
        provider.shutdown()


@pytest.fixture
def traced(make_traced: Callable[..., Traced]) -> Traced:
    return make_traced("")


def _oai(url: str, headers: dict[str, str] | None = None) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=url + "/v1", api_key=CALLER_KEY, max_retries=0, default_headers=headers
    )


def _tree(spans: list[Any]) -> tuple[Any, list[Any]]:
    """The request span and its attempt spans, in attempt order."""
    from opentelemetry.trace import SpanKind

    (root,) = [s for s in spans if s.kind is SpanKind.SERVER]
    attempts = [s for s in spans if s.kind is SpanKind.CLIENT]
    attempts.sort(key=lambda s: s.attributes["failsoft.attempt.number"])
    return root, attempts


def _traceparent(span: Any) -> str:
    """`traceparent` naming `span`, without its flags (the SDK may add W3C level 2's
    random-trace-id flag to the sampled one)."""
    ctx = span.get_span_context()
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}"


def _ids(traceparent: str | None) -> str | None:
    """A received `traceparent` without its flags, after checking it says sampled."""
    if traceparent is None:
        return None
    ids, _, flags = traceparent.rpartition("-")
    assert int(flags, 16) & 1, traceparent
    return ids


def test_a_fallback_is_one_request_span_over_two_attempt_spans(
    traced: Traced, sim: SimServer
) -> None:
    sim.set_fault("gpt-4o", {"kind": "status", "status": 529})
    with _oai(traced.url) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt",
            messages=[{"role": "user", "content": "What is failover?"}],
            max_tokens=50,
            temperature=0.5,
        )
    answer = raw.parse()
    root, attempts = _tree(traced.spans(3))

    assert root.name == "chat gpt"
    assert [a.name for a in attempts] == ["chat gpt-4o", "chat gpt-4o-mini"]
    for attempt in attempts:
        assert attempt.parent is not None
        assert attempt.parent.span_id == root.context.span_id
        assert attempt.context.trace_id == root.context.trace_id

    first, second = (a.attributes for a in attempts)
    assert first["failsoft.attempt.outcome"] == "529"
    assert first["error.type"] == "529"
    assert first["failsoft.attempt.kind"] == "first"
    assert first["http.response.status_code"] == 529
    assert not attempts[0].status.is_ok
    assert second["failsoft.attempt.outcome"] == "200"
    assert second["failsoft.attempt.kind"] == "fallback"
    assert second["failsoft.attempt.number"] == 2
    assert second["gen_ai.response.model"] == "gpt-4o-mini"
    assert "error.type" not in second
    for attrs in (first, second):
        assert attrs["gen_ai.operation.name"] == "chat"
        assert attrs["gen_ai.provider.name"] == "openai"
        assert attrs["failsoft.provider"] == "openai"
        assert attrs["failsoft.breaker.state"] == "closed"
        assert attrs["server.address"] == "127.0.0.1"
        assert attrs["server.port"] == int(sim.url.rsplit(":", 1)[1])
    assert first["gen_ai.request.model"] == "gpt-4o"

    attrs = root.attributes
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == "gpt"
    assert attrs["failsoft.virtual_model"] == "gpt"
    assert attrs["gen_ai.request.max_tokens"] == 50
    assert attrs["gen_ai.request.temperature"] == 0.5
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.response.model"] == "gpt-4o-mini"
    assert attrs["gen_ai.usage.input_tokens"] == answer.usage.prompt_tokens
    assert attrs["gen_ai.usage.output_tokens"] == answer.usage.completion_tokens
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["http.response.status_code"] == 200
    assert attrs["failsoft.attempts"] == 2
    assert attrs["failsoft.trail"] == raw.headers["x-failsoft-trail"]
    assert attrs["failsoft.request_id"] == raw.headers["x-failsoft-request-id"]
    assert "error.type" not in attrs

    everything = repr([dict(s.attributes) for s in (root, *attempts)])
    assert PROVIDER_KEY not in everything
    assert CALLER_KEY not in everything
    assert "What is failover?" not in everything


def test_each_upstream_request_carries_its_attempt_span(traced: Traced, sim: SimServer) -> None:
    sim.set_fault("gpt-4o", {"kind": "status", "status": 503})
    with _oai(traced.url) as client:
        client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "hi"}])
    _, attempts = _tree(traced.spans(3))
    received = {r.model: _ids(r.headers.get("traceparent")) for r in sim.requests()}
    assert received == {
        "gpt-4o": _traceparent(attempts[0]),
        "gpt-4o-mini": _traceparent(attempts[1]),
    }


def test_a_callers_traceparent_is_continued(traced: Traced, sim: SimServer) -> None:
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    incoming = {"traceparent": f"00-{trace_id}-{parent_id}-01", "tracestate": "vendor=abc"}
    with _oai(traced.url, incoming) as client:
        client.chat.completions.create(
            model="gpt-one", messages=[{"role": "user", "content": "hi"}]
        )
    root, (attempt,) = _tree(traced.spans(2))
    assert f"{root.context.trace_id:032x}" == trace_id
    assert root.parent is not None and f"{root.parent.span_id:016x}" == parent_id
    assert root.parent.is_remote
    (record,) = sim.requests()
    assert _ids(record.headers["traceparent"]) == _traceparent(attempt)
    assert record.headers["traceparent"].split("-")[1] == trace_id
    assert record.headers["tracestate"] == "vendor=abc"


def test_an_unsampled_caller_trace_sends_unsampled_context_upstream(
    traced: Traced, sim: SimServer
) -> None:
    trace_id = secrets.token_hex(16)
    incoming = {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-00"}
    with _oai(traced.url, incoming) as client:
        client.chat.completions.create(
            model="gpt-one", messages=[{"role": "user", "content": "hi"}]
        )
    (record,) = sim.requests()
    assert record.headers["traceparent"].startswith(f"00-{trace_id}-")
    assert not int(record.headers["traceparent"].rpartition("-")[2], 16) & 1
    assert list(traced.exporter.get_finished_spans()) == []


def test_a_stream_attempt_span_lasts_the_stream(traced: Traced, sim: SimServer) -> None:
    with (
        anthropic.Anthropic(base_url=traced.url, api_key=CALLER_KEY, max_retries=0) as client,
        client.messages.stream(
            model="claude", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        ) as stream,
    ):
        message = stream.get_final_message()
    root, (attempt,) = _tree(traced.spans(2))
    assert root.name == "chat claude"
    assert attempt.name == "chat claude-opus-4-7"
    assert attempt.attributes["gen_ai.provider.name"] == "anthropic"
    assert attempt.attributes["failsoft.attempt.outcome"] == "200"
    assert root.attributes["failsoft.stream"] is True
    assert root.attributes["gen_ai.usage.output_tokens"] == message.usage.output_tokens
    assert root.attributes["gen_ai.response.finish_reasons"] == (message.stop_reason,)
    assert root.start_time <= attempt.start_time
    assert attempt.end_time is not None and root.end_time is not None


def test_a_broken_stream_marks_its_attempt(traced: Traced, sim: SimServer) -> None:
    sim.set_fault("gpt-4o", {"kind": "cut", "after": 3})
    with (
        _oai(traced.url) as client,
        pytest.raises(openai.APIError),
    ):
        for _ in client.chat.completions.create(
            model="gpt-one", messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            pass
    root, (attempt,) = _tree(traced.spans(2))
    assert attempt.attributes["failsoft.stream.broken"] is True
    assert attempt.attributes["error.type"] == attempt.attributes["failsoft.attempt.outcome"]
    assert not attempt.status.is_ok
    assert root.attributes["failsoft.stream.broken"] is True
    assert root.attributes["error.type"] == "stream_broken"


def test_every_target_failing_is_an_error_span(traced: Traced, sim: SimServer) -> None:
    sim.set_fault("gpt-4o", {"kind": "status", "status": 500})
    with _oai(traced.url) as client, pytest.raises(openai.APIStatusError):
        client.chat.completions.create(
            model="gpt-one", messages=[{"role": "user", "content": "hi"}]
        )
    root, (attempt,) = _tree(traced.spans(2))
    assert root.attributes["error.type"] == "503"
    assert root.attributes["http.response.status_code"] == 503
    assert not root.status.is_ok
    assert attempt.attributes["error.type"] == "500"


def test_a_cache_hit_has_no_attempt_and_says_so(
    make_traced: Callable[..., Traced], sim: SimServer
) -> None:
    traced = make_traced("cache: {ttl: 60}")
    question: Any = [{"role": "user", "content": f"cached {secrets.token_hex(4)}"}]
    with _oai(traced.url) as client:
        client.chat.completions.create(model="gpt-one", messages=question)
        traced.spans(2)
        traced.exporter.clear()
        raw = client.chat.completions.with_raw_response.create(model="gpt-one", messages=question)
    assert raw.headers["x-failsoft-cache"] == "HIT"
    (root,) = traced.spans(1)
    assert root.attributes["failsoft.cache"] == "HIT"
    assert root.attributes["failsoft.cache.served"] is True
    assert root.attributes["failsoft.degrade.rung"] == "targets"


def test_the_degradation_rung_and_a_skipped_target(
    make_traced: Callable[..., Traced], sim: SimServer
) -> None:
    traced = make_traced("breaker: {failures: 1}\ndegrade: {static: 'Try again soon.'}\n")
    sim.set_fault("gpt-4o", {"kind": "status", "status": 500})
    with _oai(traced.url) as client:
        client.chat.completions.create(model="gpt-one", messages=[{"role": "user", "content": "a"}])
        traced.spans(2)
        traced.exporter.clear()
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-one", messages=[{"role": "user", "content": "b"}]
        )
    assert raw.headers["x-failsoft-rung"] == "static"
    (root,) = traced.spans(1)  # the open breaker let no attempt through
    assert root.attributes["failsoft.degrade.rung"] == "static"
    assert root.attributes["http.response.status_code"] == 200
    (event,) = root.events
    assert event.name == "failsoft.target.skipped"
    assert event.attributes["failsoft.skip.reason"] == "open"
    assert event.attributes["gen_ai.request.model"] == "gpt-4o"


def test_a_race_at_the_first_token_limit_shows_both_attempts(
    traced: Traced, sim: SimServer
) -> None:
    sim.set_fault("gpt-4o", {"kind": "slow_first_token", "delay": 3})
    with (
        _oai(traced.url) as client,
        client.chat.completions.with_streaming_response.create(
            model="gpt", messages=[{"role": "user", "content": "hi"}], stream=True
        ) as raw,
    ):
        list(raw.parse())
        trail = raw.headers["x-failsoft-trail"]
    assert trail == "openai/gpt-4o:first_token_timeout,openai/gpt-4o-mini:200"
    root, (slow, fast) = _tree(traced.spans(3))
    assert slow.attributes["failsoft.attempt.outcome"] == "first_token_timeout"
    assert not slow.status.is_ok
    assert fast.attributes["failsoft.attempt.outcome"] == "200"
    assert fast.start_time < slow.end_time  # raced side by side
    assert root.attributes["failsoft.trail"] == trail


def test_the_gemini_surface_and_targets_of_other_dialects(
    make_traced: Callable[..., Traced], sim: SimServer
) -> None:
    traced = make_traced(config=translate_config(sim.url))
    body = {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "generationConfig": {"maxOutputTokens": 3, "temperature": 0.2},
    }
    response = request(traced.url + "/v1beta/models/via-gemini:generateContent", body=body)
    assert response.status == 200, response.body
    root, (attempt,) = _tree(traced.spans(2))
    assert root.name == "generate_content via-gemini"
    assert root.attributes["gen_ai.request.max_tokens"] == 3
    assert root.attributes["gen_ai.request.temperature"] == 0.2
    assert root.attributes["gen_ai.response.finish_reasons"] == ("MAX_TOKENS",)
    assert root.attributes["gen_ai.provider.name"] == "gcp.gemini"
    assert attempt.name == "generate_content gemini-2.5-flash"
    assert attempt.attributes["gen_ai.provider.name"] == "gcp.gemini"
    assert attempt.attributes["failsoft.translated"] is False

    traced.exporter.clear()
    response = request(traced.url + "/v1beta/models/via-anthropic:generateContent", body=body)
    assert response.status == 200, response.body
    root, (attempt,) = _tree(traced.spans(2))
    assert root.attributes["gen_ai.provider.name"] == "anthropic"
    assert attempt.name == "chat claude-opus-4-7"
    assert attempt.attributes["gen_ai.operation.name"] == "chat"
    assert attempt.attributes["failsoft.translated"] is True
    assert root.attributes["gen_ai.response.finish_reasons"] == ("MAX_TOKENS",)  # as sent
