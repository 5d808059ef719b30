"""A caller that goes away stops the upstream work at once (no tokens paid for nobody)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable

import pytest

from failsoft.events import RequestFinished
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.server.test_admin import ADMIN, TOKEN

BODY = b'{"model":"gpt","stream":true,"messages":[{"role":"user","content":"long please"}]}'


def _open_stream(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
    )
    return sock


def _wait(event: threading.Event, timeout: float) -> bool:
    return event.wait(timeout)


def test_client_disconnect_mid_stream_closes_upstream(
    gateway: GatewayThread, sim: SimServer
) -> None:
    # A 10-second answer: 200 words, 50 ms apart.
    sim.set_model("gpt-4o", chunk_delay=0.05, answer_words=200)
    finished = threading.Event()
    seen: list[RequestFinished] = []

    def on_finished(event: RequestFinished) -> None:
        seen.append(event)
        finished.set()

    unsubscribe = gateway.runtime.hub.subscribe(RequestFinished, on_finished)
    try:
        sock = _open_stream(gateway.port)
        assert b"200 OK" in sock.recv(65536)  # headers (and the first events) arrived
        started = time.monotonic()
        sock.close()
        assert _wait(finished, 3.0), "the relay kept running after the caller left"
        assert time.monotonic() - started < 3.0
        assert seen[0].stream
        assert seen[0].duration < 5.0
    finally:
        unsubscribe()
        sim.set_model("gpt-4o", chunk_delay=0.0, answer_words=12)


def test_client_disconnect_while_waiting_cancels_the_attempt(
    gateway: GatewayThread, sim: SimServer
) -> None:
    sim.set_fault("gpt-4o", {"kind": "slow_headers", "delay": 0.4})
    finished = threading.Event()
    unsubscribe = gateway.runtime.hub.subscribe(RequestFinished, lambda _: finished.set())
    try:
        sock = _open_stream(gateway.port)
        time.sleep(0.05)
        sock.close()
        assert _wait(finished, 3.0)
    finally:
        unsubscribe()
    # The gateway is still fine afterwards.
    from tests.helpers import chat, request

    assert request(gateway.url + "/v1/chat/completions", body=chat("gpt-one")).status == 200


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/admin/incidents", f"authorization: Bearer {TOKEN}\r\n"),
        ("/v1/messages/count_tokens", ""),
        ("/v1beta/models/gpt:countTokens", ""),
    ],
)
def test_a_caller_gone_mid_body_leaves_no_traceback(
    make_gateway: Callable[..., GatewayThread],
    caplog: pytest.LogCaptureFixture,
    path: str,
    headers: str,
) -> None:
    """A caller that closes its side with the body half sent: nothing to answer, nothing
    logged as an error (it was `Exception in ASGI application` and a traceback)."""
    caplog.set_level(logging.INFO, logger="failsoft.access")
    gw = make_gateway(ADMIN)
    head = (
        f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n{headers}"
        "content-length: 1000\r\n\r\n{"
    )
    with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as sock:
        sock.sendall(head.encode())
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(1) == b""  # closed without an answer: the caller is gone anyway
    deadline = time.monotonic() + 5
    while not any(path in r.getMessage() for r in caplog.records if r.name == "failsoft.access"):
        assert time.monotonic() < deadline, [(r.name, r.getMessage()[:200]) for r in caplog.records]
        time.sleep(0.02)
    assert not [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
