"""Small HTTP servers and proxies written in the tests, on 127.0.0.1: each connection is
handed to a script that reads requests and writes exactly the bytes a test wants, so
framing, closing and resetting can be had at will."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

Script = Callable[["Peer"], Awaitable[None]]


@dataclass
class Peer:
    """One accepted connection: `index` counts connections from 0."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    index: int

    async def request(self) -> bytes | None:
        """The next request's head and body (Content-Length framed); None at EOF."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return head + await self.reader.readexactly(length)

    def reset(self) -> None:
        """Abort with a TCP RST."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


@dataclass
class Server:
    url: str
    peers: list[Peer] = field(default_factory=list)
    requests: list[bytes] = field(default_factory=list)


@contextlib.asynccontextmanager
async def serve(script: Script, tls: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    """A server running `script` for every connection."""
    server = Server("")
    tasks: set[asyncio.Task[None]] = set()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = Peer(reader, writer, len(server.peers))
        server.peers.append(peer)
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await script(peer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            tasks.discard(task)
            writer.close()

    listener = await asyncio.start_server(accept, "127.0.0.1", 0, ssl=tls)
    port = listener.sockets[0].getsockname()[1]
    server.url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    try:
        yield server
    finally:
        listener.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def answer(body: bytes = b'{"ok": true}', extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        + extra
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )


def keep_answering(server_requests: list[bytes], response: bytes = answer()) -> Script:
    """A keep-alive server: every request gets `response`."""

    async def script(peer: Peer) -> None:
        while (request := await peer.request()) is not None:
            server_requests.append(request)
            peer.writer.write(response)

    return script


@dataclass
class ForwardProxy:
    """An HTTP proxy: CONNECT tunnels, and absolute-form requests relayed as they are (the
    test's origin accepts the absolute form). `seen` holds each connection's first head."""

    url: str = ""
    seen: list[bytes] = field(default_factory=list)


@contextlib.asynccontextmanager
async def forward_proxy(
    tls: ssl.SSLContext | None = None,
    require: bytes | None = None,
    refuse: int | None = None,
    origin_form: bool = False,
) -> AsyncIterator[ForwardProxy]:
    """`tls`: an https:// proxy (TLS to the proxy). `require`: the `Proxy-Authorization`
    value it wants, else 407. `refuse`: the status it answers everything with.
    `origin_form`: requests relayed with origin-form targets, as a real proxy does (each
    small request arrives in one read on loopback), for origins that insist on it."""
    proxy = ForwardProxy()

    async def pipe(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, absolute: bytes = b""
    ) -> None:
        try:
            while data := await reader.read(65536):
                if absolute:
                    data = data.replace(b" " + absolute + b"/", b" /")
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    def authorized(head: bytes) -> bool:
        if require is None:
            return True
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"proxy-authorization":
                return value.strip() == require
        return False

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        line = head.split(b"\r\n", 1)[0]
        proxy.seen.append(head)
        status = refuse if refuse is not None else None if authorized(head) else 407
        if status is not None:
            writer.write(b"HTTP/1.1 %d No\r\nContent-Length: 0\r\n\r\n" % status)
            await writer.drain()
            writer.close()
            return
        method, target, _ = line.split(b" ", 2)
        absolute = b""
        if method == b"CONNECT":
            host, _, port = target.rpartition(b":")
            up_reader, up_writer = await asyncio.open_connection(host.decode(), int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            first = b""
        else:
            authority = target.split(b"/")[2]
            host, _, port = authority.rpartition(b":")
            up_reader, up_writer = await asyncio.open_connection(host.decode(), int(port))
            absolute = b"http://" + authority if origin_form else b""
            first = head.replace(b" " + absolute + b"/", b" /", 1) if origin_form else head
        up_writer.write(first)
        await asyncio.gather(pipe(reader, up_writer, absolute), pipe(up_reader, writer))

    listener = await asyncio.start_server(accept, "127.0.0.1", 0, ssl=tls)
    port = listener.sockets[0].getsockname()[1]
    proxy.url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    try:
        yield proxy
    finally:
        listener.close()


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Poll `condition` (the loop keeps running) until true; fail after a generous `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        assert loop.time() < deadline, "the condition never held"
        await asyncio.sleep(0.005)
