"""failsoft's HTTP/1.1 connection (server/protocol.py, server/cycle.py) against a small ASGI
app served by uvicorn's server on 127.0.0.1, spoken to over raw sockets: the HTTP and ASGI
semantics the gateway relies on, whatever app runs on top."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from failsoft.logjson import TRACE_IDS
from failsoft.server.cycle import HIGH_WATER, Cycle
from failsoft.server.drain import transport_of
from failsoft.server.protocol import HttpProtocol

Scope = dict[str, Any]


class App:
    """Routes by path; what it saw is kept for the tests to read."""

    def __init__(self) -> None:
        self.gone = threading.Event()
        self.held: list[int] = []
        self.buffered: list[int] = []

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        path = scope["path"]
        if path == "/fail":
            raise RuntimeError("the app failed")
        if path == "/stream":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for part in (b"one ", b"two ", b"three"):
                await send({"type": "http.response.body", "body": part, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        if path == "/until-gone":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"first", "more_body": True})
            while (await receive())["type"] != "http.disconnect":
                pass
            self.gone.set()
            return
        if path == "/traced":
            seen = TRACE_IDS.get()
            TRACE_IDS.set(("trace", "span"))
            answer = repr(seen).encode()
            headers = [(b"content-length", b"%d" % len(answer))]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": answer})
            return
        if path == "/big":
            await self._big(send)
            return
        if path == "/hold":
            await self._hold(receive)
        body, messages = await _body(receive)
        answer = b"%s %s %d %s" % (
            scope["method"].encode(),
            scope["raw_path"],
            messages,
            hashlib.sha256(body).hexdigest().encode(),
        )
        headers = [(b"content-length", b"%d" % len(answer)), (b"x-query", scope["query_string"])]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    async def _big(self, send: Any) -> None:
        """64 MiB to a client that does not read at first: `send` must wait for it."""
        transport = transport_of(send)
        assert transport is not None
        await send({"type": "http.response.start", "status": 200, "headers": []})
        chunk = b"x" * 262144
        for _ in range(256):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            self.buffered.append(transport.get_write_buffer_size())
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _hold(self, receive: Any) -> None:
        """Take nothing of the body until the connection stops reading the socket."""
        cycle: Cycle = receive.__self__
        deadline = time.monotonic() + 10
        while not cycle.conn.read_paused and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        self.held.append(len(cycle.body))


async def _body(receive: Any) -> tuple[bytes, int]:
    parts = []
    messages = 0
    while True:
        message = await receive()
        assert message["type"] == "http.request"
        messages += 1
        parts.append(message["body"])
        if not message["more_body"]:
            return b"".join(parts), messages


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


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def read_response(sock: socket.socket, buffered: bytes = b"") -> tuple[bytes, bytes, bytes]:
    """One response (content-length, chunked, or until close): its head, its body and what
    followed it."""
    data = buffered
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a head: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = {
        line.split(b":", 1)[0].lower(): line.split(b":", 1)[1].strip()
        for line in head.split(b"\r\n")[1:]
    }
    if b"content-length" in lines:
        length = int(lines[b"content-length"])
        while len(rest) < length:
            rest += sock.recv(65536)
        return head, rest[:length], rest[length:]
    if lines.get(b"transfer-encoding") == b"chunked":
        body = b""
        while True:
            while b"\r\n" not in rest:
                rest += sock.recv(65536)
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line, 16)
            while len(rest) < size + 2:
                rest += sock.recv(65536)
            body, rest = body + rest[:size], rest[size + 2 :]
            if size == 0:
                return head, body, rest
    return head, rest + until_closed(sock), b""


def until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def status(head: bytes) -> int:
    return int(head.split(b" ", 2)[1])


def digest(body: bytes) -> bytes:
    return hashlib.sha256(body).hexdigest().encode()


def test_keep_alive_serves_several_requests_on_one_connection(port: int) -> None:
    with connect(port) as sock:
        for i in range(3):
            sock.sendall(b"GET /echo?n=%d HTTP/1.1\r\nhost: x\r\n\r\n" % i)
            head, body, rest = read_response(sock)
            assert status(head) == 200
            assert b"x-query: n=%d" % i in head
            assert body == b"GET /echo 1 " + digest(b"")
            assert rest == b""


def test_pipelined_requests_are_answered_in_order(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(
            b"POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nabc"
            b"GET /stream HTTP/1.1\r\nhost: x\r\n\r\n"
            b"POST /c HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\n\r\nde"
        )
        head, body, rest = read_response(sock)
        assert body == b"POST /a 1 " + digest(b"abc")
        head, body, rest = read_response(sock, rest)
        assert b"transfer-encoding: chunked" in head
        assert body == b"one two three"
        head, body, rest = read_response(sock, rest)
        assert body == b"POST /c 1 " + digest(b"de")
        assert b"connection: close" in head
        assert rest + until_closed(sock) == b""


def test_a_chunked_request_body_arrives_whole(port: int) -> None:
    parts = [b"hello ", b"chunked ", b"world" * 1000]
    wire = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
    with connect(port) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n")
        sock.sendall(wire[:10])
        sock.sendall(wire[10:])
        head, body, _ = read_response(sock)
    assert status(head) == 200
    assert body.endswith(digest(b"".join(parts)))


def test_expect_100_continue(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\nexpect: 100-continue\r\n\r\n"
        )
        interim = b""
        while b"\r\n\r\n" not in interim:
            interim += sock.recv(65536)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"hello")
        head, body, _ = read_response(sock)
    assert status(head) == 200
    assert body.endswith(digest(b"hello"))


def test_http_1_0_is_answered_and_closed(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(b"GET /echo HTTP/1.0\r\n\r\n")
        data = until_closed(sock)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"connection: close\r\n" in data


def test_head_has_no_body_and_the_connection_goes_on(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(b"HEAD /stream HTTP/1.1\r\nhost: x\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        assert data.endswith(b"\r\n\r\n") and b"transfer-encoding" not in data
        sock.sendall(b"GET /echo HTTP/1.1\r\nhost: x\r\n\r\n")
        head, body, _ = read_response(sock)
    assert status(head) == 200 and body.startswith(b"GET /echo")


def test_a_malformed_request_gets_400_and_close(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        data = until_closed(sock)
    assert data.startswith(b"HTTP/1.1 400 ")
    assert data.endswith(b"Invalid HTTP request received.")


def test_an_app_failing_before_its_response_gets_500_and_close(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(b"GET /fail HTTP/1.1\r\nhost: x\r\n\r\n")
        data = until_closed(sock)
    assert data.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert b"connection: close\r\n" in data
    assert data.endswith(b"\r\n\r\nInternal Server Error")


def test_a_client_gone_mid_stream_is_seen_by_receive(port: int, app: App) -> None:
    with connect(port) as sock:
        sock.sendall(b"GET /until-gone HTTP/1.1\r\nhost: x\r\n\r\n")
        data = b""
        while b"first" not in data:
            data += sock.recv(65536)
    assert app.gone.wait(10), "receive() did not report the disconnect"


def test_send_waits_for_a_client_that_does_not_read(port: int, app: App) -> None:
    with connect(port) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(b"GET /big HTTP/1.1\r\nhost: x\r\n\r\n")
        deadline = time.monotonic() + 10
        while not any(app.buffered):  # the kernel's buffers are full: the server's fills
            assert time.monotonic() < deadline
            time.sleep(0.01)
        _, body, _ = read_response(sock)
    assert len(body) == 256 * 262144
    # Without flow control the app would have queued most of the 64 MiB in the transport.
    assert max(app.buffered) <= 2 * 1024 * 1024


def test_reading_pauses_while_the_app_does_not_take_the_body(port: int, app: App) -> None:
    body = bytes(range(256)) * 32768  # 8 MiB
    with connect(port) as sock:
        sender = threading.Thread(
            target=sock.sendall,
            args=(
                b"POST /hold HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n" % len(body) + body,
            ),
        )
        sender.start()
        head, answer, _ = read_response(sock)
        sender.join(10)
    assert status(head) == 200
    assert answer.endswith(digest(body))
    assert app.held and app.held[0] <= HIGH_WATER + 262144


def test_a_request_does_not_see_the_trace_ids_of_the_one_before(port: int) -> None:
    """Requests on one connection share its task: what one sets in the log's context must
    not tag the next one's lines."""
    with connect(port) as sock:
        for _ in range(2):
            sock.sendall(b"GET /traced HTTP/1.1\r\nhost: x\r\n\r\n")
            _, body, _ = read_response(sock)
            assert body == b"None"
