"""A minimal HTTP/1.1 server connection on asyncio + httptools.

Not an ASGI app on purpose: faults need the transport itself (an RST instead of a
response, a body cut without its last chunk, a socket that stays open and silent),
which a framework would either hide or "fix".
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import socket
import struct
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, cast

import httptools

log = logging.getLogger("failsoft.sim")

MAX_BODY = 32 * 1024 * 1024
"""Larger request bodies get 413, like the real Messages API."""


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    """Lower-cased names; a repeated header keeps its last value."""
    body: bytes


Handler = Callable[[Request, "Connection"], Coroutine[Any, Any, None] | None]
"""Answers a request: synchronously (returns None) or by returning a coroutine to run.

Either way it must end the exchange with `send`, `end_chunked`, `close`, `reset` or
`abandon`.
"""


_REASONS = {status.value: status.phrase for status in http.HTTPStatus}
_REASONS[529] = "Site Overloaded"
_LINGER_ZERO = struct.pack("ii", 1, 0)


def status_line(status: int) -> bytes:
    return b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, "Unknown").encode())


class Connection(asyncio.Protocol):
    """One client connection; requests are answered one at a time, in order."""

    def __init__(self, handler: Handler, connections: set[Connection]) -> None:
        self._handler = handler
        self._connections = connections
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._queue: deque[Request] = deque()
        self._busy = False
        self._dispatching = False
        self._keep_alive = True
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self._paused = False
        self._drain: asyncio.Future[None] | None = None
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._body_size = 0

    @property
    def answering(self) -> bool:
        """A response is being written (or awaited) on this open connection."""
        return self._busy and not self._closed

    # asyncio.Protocol -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        self._connections.add(self)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._connections.discard(self)
        self._queue.clear()
        if self._task is not None:
            self._task.cancel()
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400, b"upgrades are not supported")
        except httptools.HttpParserError as exc:
            self._fail(400, str(exc).encode())

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    # httptools callbacks -----------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._body = []
        self._body_size = 0

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        if not self._busy and self._headers.get("expect", "").lower() == "100-continue":
            self.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # curl waits 1 s for this otherwise

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size <= MAX_BODY:
            self._body.append(body)

    def on_message_complete(self) -> None:
        if self._body_size > MAX_BODY:
            self._fail(413, b"request body too large")
            return
        path, _, query = self._url.partition(b"?")
        request = Request(
            method=self._parser.get_method().decode("latin-1"),
            path=path.decode("latin-1"),
            query=query.decode("latin-1"),
            headers=self._headers,
            body=b"".join(self._body),
        )
        if not self._parser.should_keep_alive():
            self._queue.append(request)
            self._queue.append(_CLOSE)
        else:
            self._queue.append(request)
        self._dispatch()

    # dispatch ----------------------------------------------------------------------

    def _dispatch(self) -> None:
        if self._dispatching:
            return
        self._dispatching = True
        try:
            while self._queue and not self._busy and not self._closed:
                request = self._queue.popleft()
                if request is _CLOSE:
                    self.close()
                    return
                self._busy = True
                self._keep_alive = not (self._queue and self._queue[0] is _CLOSE)
                try:
                    work = self._handler(request, self)
                except Exception:
                    log.exception("sim handler failed for %s %s", request.method, request.path)
                    self.reset()
                    return
                if work is not None:
                    self._task = asyncio.get_running_loop().create_task(work)
                    self._task.add_done_callback(self._task_done)
        finally:
            self._dispatching = False

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._task = None
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("sim handler failed", exc_info=exc)
            self.reset()

    def _fail(self, status: int, message: bytes) -> None:
        if self._busy:
            self.reset()
        elif not self._closed and self._transport is not None:
            self._keep_alive = False
            self.send(status, b"content-type: text/plain\r\n", message)

    # writing -------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def head(self, status: int, headers: bytes, length: int | None) -> bytes:
        """Status line and headers; `length=None` means a chunked body."""
        framing = (
            b"transfer-encoding: chunked\r\n"
            if length is None
            else b"content-length: %d\r\n" % length
        )
        connection = b"" if self._keep_alive else b"connection: close\r\n"
        return status_line(status) + headers + framing + connection + b"\r\n"

    def write(self, data: bytes) -> None:
        if not self._closed and self._transport is not None:
            self._transport.write(data)

    async def drain(self) -> None:
        if self._paused and not self._closed:
            self._drain = asyncio.get_running_loop().create_future()
            await self._drain

    def send(self, status: int, headers: bytes, body: bytes) -> None:
        """A complete response with a Content-Length body; ends the exchange."""
        self.write(self.head(status, headers, len(body)) + body)
        self.finish()

    def finish(self) -> None:
        """The response is complete: serve the next request, or close."""
        self._busy = False
        if not self._keep_alive:
            self.close()
        else:
            self._dispatch()

    def close(self) -> None:
        """Flush what was written, then FIN (no terminating chunk is added)."""
        self._closed = True
        if self._transport is not None:
            self._transport.close()

    def reset(self) -> None:
        """Abort with a TCP RST: SO_LINGER 0, then close without flushing."""
        self._closed = True
        if self._transport is None:
            return
        sock = self._transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
        self._transport.abort()

    def shutdown(self) -> asyncio.Task[None] | None:
        """Server stop: drop the connection whatever it is doing; returns the task to await."""
        task = self._task
        if task is not None:
            task.cancel()
        self._closed = True
        if self._transport is not None:
            self._transport.abort()
        return task

    def abandon(self) -> None:
        """Never answer again; the socket stays open until the client or the server stops."""
        self._busy = True
        self._queue.clear()


_CLOSE = Request(method="", path="", query="", headers={}, body=b"")
"""Queue marker: the client asked for `Connection: close` after the previous request."""
