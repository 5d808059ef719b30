"""One request on a connection of server/protocol.py: the ASGI `receive` and `send` its
app call gets, with uvicorn's semantics (read against uvicorn 0.55's httptools protocol).

- `receive()` gives the body as it arrives (`http.request`, `more_body` until the end),
  then waits; it returns `http.disconnect` once the client is gone or the response is
  complete. The first call answers `Expect: 100-continue`. While the app does not take
  the body, the connection stops reading the socket beyond 64 KiB held.
- `send()` waits while the transport's write buffer is above its high-water mark (until
  the client reads or goes away) and drops what is sent after the client has gone. The
  response is chunked when the app gives no `content-length` (not for HEAD, 204, 304);
  `connection: close` ends the connection after the response, as does HTTP/1.0.

Cheaper than uvicorn's per request: the head is built in one pass (the usual names need
no `lower()`) and checked with one `bytes.translate` (not two searches per header), and it is
written together with the first body message (one `transport.write`, one system call for
the usual single-body answer); a head the app leaves without a body is still sent at the
loop's next turn. No `asyncio.Event` per request: a waiting `receive` is a bare future.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any

from failsoft.server.door import STATUS_LINE

if TYPE_CHECKING:
    from failsoft.server.access import Exchange
    from failsoft.server.protocol import HttpProtocol

HIGH_WATER = 65536
"""Request body bytes held for an app that does not take them before reading pauses."""

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
LAST_CHUNK = b"0\r\n\r\n"
_NAME = re.compile(b'[\x00-\x1f\x7f()<>@,;:\\[\\]={} \t\\\\"]')
_VALUE = re.compile(b"[\x00-\x08\x0a-\x1f\x7f]")
_NO_BODY = (204, 304)
_NOT_CONTROL = bytes(b for b in range(256) if b == 0x09 or 0x20 <= b < 0x7F or b > 0x7F)
"""Deleted from a head, this leaves its control characters (tab aside), CR and LF included."""
_CRLF = b"\r\n"
_PLAIN: set[bytes] = {
    b"content-type",
    b"x-failsoft-attempts",
    b"x-failsoft-trail",
    b"x-failsoft-request-id",
    b"x-failsoft-provider",
    b"x-failsoft-model",
    b"x-request-id",
    b"request-id",
    b"cache-control",
    b"x-accel-buffering",
}
"""Response header names written as they are (lower-case; not content-length,
transfer-encoding or connection): no `lower()` and no comparisons. Other such names are
added as they are met, up to `_PLAIN_MAX`."""
_PLAIN_MAX = 512


class Cycle:
    """One request and its response (see the module docstring)."""

    __slots__ = (
        "body",
        "chunked",
        "complete",
        "conn",
        "disconnected",
        "head",
        "keep_alive",
        "left",
        "more_body",
        "pending",
        "ready",
        "scope",
        "started",
        "transport",
        "waiters",
        "waiting_100",
    )

    def __init__(
        self,
        conn: HttpProtocol,
        scope: dict[str, Any],
        keep_alive: bool,
        expect_100: bool,
        head: bool,
    ) -> None:
        self.conn = conn
        self.transport = conn.transport
        """Read by server/drain.py's `transport_of(send)`."""
        self.scope = scope
        self.keep_alive = keep_alive
        self.waiting_100 = expect_100
        self.head = head
        """A HEAD request: the response's body is not written."""
        self.body = b""
        self.more_body = True
        self.ready = False
        """Something for `receive` (body bytes, the body's end)."""
        self.waiters: list[asyncio.Future[None]] | None = None
        self.disconnected = False
        self.started = False
        self.complete = False
        self.chunked = False
        self.left = 0
        """Bytes the declared content-length still owes."""
        self.pending: bytes | None = None
        """The response head, until it goes out with the first body message."""

    # From the connection

    def wake(self) -> None:
        self.ready = True
        waiters = self.waiters
        if waiters is not None:
            self.waiters = None
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def gone(self) -> None:
        """The client went away (or was refused): what the app sends is dropped."""
        if not self.complete:
            self.disconnected = True
        self.wake()

    # ASGI

    async def receive(self) -> dict[str, Any]:
        if self.waiting_100:
            self.waiting_100 = False
            if not self.transport.is_closing():
                self.transport.write(CONTINUE)
        if not self.ready and not self.disconnected and not self.complete:
            self.conn.resume_reading()
            waiter = self.conn.loop.create_future()
            if self.waiters is None:
                self.waiters = [waiter]
            else:
                self.waiters.append(waiter)
            await waiter
        self.ready = False
        if self.disconnected or self.complete:
            return {"type": "http.disconnect"}
        body = self.body
        self.body = b""
        return {"type": "http.request", "body": body, "more_body": self.more_body}

    def take(self) -> bytes | None:
        """The whole body, when it has all arrived and `receive()` would hand it over at
        once as its one message (no `100 Continue` to write): taken as `receive` takes it,
        without the message; None otherwise (then call `receive`)."""
        if not self.ready or self.more_body or self.waiting_100 or self.disconnected:
            return None
        if self.complete:
            return None
        self.ready = False
        body = self.body
        self.body = b""
        return body

    async def send(self, message: dict[str, Any]) -> None:
        conn = self.conn
        if conn.write_paused and not self.disconnected:
            await conn.drain()
        if self.disconnected:
            return
        if not self.started:
            if message["type"] != "http.response.start":
                raise RuntimeError(
                    f"Expected ASGI message 'http.response.start', but got '{message['type']}'."
                )
            self.started = True
            self.waiting_100 = False
            self.pending = self._head(message["status"], message.get("headers", ()))
            conn.loop.call_soon(self.flush)
            return
        if self.complete:
            raise RuntimeError(
                f"Unexpected ASGI message '{message['type']}' sent, "
                "after response already completed."
            )
        if message["type"] != "http.response.body":
            raise RuntimeError(
                f"Expected ASGI message 'http.response.body', but got '{message['type']}'."
            )
        body = message.get("body", b"")
        more = message.get("more_body", False)
        parts: list[Any] = []
        pending = self.pending
        if pending is not None:
            self.pending = None
            parts.append(pending)
        if self.head:
            self.left = 0
        elif self.chunked:
            if body:
                parts += (b"%x\r\n" % len(body), body, b"\r\n")
            if not more:
                parts.append(LAST_CHUNK)
        else:
            size = len(body)
            if size > self.left:
                raise RuntimeError("Response content longer than Content-Length")
            self.left -= size
            if size:
                parts.append(body)
        if parts:
            self.transport.write(parts[0] if len(parts) == 1 else b"".join(parts))
        if not more:
            if self.left:
                raise RuntimeError("Response content shorter than Content-Length")
            self.complete = True
            self.wake()
            if not self.keep_alive:
                self.transport.close()
            conn.answered()

    def answer(self, status: int, headers: Any, body: bytes, exchange: Exchange | None) -> None:
        """`send` of a response start and then of its one, final, body message, when the
        connection's writes are not paused and the client is still there (server/direct.py
        checks): the same state, the same write and the same order (head built, then the
        exchange notes the body and writes its line, then the one write), without two
        messages, two coroutines and a head flush scheduled for the loop's next turn. The
        exchange has noted the status and headers already, as for the start message."""
        self.started = True
        self.waiting_100 = False
        head = self._head(status, headers)
        if exchange is not None:
            if body:
                exchange.note_body(body)
            if not exchange.done:
                exchange.finish()
        parts = [head]
        if self.head:
            self.left = 0
        elif self.chunked:
            if body:
                parts += (b"%x\r\n" % len(body), body, b"\r\n")
            parts.append(LAST_CHUNK)
        else:
            size = len(body)
            if size > self.left:
                raise RuntimeError("Response content longer than Content-Length")
            self.left -= size
            if size:
                parts.append(body)
        self.transport.write(head if len(parts) == 1 else b"".join(parts))
        if self.left:
            raise RuntimeError("Response content shorter than Content-Length")
        self.complete = True
        if self.waiters is not None:
            self.wake()
        else:
            self.ready = True
        if not self.keep_alive:
            self.transport.close()
        self.conn.answered()

    # Response head

    def flush(self) -> None:
        """Write a head the app has not followed with a body yet (a stream waiting for its
        first event): the client sees the status without waiting for it."""
        pending = self.pending
        if pending is not None:
            self.pending = None
            if not self.disconnected and not self.transport.is_closing():
                self.transport.write(pending)

    def _head(self, status: int, headers: Any) -> bytes:
        parts = [STATUS_LINE[status]]
        lines = 1
        length: int | None = None
        chunked = False
        closing = False
        plain = _PLAIN
        for name, value in headers:
            if name in plain:  # lower-case already, and nothing to the framing
                parts += (name, b": ", value, b"\r\n")
                lines += 1
                continue
            name = name.lower()
            if name == b"content-length":
                if length is None and not chunked:
                    length = int(value)
            elif name == b"transfer-encoding":
                if value.lower() == b"chunked":
                    length = None
                    chunked = True
            elif name == b"connection" and b"close" in [
                token.lower().strip() for token in value.split(b",")
            ]:
                self.keep_alive = False
                closing = True
            elif name != b"connection" and len(plain) < _PLAIN_MAX:
                plain.add(name)
            parts += (name, b": ", value, b"\r\n")
            lines += 1
        if not self.keep_alive and not closing:
            parts.append(b"connection: close\r\n")
            lines += 1
        if length is None and not chunked and not self.head and status not in _NO_BODY:
            chunked = True
            parts.append(b"transfer-encoding: chunked\r\n")
            lines += 1
        parts.append(b"\r\n")
        head = b"".join(parts)
        # The head's CRs, LFs and other control characters, in order: exactly the line
        # ends written above, unless a name or a value holds one.
        if head.translate(None, _NOT_CONTROL) != _CRLF * (lines + 1):
            _check(headers)
        self.chunked = chunked
        self.left = length or 0
        return head


def _check(headers: Any) -> None:
    """The precise error for a head that failed the quick check (uvicorn's messages)."""
    for name, value in headers:
        if _NAME.search(name):
            raise RuntimeError("Invalid HTTP header name.")
        if _VALUE.search(value):
            raise RuntimeError("Invalid HTTP header value.")
    raise RuntimeError("Invalid HTTP header.")


async def send_500(cycle: Cycle) -> None:
    """What uvicorn answers an app that failed before starting its response."""
    await cycle.send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", b"21"),
                (b"connection", b"close"),
            ],
        }
    )
    await cycle.send(
        {"type": "http.response.body", "body": b"Internal Server Error", "more_body": False}
    )
