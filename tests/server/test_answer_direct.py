"""A whole answer written at once (server/direct.py's `answer`, `Cycle.answer`) puts the same
bytes on the wire, leaves the connection in the same state and writes the same access line as
its two ASGI messages sent through the request's `Flight` and `Exchange`: compared over raw
sockets against failsoft's own HTTP protocol, one request written each way."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from failsoft.config.log import LogConfig
from failsoft.logfmt import parse
from failsoft.readiness import Readiness
from failsoft.server.access import AccessLog
from failsoft.server.asgi import send_bytes
from failsoft.server.direct import running_task, whole_answer
from failsoft.server.drain import Drain
from failsoft.server.protocol import HttpProtocol
from failsoft.server.refusals import RefusalLog

BODY = b'{"id":"chatcmpl-1","usage":{"prompt_tokens":9,"completion_tokens":12}}'
RID = b"fs_0123456789abcdef01234567"


def _headers(path: str) -> list[tuple[bytes, bytes]]:
    base = [
        (b"x-failsoft-attempts", b"1"),
        (b"x-failsoft-trail", b"sim/gpt-4o:ok"),
        (b"x-failsoft-request-id", RID),
        (b"x-failsoft-provider", b"sim"),
        (b"x-failsoft-model", b"gpt-4o"),
        (b"content-type", b"application/json"),
        (b"X-Other", b"kept as given"),
    ]
    if path == "/chunked":
        return [*base, (b"transfer-encoding", b"chunked")]
    if path == "/short":
        return [*base, (b"content-length", b"%d" % (len(BODY) + 5))]
    if path == "/long":
        return [*base, (b"content-length", b"%d" % (len(BODY) - 5))]
    if path == "/closing":
        base.append((b"connection", b"close"))
    return base


class App:
    """Answers every request with `BODY`, written at once (`?direct`) or as two messages
    (`send_bytes`), through a `Flight` (as the chat endpoints do) and the request's
    `Exchange`. Both append the content-length (a second one where `_headers` gave one)."""

    def __init__(self) -> None:
        self.access = AccessLog(LogConfig(), RefusalLog())
        self.drain = Drain(Readiness(), 30.0, 5.0)
        self.direct: list[bool] = []
        self.tasks: list[bool] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        exchange = self.access.begin(scope, send)
        self.tasks.append(running_task(receive) is asyncio.current_task())
        try:
            while (await receive()).get("more_body"):
                pass
            flight = self.drain.enter(exchange, "rid")
            try:
                headers = _headers(scope["path"])
                if scope["query_string"] == b"direct":
                    self.direct.append(whole_answer(flight.send, 200, headers, BODY))
                    if self.direct[-1]:
                        return
                await send_bytes(flight.send, 200, headers, BODY)
            finally:
                self.drain.leave(flight)
        finally:
            exchange.finish()


@pytest.fixture
def app() -> App:
    return App()


@pytest.fixture
def port(app: App) -> Iterator[int]:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app, http=HttpProtocol, ws="none", lifespan="off", log_config=None, loop="uvloop"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    yield sock.getsockname()[1]
    server.should_exit = True
    thread.join(10)
    sock.close()


def _exchange(port: int, request: bytes, then: bytes) -> tuple[bytes, bytes]:
    """What the server writes for `request` until it closes or has answered `then` too
    (a second request on the same connection: it was kept alive or not)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        sock.settimeout(10)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data, b"closed"
            data += chunk
            if data.count(b"HTTP/1.1 200") == 1 and data.endswith((BODY, b"0\r\n\r\n")):
                break
        second = b""
        try:
            sock.sendall(then)
            while not second.endswith((BODY, b"0\r\n\r\n")):
                chunk = sock.recv(65536)
                if not chunk:
                    return data, b"closed after " + second
                second += chunk
        except (ConnectionResetError, BrokenPipeError):
            return data, b"closed after " + second
        return data, second


def _lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, str]]:
    lines = [parse(r.getMessage()) for r in caplog.records if r.name == "failsoft.access"]
    for fields in lines:
        fields.pop("ms")
    return lines


@pytest.mark.parametrize(
    ("method", "path", "version"),
    [
        ("POST", "/plain", "1.1"),
        ("GET", "/plain", "1.1"),
        ("HEAD", "/plain", "1.1"),
        ("POST", "/plain", "1.0"),
        ("POST", "/closing", "1.1"),
        ("POST", "/chunked", "1.1"),
        ("POST", "/short", "1.1"),
        ("POST", "/long", "1.1"),
    ],
)
def test_an_answer_written_at_once_is_the_two_messages(
    port: int, app: App, caplog: pytest.LogCaptureFixture, method: str, path: str, version: str
) -> None:
    caplog.set_level(logging.INFO, logger="failsoft.access")
    seen = {}
    for query in ("", "?direct"):
        body = b"" if method in ("GET", "HEAD") else b'{"model": "m"}'
        head = f"{method} {path}{query} HTTP/{version}\r\nhost: x\r\n".encode()
        length = b"content-length: %d\r\n" % len(body) if body else b""
        request = head + length + b"\r\n" + body
        caplog.clear()
        then = b"GET /plain HTTP/1.1\r\nhost: x\r\n\r\n"
        seen[query] = (_exchange(port, request, then), _lines(caplog))
    # A length the body does not fill (or overflows) raises where `send` would.
    assert app.direct == ([] if path in ("/short", "/long") else [True])
    assert seen[""] == seen["?direct"]
    assert app.tasks and all(app.tasks)  # found through the connection, the same task


def test_another_servers_send_takes_the_messages(app: App) -> None:
    """A `send` that is not failsoft's own connection's: nothing written, the caller sends."""

    async def other_send(message: Any) -> None:
        pass

    assert whole_answer(other_send, 200, [], b"") is False


def test_the_running_task_of_another_servers_receive() -> None:
    """Not failsoft's own connection: asked of asyncio, the same task."""

    async def other_receive() -> dict[str, Any]:
        return {}

    async def main() -> bool:
        return running_task(other_receive) is asyncio.current_task()

    assert asyncio.run(main()) is True
