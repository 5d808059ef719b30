"""A minimal keep-alive HTTP/1.1 client on httptools and asyncio protocols: a STAND-IN that
shows what the floor of a hand-written client costs, not a product.

No timeouts, no proxy, no redirects, no pool limit, no decompression; one idle list per
origin; a connection goes back to it when its response ended and both sides keep it alive.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Mapping
from urllib.parse import urlsplit

import httptools

Origin = tuple[str, int, bool]


class Response:
    """Status and headers; the body is read with `read_chunk` (b"" at its end) or `read`."""

    __slots__ = ("_chunks", "_done", "_waiter", "headers", "status")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.status = status
        self.headers = headers
        self._chunks: deque[bytes] = deque()
        self._done = False
        self._waiter: asyncio.Future[None] | None = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def read_chunk(self) -> bytes:
        while not self._chunks:
            if self._done:
                return b""
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        return self._chunks.popleft()

    async def read(self) -> bytes:
        parts = []
        while chunk := await self.read_chunk():
            parts.append(chunk)
        return b"".join(parts)


class _Connection(asyncio.Protocol):
    def __init__(self, client: Client, origin: Origin) -> None:
        self.client = client
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.head: asyncio.Future[Response] | None = None
        self.response: Response | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(exc or ConnectionResetError("connection closed"))

    def _fail(self, exc: BaseException) -> None:
        if self.head is not None and not self.head.done():
            self.head.set_exception(exc)
        if self.response is not None and not self.response._done:
            self.response._done = True  # the reader sees an early end
            self.response._wake()
        if self.transport is not None:
            self.transport.close()

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.response = Response(self.parser.get_status_code(), self.headers)
        self.headers = []
        if self.head is not None and not self.head.done():
            self.head.set_result(self.response)

    def on_body(self, body: bytes) -> None:
        assert self.response is not None
        self.response._chunks.append(body)
        self.response._wake()

    def on_message_complete(self) -> None:
        response, self.response, self.head = self.response, None, None
        if response is not None:
            response._done = True
            response._wake()
        if self.parser.should_keep_alive() and not self.closed:
            self.client._idle.setdefault(self.origin, []).append(self)
        elif self.transport is not None:
            self.transport.close()


class Client:
    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl = ssl_context
        self._idle: dict[Origin, list[_Connection]] = {}
        self._urls: dict[str, tuple[Origin, bytes, bytes]] = {}

    def _split(self, url: str) -> tuple[Origin, bytes, bytes]:
        parts = self._urls.get(url)
        if parts is None:
            split = urlsplit(url)
            tls = split.scheme == "https"
            port = split.port or (443 if tls else 80)
            target = (split.path or "/") + (f"?{split.query}" if split.query else "")
            parts = ((split.hostname or "", port, tls), target.encode(), split.netloc.encode())
            self._urls[url] = parts
        return parts

    async def _connection(self, origin: Origin) -> _Connection:
        idle = self._idle.get(origin)
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn
        loop = asyncio.get_running_loop()
        host, port, tls = origin
        _, conn = await loop.create_connection(
            lambda: _Connection(self, origin),
            host,
            port,
            ssl=(self._ssl or ssl.create_default_context()) if tls else None,
            server_hostname=host if tls else None,
        )
        return conn

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> Response:
        origin, target, netloc = self._split(url)
        conn = await self._connection(origin)
        head = [
            b"POST %s HTTP/1.1\r\nhost: %s\r\ncontent-length: %d\r\n" % (target, netloc, len(body))
        ]
        head.extend(f"{k}: {v}\r\n".encode("latin-1") for k, v in headers.items())
        head.append(b"\r\n")
        conn.head = asyncio.get_running_loop().create_future()
        assert conn.transport is not None
        conn.transport.write(b"".join(head) + body)
        return await conn.head

    async def close(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                if conn.transport is not None:
                    conn.transport.close()
        self._idle.clear()
