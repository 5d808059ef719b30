"""The proxied path's HTTP/1.1 client against servers scripted byte by byte: keep-alive
reuse only after a clean end, every body framing, a stale connection sent again, clean
cancellation, the read buffer's bound, and failsoft's errors."""

from __future__ import annotations

import asyncio
from types import MappingProxyType

import pytest

from failsoft.errors import BadResponse, ConnectError, ConnectionLost
from failsoft.transport import Pool, Transport
from failsoft.transport.h1 import READ_BUFSIZE, READ_CHUNK
from tests.transport.conftest import current_client, only_native
from tests.transport.scripted import Peer, answer, keep_answering, serve, until

HEADERS = {"authorization": "Bearer k", "content-type": "application/json"}
BODY = b'{"model": "m"}'


async def post(transport: Transport, url: str, pool: Pool | None = None) -> tuple[int, bytes]:
    upstream = await transport.post(
        url + "/v1/chat/completions?x=1", HEADERS, BODY, connect_timeout=5, pool=pool
    )
    body = await upstream.read()
    upstream.finish()
    return upstream.status, body


async def test_the_request_on_the_wire_is_what_aiohttp_sent() -> None:
    """Host, the given headers, Accept and Content-Length; no User-Agent, no Accept-Encoding."""
    requests: list[bytes] = []
    async with serve(keep_answering(requests)) as server, Transport() as transport:
        assert await post(transport, server.url) == (200, b'{"ok": true}')
        upstream = await transport.post(server.url + "/v1", {}, b"", connect_timeout=5)
        upstream.finish()
    port = server.url.rsplit(":", 1)[1]
    head, _, body = requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v1/chat/completions?x=1 HTTP/1.1"
    assert lines[1] == b"Host: 127.0.0.1:" + port.encode()
    fields = {line.split(b": ")[0].lower(): line.split(b": ", 1)[1] for line in lines[1:]}
    assert fields[b"authorization"] == b"Bearer k"
    assert fields[b"content-type"] == b"application/json"
    assert fields[b"accept"] == b"*/*"
    assert fields[b"content-length"] == str(len(BODY)).encode()
    assert b"user-agent" not in fields and b"accept-encoding" not in fields
    assert body == BODY
    assert b"Content-Type: application/octet-stream" in requests[1]  # as aiohttp's default


async def test_a_read_only_header_mapping_writes_the_same_request_every_time() -> None:
    """A provider's headers (a read-only mapping) have their head written once per route:
    every request is byte for byte what a fresh head gives, whatever its body's length;
    a plain dict changed between requests is sent as it is now."""
    requests: list[bytes] = []
    fixed = MappingProxyType(dict(HEADERS))
    changing = dict(HEADERS)
    async with serve(keep_answering(requests)) as server, Transport() as transport:
        url = server.url + "/v1/chat/completions"
        for body in (BODY, b'{"model": "a much longer name"}', BODY):
            upstream = await transport.post(url, fixed, body, connect_timeout=5)
            upstream.finish()
        fresh = await transport.post(url, dict(HEADERS), BODY, connect_timeout=5)
        fresh.finish()
        for value in ("Bearer one", "Bearer two"):
            changing["authorization"] = value
            upstream = await transport.post(url, changing, BODY, connect_timeout=5)
            upstream.finish()
    assert requests[0] == requests[2] == requests[3]
    head, _, body = requests[1].partition(b"\r\n\r\n")
    assert body == b'{"model": "a much longer name"}'
    assert head == requests[0].partition(b"\r\n\r\n")[0].replace(
        b"Content-Length: %d" % len(BODY), b"Content-Length: %d" % len(body)
    )
    assert b"authorization: Bearer one\r\n" in requests[4]
    assert b"authorization: Bearer two\r\n" in requests[5]


async def test_a_line_break_in_a_header_is_refused_not_sent() -> None:
    """No header can smuggle a line of its own into the request, remembered head or not."""
    only_native("aiohttp refuses these with its own error")
    requests: list[bytes] = []
    async with serve(keep_answering(requests)) as server, Transport() as transport:
        for headers in ({"x-a": "1\r\nx-b: 2"}, MappingProxyType({"x-a\n": "1"})):
            with pytest.raises(ValueError, match="newline or carriage return"):
                await transport.post(server.url + "/v1", headers, BODY, connect_timeout=5)
    assert requests == []


async def test_a_connection_is_reused_after_a_clean_end() -> None:
    requests: list[bytes] = []
    async with serve(keep_answering(requests)) as server, Transport() as transport:
        for _ in range(3):
            assert (await post(transport, server.url))[0] == 200
        assert transport.idle_connections == 1
    assert len(server.peers) == 1 and len(requests) == 3


@pytest.mark.parametrize(
    ("response", "reused"),
    [
        (answer(b"hello"), True),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n",
            True,
        ),
        (answer(b"hello", b"Connection: close\r\n"), False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello", False),
    ],
    ids=["length", "chunked", "connection-close", "http-1.0"],
)
async def test_body_framings_and_when_a_connection_is_kept(response: bytes, reused: bool) -> None:
    requests: list[bytes] = []
    async with serve(keep_answering(requests, response)) as server, Transport() as transport:
        assert await post(transport, server.url) == (200, b"hello")
        assert await post(transport, server.url) == (200, b"hello")
    assert len(server.peers) == (1 if reused else 2)


async def test_a_body_read_until_the_server_closes() -> None:
    async def script(peer: Peer) -> None:
        await peer.request()
        peer.writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhel")
        await peer.writer.drain()
        peer.writer.write(b"lo")
        peer.writer.close()

    async with serve(script) as server, Transport() as transport:
        assert await post(transport, server.url) == (200, b"hello")
        assert transport.idle_connections == 0


@pytest.mark.parametrize("status", [204, 304])
async def test_no_body_statuses_keep_the_connection(status: int) -> None:
    response = b"HTTP/1.1 %d X\r\nContent-Type: text/plain\r\n\r\n" % status
    async with serve(keep_answering([], response)) as server, Transport() as transport:
        assert await post(transport, server.url) == (status, b"")
        assert await post(transport, server.url) == (status, b"")
    assert len(server.peers) == 1


async def test_a_stale_keep_alive_connection_is_not_the_upstreams_failure() -> None:
    """The server closes a kept connection as the next request arrives (its keep-alive
    timeout): the request goes again on a new connection, once."""
    only_native("aiohttp never sends a POST again (docs/deploy.md#the-upstream-client)")

    async def script(peer: Peer) -> None:
        await peer.request()
        peer.writer.write(answer())
        if await peer.request() is not None:
            peer.writer.close()  # FIN without a byte of answer

    pool = Pool("p", 1)
    async with serve(script) as server, Transport() as transport:
        for _ in range(3):
            assert pool.take()
            assert await post(transport, server.url, pool) == (200, b'{"ok": true}')
        assert pool.in_use == 0
    assert len(server.peers) == 3


async def test_a_reset_or_a_partial_answer_is_reported_not_sent_again() -> None:
    async def reset_second(peer: Peer) -> None:
        await peer.request()
        peer.writer.write(answer())
        if await peer.request() is not None:
            peer.reset()

    async with serve(reset_second) as server, Transport() as transport:
        await post(transport, server.url)
        with pytest.raises(ConnectionLost, match="connection lost before the response"):
            await post(transport, server.url)
    assert len(server.peers) == 1

    async def half_second(peer: Peer) -> None:
        await peer.request()
        peer.writer.write(answer())
        if await peer.request() is not None:
            peer.writer.write(b"HTTP/1.1 200 OK\r\n")
            peer.writer.close()

    async with serve(half_second) as server, Transport() as transport:
        await post(transport, server.url)
        with pytest.raises(ConnectionLost, match="before answering"):
            await post(transport, server.url)
    assert len(server.peers) == 1


async def test_errors_are_failsofts() -> None:
    async def silent_close(peer: Peer) -> None:
        await peer.request()

    async def garbage(peer: Peer) -> None:
        await peer.request()
        peer.writer.write(b"HTTP/1.1 abc nonsense\r\n\r\n")

    async def cut(peer: Peer) -> None:
        await peer.request()
        peer.writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")

    async with Transport() as transport:
        async with serve(silent_close) as server:
            with pytest.raises(ConnectionLost, match="the server closed the connection before"):
                await post(transport, server.url)
        async with serve(garbage) as server:
            with pytest.raises(BadResponse, match="unreadable response"):
                await post(transport, server.url)
        async with serve(cut) as server:
            with pytest.raises(ConnectionLost, match="in the middle of the response"):
                await post(transport, server.url)
        url = server.url  # closed now: refused
        with pytest.raises(ConnectError, match=r"cannot connect \("):
            await post(transport, url)
        assert transport.idle_connections == 0


async def test_cancelled_exchanges_drop_their_connection_and_give_the_slot_back() -> None:
    gone: list[int] = []
    started = asyncio.Event()

    async def slow(peer: Peer) -> None:
        await peer.request()
        if peer.index == 1:  # the second connection gets half an answer
            peer.writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        started.set()
        await peer.reader.read()  # until the client goes away
        gone.append(peer.index)

    pool = Pool("p", 1)
    async with serve(slow) as server, Transport() as transport:
        assert pool.take()
        task = asyncio.create_task(post(transport, server.url, pool))
        await started.wait()
        task.cancel()  # waiting for the answer's head
        with pytest.raises(asyncio.CancelledError):
            await task
        assert pool.in_use == 0
        await until(lambda: gone == [0])

        started.clear()
        assert pool.take()
        upstream = await transport.post(server.url, HEADERS, BODY, connect_timeout=5, pool=pool)
        assert await upstream.readany() == b"abc"
        reading = asyncio.create_task(upstream.readany())
        await started.wait()
        reading.cancel()  # in the middle of the body
        with pytest.raises(asyncio.CancelledError):
            await reading
        upstream.close()
        upstream.close()  # twice: the slot goes back once
        assert pool.in_use == 0 and transport.idle_connections == 0
        await until(lambda: gone == [0, 1])


async def test_a_caller_that_does_not_read_holds_a_bounded_buffer() -> None:
    """Reading pauses above READ_BUFSIZE unread bytes (docs/operations.md#memory-per-stream)."""
    only_native("the native connection's buffer (aiohttp bounds its own at 2 x READ_BUFSIZE)")
    size = 16 << 20

    async def flood(peer: Peer) -> None:
        await peer.request()
        peer.writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        peer.writer.write(b"x" * size)
        await peer.writer.drain()

    async with serve(flood) as server, Transport() as transport:
        upstream = await transport.post(server.url, HEADERS, BODY, connect_timeout=5)
        conn = upstream._conn
        assert conn is not None
        await until(lambda: conn._paused)
        for _ in range(20):  # the loop runs on: nothing more is read while paused
            await asyncio.sleep(0)
        assert conn._buffered <= READ_BUFSIZE + READ_CHUNK
        total = 0
        while chunk := await upstream.readany():
            total += len(chunk)
            assert conn._buffered <= READ_BUFSIZE + READ_CHUNK
        assert total == size
        upstream.finish()
        assert transport.idle_connections == 1


async def test_an_endless_or_crowded_response_head_is_refused() -> None:
    """An upstream that never ends its head, or sends thousands of header lines, is a
    `BadResponse` once the bound is passed, not a process that grows with it."""
    from failsoft.transport.h1 import MAX_HEAD_BYTES, MAX_HEADERS

    async def endless(peer: Peer) -> None:
        await peer.request()
        peer.writer.write(b"HTTP/1.1 200 OK\r\n")
        line = b"x-filler: " + b"a" * 1000 + b"\r\n"
        for _ in range(2 * MAX_HEAD_BYTES // len(line)):
            if peer.writer.is_closing():
                return
            peer.writer.write(line)
            await peer.writer.drain()

    async def crowded(peer: Peer) -> None:
        await peer.request()
        lines = b"".join(b"x-%d: v\r\n" % i for i in range(MAX_HEADERS + 1))
        peer.writer.write(b"HTTP/1.1 200 OK\r\n" + lines + b"content-length: 0\r\n\r\n")

    async with Transport() as transport:
        async with serve(endless) as server:
            # aiohttp's own bound (8 KiB lines, 128 headers) is met first under it
            endless_match = "head exceeds" if current_client() == "native" else "unreadable"
            with pytest.raises(BadResponse, match=endless_match):
                await post(transport, server.url)
        async with serve(crowded) as server:
            with pytest.raises(BadResponse, match="unreadable response"):
                await post(transport, server.url)
        assert transport.idle_connections == 0


async def test_headers_keep_each_names_first_value_whatever_its_case() -> None:
    """A repeated name (in any case) keeps its first value, as aiohttp's `get` did; names
    are iterated as sent."""
    extra = b"X-Id: one\r\nx-id: two\r\nX-ID: three\r\nRetry-After: 7\r\nretry-after: 9\r\n"
    async with serve(keep_answering([], answer(extra=extra))) as server:
        async with Transport() as transport:
            upstream = await transport.post(server.url, HEADERS, BODY, connect_timeout=5)
            await upstream.read()
            upstream.finish()
    headers = upstream.headers
    assert headers["x-id"] == headers.get("X-Id") == "one"
    assert headers.get("RETRY-AFTER") == "7"
    assert "content-type" in headers and "nothing" not in headers
    if current_client() == "native":
        assert list(headers) == ["Content-Type", "X-Id", "Retry-After", "Content-Length"]


async def test_poll_gives_what_readany_would_without_waiting() -> None:
    """`poll`: the body bytes already read, b"" at the end, None while a read must wait
    (always None with the aiohttp client, whose reads are `readany`'s)."""
    go_on = asyncio.Event()

    async def halves(peer: Peer) -> None:
        await peer.request()
        peer.writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabc")
        await go_on.wait()
        peer.writer.write(b"def")

    async with serve(halves) as server, Transport() as transport:
        upstream = await transport.post(server.url, HEADERS, BODY, connect_timeout=5)
        conn = upstream.connection
        if conn is not None:  # the native client: its reads are polled
            await until(lambda: bool(conn._chunks))
            assert upstream.poll() == b"abc"
        else:
            assert upstream.poll() is None
            assert await upstream.readany() == b"abc"
        assert upstream.poll() is None  # the rest is not here yet
        go_on.set()
        assert await upstream.readany() == b"def"
        if conn is not None:
            assert upstream.poll() == b""  # the body ended with that read
        assert await upstream.readany() == b""
        upstream.finish()
        assert upstream.poll() is None  # finished: `readany` says what is wrong
        assert transport.idle_connections == 1


async def test_endless_trailers_are_refused() -> None:
    """A chunked body's trailers are bounded like a head's names: an upstream sending
    thousands of them is a broken answer, not a process that grows with them."""
    only_native("aiohttp refuses these with its own error")
    from failsoft.transport.h1 import MAX_HEADERS

    async def trailers(peer: Peer) -> None:
        await peer.request()
        head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n"
        lines = b"".join(b"x-%d: v\r\n" % i for i in range(MAX_HEADERS + 1))
        peer.writer.write(head + lines + b"\r\n")

    async with serve(trailers) as server, Transport() as transport:
        upstream = await transport.post(server.url, HEADERS, BODY, connect_timeout=5)
        with pytest.raises((ConnectionLost, BadResponse)):
            while await upstream.readany():
                pass
        upstream.close()
        assert transport.idle_connections == 0
