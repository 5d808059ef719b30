"""Hypothesis against a running gateway (`failsoft serve`, the simulator upstream) on every
surface: whatever a caller sends, it gets a complete HTTP response; no 5xx unless an upstream
was tried (and the simulator answers 200, so only the trail can explain one); nothing in the
log at ERROR level, no traceback; memory at most twice the idle size afterwards."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.bodies import JSON, SHAPES, body, content_type, encoded, headers, text
from tests.fuzz.conftest import ADMIN_TOKEN, FUZZ, MODELS, Gateway
from tests.fuzz.wire import Answer, exchange

CHAT = {
    "openai": ["/v1/chat/completions", "/chat/completions"],
    "anthropic": ["/v1/messages", "/v1/messages/count_tokens"],
    "responses": ["/v1/responses", "/responses"],
}

pytestmark = pytest.mark.fuzz


def answered(got: Answer) -> None:
    """The response's own properties: a 5xx only after an upstream attempt, as its trail
    says (`x-failsoft-attempts` ≥ 1 and a trail), and no internal error anywhere."""
    if got.status >= 500:
        attempts = got.headers.get("x-failsoft-attempts", "0")
        assert int(attempts) >= 1 and got.headers.get("x-failsoft-trail"), (
            got.status, got.headers, got.body[:500],
        )  # fmt: skip
    assert b"internal error" not in got.body, got.body[:500]


@FUZZ
@given(st.sampled_from(["openai", "anthropic", "responses"]), st.data())
def test_chat_bodies(fuzz_gateway: Gateway, dialect: str, data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(CHAT[dialect]))
    raw = data.draw(body(dialect))
    answered(exchange(fuzz_gateway.port, "POST", path, JSON, raw))
    fuzz_gateway.assert_clean_log()


SURFACES = {
    "openai": "/v1/chat/completions",
    "anthropic": "/v1/messages",
    "responses": "/v1/responses",
}


@FUZZ
@given(st.sampled_from([*SURFACES, "gemini"]), st.booleans(), st.sampled_from(MODELS), st.data())
def test_well_formed_requests(
    fuzz_gateway: Gateway, dialect: str, stream: bool, model: str, data: st.DataObject
) -> None:
    """Requests each API takes (any text, tools, parts, stream on and off), routed to every
    target dialect: translated both ways, streamed and not."""
    payload = data.draw(SHAPES[dialect](False))
    if dialect == "gemini":
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        path = f"/v1beta/models/{model}:{method}"
    else:
        payload.update(model=model, stream=stream)
        path = SURFACES[dialect]
    got = exchange(fuzz_gateway.port, "POST", path, JSON, encoded(payload))
    answered(got)
    fuzz_gateway.assert_clean_log()


@FUZZ
@given(
    st.one_of(st.sampled_from(MODELS), text.map(lambda s: quote(s[:300], safe=""))),
    st.sampled_from(
        [
            "generateContent",
            "streamGenerateContent?alt=sse",
            "streamGenerateContent",
            "countTokens",
            "bogus",
        ]
    ),
    body("gemini"),
)
def test_gemini_bodies(fuzz_gateway: Gateway, model: str, method: str, raw: bytes) -> None:
    path = f"/v1beta/models/{model}:{method}"
    answered(exchange(fuzz_gateway.port, "POST", path, JSON, raw))
    fuzz_gateway.assert_clean_log()


@FUZZ
@given(
    st.sampled_from(
        [
            "/v1/chat/completions",
            "/v1/messages",
            "/v1/responses",
            "/v1beta/models/gem:generateContent",
        ]
    ),
    content_type,
    headers,
    st.sampled_from(
        [
            b'{"model":"gpt","messages":[{"role":"user","content":"hi"}]}',
            b'{"model":"claude","max_tokens":9,"messages":[{"role":"user","content":"hi"}],"stream":true}',
            b'{"model":"to-gemini","input":"hi"}',
            b'{"contents":[{"parts":[{"text":"hi"}]}]}',
            b"\x00{",
        ]
    ),
)
def test_headers(
    fuzz_gateway: Gateway, path: str, ctype: bytes, extra: list[tuple[bytes, bytes]], raw: bytes
) -> None:
    got = exchange(fuzz_gateway.port, "POST", path, [(b"content-type", ctype), *extra], raw)
    answered(got)
    fuzz_gateway.assert_clean_log()


ROUTES = ["/v1/models", "/models", "/v1beta/models", "/healthz", "/readyz", "/status",
          "/status/api/v2/summary.json", "/status/api/v2/components.json", "/metrics",
          "/admin/health", "/admin/breakers", "/admin/incidents", "/admin/usage",
          "/admin/keys", "/admin/dead-letters", "/admin/reload", "/v1/responses/resp_x",
          "/v1/responses/", "/", "/v1/nope"]  # fmt: skip


@FUZZ
@given(
    st.sampled_from(ROUTES),
    st.sampled_from(["GET", "POST", "DELETE", "HEAD", "PUT", "OPTIONS"]),
    st.one_of(st.just(""), text.map(lambda s: "?" + quote(s[:200], safe="=&"))),
    st.sampled_from([b"", b"Bearer " + ADMIN_TOKEN.encode(), b"Bearer wrong", b"Basic x"]),
    headers,
    st.one_of(st.none(), body("openai")),
)
def test_other_routes(
    fuzz_gateway: Gateway,
    route: str,
    method: str,
    query: str,
    auth: bytes,
    extra: list[tuple[bytes, bytes]],
    raw: bytes | None,
) -> None:
    sent = [*extra, (b"authorization", auth)] if auth else extra
    if method == "POST" and route == "/admin/reload":
        method = "GET"  # a reload on the fuzzed gateway would test the reloader, not input
    got = exchange(fuzz_gateway.port, method, route + query, sent, raw)
    answered(got)
    fuzz_gateway.assert_clean_log()


def test_memory_stays_bounded(fuzz_gateway: Gateway) -> None:
    """Last (file order): after every property above, RSS at most twice the idle size."""
    fuzz_gateway.assert_clean_log()
    assert fuzz_gateway.rss() <= 2 * fuzz_gateway.idle_rss, (
        fuzz_gateway.rss(),
        fuzz_gateway.idle_rss,
    )
