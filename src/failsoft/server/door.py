"""The limits at the connection layer, and what the connections of one server share.

Read against httptools 0.9. Left alone, a connection could grow the process without bound
(httptools joins a header's pieces until the header ends: 300 MB of one header grew a
gateway by 300 MB with no error) or be held forever (nothing times out a request head or
body: 500 connections sending a byte every 2 s stayed open). failsoft's own HTTP protocol
(server/protocol.py) enforces, from `server.*` (restart-only):

- `max_head_bytes` / `max_headers`: a larger head gets 431 and the connection is closed.
  The bytes are counted per read, before the parser buffers them, so a head is never held
  past the limit by more than one read (at most 256 KiB with uvloop).
- `head_timeout` (from the connection's start, or from a kept-alive connection's first
  byte of the next request) and `body_timeout` (from the end of the head to the end of the
  body): 408 and close; a connection on which nothing arrived is closed without an answer.
  The answer is never under either deadline: a stream may run as long as it runs.
- `max_connections_per_client` (per client address) and `max_connections` (in all): the
  connection is answered 503 and closed at once.

Cost per request: a few attribute writes and one `loop.time()` per phase change; one
integer addition per read while a head is arriving. Deadlines share one timer per
connection, moved lazily: a timer that fires early re-arms itself for what is left, so
nothing is cancelled and rescheduled per request.

This module holds the settings (`Door`) and the canned refusals; the protocol applies them.
"""

from __future__ import annotations

import asyncio
import http
import json
import weakref
from typing import TYPE_CHECKING, Any

from failsoft.config import ServerConfig
from failsoft.server.refusals import RefusalLog

if TYPE_CHECKING:
    from failsoft.server.cycle import Cycle

IDLE, HEAD, BODY, KEPT = 0, 1, 2, 3
"""A connection's phase: answering (no deadline), receiving a request head, receiving its
body, kept alive between requests (`timeout_keep_alive`)."""


def _status_line(status: int) -> bytes:
    try:
        phrase = http.HTTPStatus(status).phrase.encode()
    except ValueError:
        phrase = b""
    return b"HTTP/1.1 %d %s\r\n" % (status, phrase)


STATUS_LINE = {status: _status_line(status) for status in range(100, 600)}
"""The response's first line by status, as uvicorn writes it."""


class Door:
    """The limits of one server and what its connections share: the count of open
    connections per client address (bounded by the connections themselves)."""

    __slots__ = (
        "body_timeout",
        "clients",
        "head_timeout",
        "max_connections",
        "max_head_bytes",
        "max_headers",
        "per_client",
        "refusals",
    )

    def __init__(self, server: ServerConfig, refusals: RefusalLog) -> None:
        self.max_head_bytes = server.max_head_bytes
        self.max_headers = server.max_headers
        self.head_timeout = server.head_timeout
        self.body_timeout = server.body_timeout
        self.per_client = server.max_connections_per_client
        self.max_connections = server.max_connections
        self.clients: dict[str, int] = {}
        """client address → its open connections (an entry is removed at 0)."""
        self.refusals = refusals
        """Rate-limited log lines keyed by client address: an attacker cannot flood the log."""


_DOORS: weakref.WeakKeyDictionary[Any, Door] = weakref.WeakKeyDictionary()
"""One Door per uvicorn server (its `ServerState` is shared by all its connections)."""


def door_of(server_state: Any, app: Any) -> Door:
    """The Door of the server whose state is `server_state`, made by its first connection."""
    door = _DOORS.get(server_state)
    if door is None:
        door = _DOORS[server_state] = Door(*_settings(app))
    return door


def _settings(app: Any) -> tuple[ServerConfig, RefusalLog]:
    """The `server` section of the app's config and the app's refusal log (so these lines
    follow `log.access_format`); uvicorn may have wrapped the app (its message logger at
    trace level), so look a few `.app` deep. Defaults otherwise."""
    for _ in range(4):
        runtime = getattr(app, "runtime", None)
        if runtime is not None:
            refusals = getattr(getattr(app, "access", None), "refusals", None)
            if not isinstance(refusals, RefusalLog):
                refusals = RefusalLog()
            return runtime.config.server, refusals
        app = getattr(app, "app", None)
        if app is None:
            break
    return ServerConfig(), RefusalLog()


def _error_body(kind: str, message: str) -> bytes:
    """An error both the OpenAI and the Anthropic SDKs read (`error.message`, `error.type`):
    at this stage the request's dialect is not known."""
    return json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()


def _response(status: int, kind: str, message: str) -> bytes:
    body = _error_body(kind, message)
    return b"".join(
        [
            STATUS_LINE[status],
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n",
            b"retry-after: 1\r\n" if status == 503 else b"",
            b"\r\n",
            body,
        ]
    )


HEAD_TOO_LARGE = _response(
    431,
    "request_too_large",
    "the request head exceeds this gateway's limit (server.max_head_bytes)",
)
TOO_MANY_HEADERS = _response(
    431, "request_too_large", "the request has more header lines than server.max_headers"
)
HEAD_TIMEOUT = _response(
    408, "request_timeout", "the request head did not arrive in time (server.head_timeout)"
)
BODY_TIMEOUT = _response(
    408, "request_timeout", "the request body did not arrive in time (server.body_timeout)"
)
CLIENT_FULL = _response(
    503,
    "overloaded_error",
    "too many connections from this address (server.max_connections_per_client)",
)
SERVER_FULL = _response(
    503, "overloaded_error", "too many connections to this gateway (server.max_connections)"
)


LINGER = 2.0
"""Seconds a refused connection is still read (and what comes dropped) before it is closed;
the client closing first ends it sooner."""


def close(transport: asyncio.Transport) -> None:
    if not transport.is_closing():
        transport.close()


class Refused(Exception):
    """Raised from a parser callback to stop the parser once the answer is written."""


class Limits(asyncio.Protocol):
    """The limits' half of a connection: the counts, the deadlines and the refusals.
    server/protocol.py's `HttpProtocol` is the other half and calls these."""

    door: Door
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    client: tuple[str, int] | None
    connections: set[Any]
    parsing: Cycle | None
    read_paused: bool
    keep_alive_timeout: float

    def limits_init(self) -> None:
        self._phase = IDLE
        self._head_bytes = 0
        """Bytes read since the last head or body ended (an upper bound of the head's)."""
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._counted: str | None = None
        """The client address this connection is counted under, if it is."""
        self._refused = False

    def _gone(self) -> None:
        """Every request of the connection sees the client as gone."""
        raise NotImplementedError

    def refused(self) -> bool:
        """Answered by a limit: nothing more is read or answered on this connection."""
        return self._refused

    def admit(self) -> None:
        """A new connection: refused (503) over a connection cap, else counted and given
        `head_timeout` for its first request's head."""
        door = self.door
        if door.max_connections and len(self.connections) > door.max_connections:
            self._refuse(SERVER_FULL, "too_many_connections", "server.max_connections")
            return
        address = self.client[0] if self.client else None
        if address is not None and door.per_client:
            count = door.clients.get(address, 0)
            if count >= door.per_client:
                self._refuse(
                    CLIENT_FULL, "too_many_connections", "server.max_connections_per_client"
                )
                return
            door.clients[address] = count + 1
            self._counted = address
        self._arm(HEAD, door.head_timeout)

    def release(self) -> None:
        """The connection is closed: no deadline, and its place is free."""
        self._phase = IDLE
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        address = self._counted
        if address is not None:
            self._counted = None
            clients = self.door.clients
            left = clients.get(address, 1) - 1
            if left > 0:
                clients[address] = left
            else:
                clients.pop(address, None)

    # Deadlines

    def _arm(self, phase: int, timeout: float) -> None:
        self._phase = phase
        self._deadline = deadline = self.loop.time() + timeout
        timer = self._timer
        if timer is None or timer.when() > deadline:
            if timer is not None:
                timer.cancel()
            self._timer = self.loop.call_at(deadline, self._expire)

    def _expire(self) -> None:
        self._timer = None
        phase = self._phase
        if phase == IDLE or self.transport.is_closing():
            return
        now = self.loop.time()
        if phase == BODY and self.read_paused:
            # failsoft itself is not reading (a pipelined request waits its turn, or the app
            # has not taken the body yet): the caller gets the whole time again from here.
            self._deadline = now + self.door.body_timeout
        if now < self._deadline:  # moved on since the timer was set
            self._timer = self.loop.call_at(self._deadline, self._expire)
            return
        if phase == KEPT:
            self._phase = IDLE
            self.transport.close()
            return
        if phase == HEAD:
            if self._head_bytes == 0:  # nothing of a request: just close
                self._phase = IDLE
                self.transport.close()
                return
            self._refuse(HEAD_TIMEOUT, "head_timeout", "server.head_timeout")
            return
        cycle = self.parsing
        if cycle is not None and cycle.started:
            # Answered before the whole body came (a refusal): no more on this connection.
            self._phase = IDLE
            if cycle.complete:
                self.transport.close()
            else:
                cycle.keep_alive = False
            return
        self._refuse(BODY_TIMEOUT, "body_timeout", "server.body_timeout")

    def _refuse(self, response: bytes, kind: str, limit: str) -> None:
        """Answer `response` (it says `connection: close`), close, and read nothing more;
        a request being handled sees the client as gone."""
        self._refused = True
        self._phase = IDLE
        self._gone()
        transport = self.transport
        if not transport.is_closing():
            transport.write(response)
            if transport.can_write_eof():
                # A lingering close: what the client still sends is read and dropped for a
                # moment, so its kernel does not reset the connection (and discard this
                # answer) for data sent that we never read.
                transport.write_eof()
                self.loop.call_later(LINGER, close, transport)
            else:
                transport.close()
        address = self.client[0] if self.client else "-"
        self.door.refusals.refuse(kind, address, f"{limit} reached")
