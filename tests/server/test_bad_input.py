"""Malformed input gets a clear 4xx in the caller's dialect, and the server keeps serving."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

import pytest

from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.helpers import anthropic_chat, chat, request

OPENAI = "/v1/chat/completions"
ANTHROPIC = "/v1/messages"
JSON = {"content-type": "application/json"}
ANT = {**JSON, "anthropic-version": "2023-06-01", "x-api-key": "k"}


def _openai_error(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status, resp.body
    body = resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert resp.headers["x-should-retry"] == "false"
    return body["error"]  # type: ignore[no-any-return]


def _anthropic_error(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status, resp.body
    body = resp.json()
    assert body["type"] == "error"
    assert body["request_id"].startswith("fs_")
    assert resp.headers["request-id"] == body["request_id"]
    return body["error"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("body", "said", "param"),
    [
        (b'{"model": "gpt", "messages": [', "not valid JSON", None),
        (b"[1, 2]", "must be a JSON object", None),
        (b'{"messages": []}', "'model' is required", "model"),
        (b'{"model": 5, "messages": []}', "'model' is required", "model"),
        (b'{"model": "gpt"}', "'messages' is required", "messages"),
        (b'{"model": "gpt", "messages": {}}', "'messages' is required", "messages"),
        (b'{"model": "gpt", "messages": [], "stream": "yes"}', "'stream' must be", "stream"),
        (b"", "not valid JSON", None),
    ],
    ids=[
        "truncated",
        "array",
        "no-model",
        "model-int",
        "no-messages",
        "messages-obj",
        "stream-str",
        "empty",
    ],
)
def test_invalid_body(gateway: GatewayThread, body: bytes, said: str, param: str | None) -> None:
    err = _openai_error(request(gateway.url + OPENAI, body=body, headers=JSON), 400)
    assert err["type"] == "invalid_request_error"
    assert said in err["message"]
    assert err["param"] == param
    err = _anthropic_error(request(gateway.url + ANTHROPIC, body=body, headers=ANT), 400)
    assert err["type"] == "invalid_request_error"
    assert said in err["message"]


def test_unknown_model(gateway: GatewayThread) -> None:
    err = _openai_error(request(gateway.url + OPENAI, body=chat("nope")), 404)
    assert err["code"] == "model_not_found"
    assert "'nope'" in err["message"]
    err = _anthropic_error(
        request(gateway.url + ANTHROPIC, body=anthropic_chat("nope"), headers=ANT), 404
    )
    assert err["type"] == "not_found_error"
    err = _openai_error(request(gateway.url + OPENAI, body=chat("unknownprovider/x")), 404)
    assert err["code"] == "model_not_found"


def test_wrong_content_type(gateway: GatewayThread) -> None:
    resp = request(gateway.url + OPENAI, body=b"model=gpt", headers={"content-type": "text/plain"})
    err = _openai_error(resp, 415)
    assert "application/json" in err["message"]
    headers = {**ANT, "content-type": "application/x-www-form-urlencoded"}
    _anthropic_error(request(gateway.url + ANTHROPIC, body=b"a=b", headers=headers), 415)


def test_json_content_type_with_charset_is_fine(gateway: GatewayThread, sim: SimServer) -> None:
    headers = {"content-type": "application/json; charset=utf-8"}
    resp = request(
        gateway.url + OPENAI,
        body=b'{"model":"gpt","messages":[{"role":"user","content":"x"}]}',
        headers=headers,
    )
    assert resp.status == 200


def test_oversized_body(make_gateway: Callable[..., GatewayThread], sim: SimServer) -> None:
    gw = make_gateway("server: {max_body_bytes: 2000}")
    big = chat("gpt", "x" * 5000)
    err = _openai_error(request(gw.url + OPENAI, body=big), 413)
    assert "exceeds this gateway's limit of 2000 bytes" in err["message"]
    err = _anthropic_error(
        request(gw.url + ANTHROPIC, body=anthropic_chat("claude", "x" * 5000), headers=ANT), 413
    )
    assert err["type"] == "request_too_large"

    # Chunked bodies (no content-length) are limited while they stream in.
    def chunks() -> Any:
        for _ in range(10):
            yield b" " * 1000

    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=5)
    conn.request(
        "POST",
        OPENAI,
        body=chunks(),
        headers={**JSON, "transfer-encoding": "chunked"},
        encode_chunked=True,
    )
    resp = conn.getresponse()
    assert resp.status == 413
    conn.close()
    assert sim.attempts("gpt-4o") == 0


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", OPENAI, 405),
        ("PUT", ANTHROPIC, 405),
        ("POST", "/v1/models", 405),
        ("GET", "/v2/nothing", 404),
        ("POST", "/v1/completions", 404),
    ],
)
def test_wrong_route(gateway: GatewayThread, method: str, path: str, status: int) -> None:
    resp = request(gateway.url + path, method=method, body=b"{}" if method != "GET" else None)
    assert resp.status == status
    assert "error" in resp.json()


@pytest.mark.parametrize("value", ["abc", "-1", "0", "inf", "nan"])
def test_bad_deadline_header(gateway: GatewayThread, value: str) -> None:
    resp = request(
        gateway.url + OPENAI, body=chat("gpt"), headers={**JSON, "x-failsoft-timeout": value}
    )
    err = _openai_error(resp, 400)
    assert "x-failsoft-timeout" in err["message"]


def test_server_keeps_serving_after_garbage(gateway: GatewayThread, sim: SimServer) -> None:
    import socket

    for junk in (
        b"\x00\xff\x13garbage\r\n\r\n",
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
    ):
        with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as s:
            s.sendall(junk)
            s.settimeout(2)
            with contextlib.suppress(TimeoutError, ConnectionResetError):
                s.recv(1024)
    assert request(gateway.url + "/healthz", method="GET").status == 200
    assert request(gateway.url + OPENAI, body=chat("gpt")).status == 200


def test_client_leaving_mid_body_is_not_an_error(
    gateway: GatewayThread, caplog: pytest.LogCaptureFixture
) -> None:
    import socket

    caplog.set_level("INFO")
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
        b'transfer-encoding: chunked\r\n\r\n5\r\n{"mod\r\n'
    )
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as s:
        s.sendall(head)
        time.sleep(0.1)
    time.sleep(0.2)
    assert "Exception in ASGI application" not in caplog.text
    assert "internal error" not in caplog.text
    assert request(gateway.url + "/healthz", method="GET").status == 200
