"""Request bytes in flight are bounded (`server.max_inflight_bytes`), per process.

Issue 17: 32 MiB bodies × 4,096 requests in flight would be 128 GiB. Scaled down: with a
64 KiB budget, 40 KB of it held by a request still sending its body, a 30 KB body does not
fit: it is refused before it is read, with 503 (Anthropic: 529) and `Retry-After` in the
caller's dialect, and nothing reaches the upstream; the bytes of a request come back to the
budget when it ends, however it ends.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import anthropic
import openai
import pytest

from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.conftest import CALLER_KEY
from tests.helpers import chat, request

BUDGET = 64 * 1024
LIMITS = f"server: {{max_inflight_bytes: {BUDGET}, max_body_bytes: {48 * 1024}}}"
HELD = json.dumps(chat("gpt", "y" * 40_000)).encode()
BIG = "x" * 30_000
"""With HELD in flight, a body this large does not fit."""


@pytest.fixture
def gw(make_gateway: Callable[[str], GatewayThread]) -> GatewayThread:
    return make_gateway(LIMITS)


def _settled(gw: GatewayThread, held: int = 0) -> None:
    """Wait (bounded) until the gateway holds `held` request bytes."""
    deadline = time.monotonic() + 10
    while gw.app.bodies.held != held:
        assert time.monotonic() < deadline, gw.app.bodies.held
        time.sleep(0.01)


@contextmanager
def holding(gw: GatewayThread) -> Iterator[None]:
    """A request that declared HELD's length and is still sending it: its bytes are held."""
    host, port = gw.url.removeprefix("http://").split(":")
    slow = socket.create_connection((host, int(port)))
    try:
        slow.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n" % len(HELD) + HELD[:100]
        )
        _settled(gw, len(HELD))
        yield
    finally:
        slow.close()
    _settled(gw)


def test_a_body_beyond_the_budget_is_refused_in_each_dialect(
    gw: GatewayThread, sim: SimServer
) -> None:
    with (
        holding(gw),
        openai.OpenAI(base_url=gw.url + "/v1", api_key=CALLER_KEY, max_retries=0) as oai,
    ):
        with pytest.raises(openai.APIStatusError) as err:
            oai.chat.completions.create(
                model="gpt",
                messages=[{"role": "user", "content": BIG}],
            )
    assert err.value.status_code == 503
    assert err.value.response.headers["retry-after"] == "1"
    assert err.value.response.headers["x-should-retry"] == "true"
    assert "max_inflight_bytes" in err.value.message
    with (
        holding(gw),
        anthropic.Anthropic(base_url=gw.url, api_key=CALLER_KEY, max_retries=0) as ant,
    ):
        with pytest.raises(anthropic.APIStatusError) as aerr:
            ant.messages.create(
                model="claude",
                max_tokens=64,
                messages=[{"role": "user", "content": BIG}],
            )
    assert aerr.value.status_code == 529
    assert aerr.value.response.headers["retry-after"] == "1"
    assert aerr.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert sim.requests() == []  # refused before anything went upstream
    _settled(gw)


def test_bodies_held_by_requests_in_flight_count(gw: GatewayThread, sim: SimServer) -> None:
    """A request still sending its 40 KB body holds them: a second one does not fit until
    the first is gone; then it does."""
    with holding(gw):
        refused = request(gw.url + "/v1/chat/completions", body=HELD, headers=_json())
        assert refused.status == 503
        assert refused.headers["retry-after"] == "1"
        assert "max_inflight_bytes" in refused.json()["error"]["message"]
    answered = request(gw.url + "/v1/chat/completions", body=HELD, headers=_json())
    assert answered.status == 200, answered.body
    _settled(gw)


def test_a_chunked_body_is_refused_when_it_outgrows_the_budget(
    gw: GatewayThread, sim: SimServer
) -> None:
    body = json.dumps(chat("gpt", BIG)).encode()
    host, port = gw.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    with holding(gw):
        try:
            pieces = (body[i : i + 8192] for i in range(0, len(body), 8192))
            conn.request(
                "POST", "/v1/chat/completions", body=pieces, headers=_json(), encode_chunked=True
            )
            resp = conn.getresponse()
            assert resp.status == 503
            assert resp.getheader("retry-after") == "1"
            resp.read()
        finally:
            conn.close()
    assert sim.requests() == []
    _settled(gw)


def test_small_bodies_pass_and_leave_nothing_held(gw: GatewayThread, sim: SimServer) -> None:
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=CALLER_KEY, max_retries=0) as oai:
        for _ in range(3):
            answer = oai.chat.completions.create(
                model="gpt", messages=[{"role": "user", "content": "hello"}]
            )
            assert answer.choices[0].message.content
    _settled(gw)


def _json() -> dict[str, str]:
    return {"content-type": "application/json", "authorization": f"Bearer {CALLER_KEY}"}


def test_metrics_show_the_bytes_held_and_the_refusals(gw: GatewayThread, sim: SimServer) -> None:
    with holding(gw):
        refused = request(gw.url + "/v1/chat/completions", body=chat("gpt", BIG), headers=_json())
        assert refused.status == 503
    text = request(gw.url + "/metrics", method="GET").body.decode()
    assert "failsoft_inflight_request_bytes 0.0" in text
    assert "failsoft_inflight_bytes_refused_total 1.0" in text


def test_a_body_above_max_body_bytes_is_still_a_413(gw: GatewayThread, sim: SimServer) -> None:
    """Refused unread for its size, not for the budget: asking again cannot help."""
    too_big = json.dumps(chat("gpt", "z" * 50_000)).encode()
    refused = request(gw.url + "/v1/chat/completions", body=too_big, headers=_json())
    assert refused.status == 413
    _settled(gw)
