"""A streaming response's body parts written straight to the caller's connection.

The committed relay (router/streaming.py) writes each upstream event batch from inside the
upstream connection's callback, with no task wake-up and no ASGI `send` per event. What
it writes must be exactly what `send({"type": "http.response.body", "body": data,
"more_body": True})` through the request's `Flight` and `Exchange` would have written
when that send need not wait: the access line's notes (`Exchange.note_body`), then the
chunk on failsoft's own server connection (server/cycle.py). Whenever that is not so
(the caller's writes are paused, the head still pending, another server's `send`), the
writer declines and the relay hands the bytes to `send` as before, which waits (timed by
the drain's slow-reader watch) and writes them.

The same holds for a whole answer (`whole_answer`: its start and one final body message, the
chat endpoints' non-streaming 200) and for a request body that has all arrived
(`body_now`): done directly when that is exactly what the ASGI messages would do, else
left to them. Per request that saves three message dicts, five coroutines and the head's
flush scheduled for the loop's next turn.
"""

from __future__ import annotations

import asyncio
from typing import Any

from failsoft.errors import PayloadTooLarge
from failsoft.router.timer import current_task
from failsoft.server.access import Exchange
from failsoft.server.asgi import too_large
from failsoft.server.cycle import Cycle
from failsoft.server.drain import Flight


class DirectSend:
    """`write(body)`: True once the body part is written (or dropped for a caller that
    has gone, as `send` drops it), False when it must go through `send` instead."""

    __slots__ = ("_conn", "_cycle", "_note", "_transport")

    def __init__(self, cycle: Cycle, exchange: Exchange | None) -> None:
        self._cycle = cycle
        self._conn = cycle.conn
        self._transport = cycle.transport
        self._note = exchange.note_body if exchange is not None else None

    def write(self, body: bytes) -> bool:
        cycle = self._cycle
        if cycle.disconnected:
            if self._note is not None:
                self._note(body)
            return True  # `send` drops it too
        if self._conn.write_paused or cycle.pending is not None or cycle.complete:
            return False
        if self._note is not None:
            self._note(body)
        self._transport.write(b"%x\r\n%b\r\n" % (len(body), body))
        return True


def _own_chain(send: Any) -> tuple[Exchange | None, Cycle | None]:
    """The request's `Exchange` (if any) and failsoft's own `Cycle` under `send` (its
    `Flight`, then its `Exchange`, then `Cycle.send`); no `Cycle` for any other `send`."""
    owner = getattr(send, "__self__", None)
    if type(owner) is Flight and getattr(send, "__func__", None) is Flight.send:
        send = owner._send
    exchange: Exchange | None = None
    if type(send) is Exchange:
        exchange = send
        send = send._send
    cycle = getattr(send, "__self__", None)
    if type(cycle) is not Cycle or getattr(send, "__func__", None) is not Cycle.send:
        return exchange, None
    return exchange, cycle


def direct_send(send: Any) -> DirectSend | None:
    """The direct writer under a request's `send` (its `Flight`, then its `Exchange`,
    then failsoft's `Cycle.send`), once a chunked response has started; None for any
    other `send`, which the relay then uses for every event."""
    exchange, cycle = _own_chain(send)
    if cycle is None:
        return None
    if not cycle.started or not cycle.chunked or cycle.head:
        return None
    return DirectSend(cycle, exchange)


def whole_answer(send: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> bool:
    """`asgi.send_bytes(send, status, headers, body)` (its content-length appended to
    `headers`, its start and its one final body message sent) through the request's
    `Flight` and `Exchange` to failsoft's own connection, done directly (`Cycle.answer`):
    True once it is done; False, with nothing done, when either message could do more than
    be noted and written (the caller's writes are paused, the client is gone, a rate-limit
    ticket adds headers or waits, another server's `send`): then call `send_bytes`."""
    exchange, cycle = _own_chain(send)
    if exchange is not None and (exchange.ticket is not None or exchange.done):
        return False
    if cycle is None or cycle.started or cycle.disconnected or cycle.conn.write_paused:
        return False
    headers.append((b"content-length", str(len(body)).encode()))
    if exchange is not None:  # what `Exchange.__call__` notes of the start message
        exchange.status = status
        if exchange.detail:
            exchange._read_headers(headers)
    cycle.answer(status, headers, body, exchange)
    return True


def body_now(receive: Any, limit: int, declared: int | None) -> bytes | None:
    """The whole request body as `asgi.read_body(receive, limit, declared)` would return
    it (or refuse it: `PayloadTooLarge`), when it is all there on failsoft's own connection
    (`Cycle.take`): no coroutine, no message. None when only `read_body` can tell."""
    cycle = getattr(receive, "__self__", None)
    if type(cycle) is not Cycle or getattr(receive, "__func__", None) is not Cycle.receive:
        return None
    if declared is not None and declared > limit:
        return None  # refused unread by `read_body`
    body = cycle.take()
    if body is not None and len(body) > limit:
        raise PayloadTooLarge(too_large(len(body), limit))
    return body


def running_task(receive: Any) -> asyncio.Task[Any] | None:
    """`asyncio.current_task()`, found through failsoft's own connection when `receive` is
    its `Cycle`'s: the app runs on that connection's loop, whose running task is then a
    dict read, where `asyncio.current_task()` (Python 3.11) is a Python frame and a
    `getpid` system call (`get_running_loop` checks the process)."""
    cycle = getattr(receive, "__self__", None)
    if type(cycle) is Cycle:
        return current_task(cycle.conn.loop)
    return asyncio.current_task()
