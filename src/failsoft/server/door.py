"""The connection layer: uvicorn's httptools protocol with the limits it lacks.

Read against uvicorn 0.55 / httptools 0.9. Left alone, a connection could grow the process
without bound (httptools joins a header's pieces until the header ends, uvicorn joins the
URL's: 300 MB of one header grew a gateway by 300 MB with no error) or be held forever
(nothing times out a request head or body: 500 connections sending a byte every 2 s stayed
open). `DoorProtocol` adds, from `server.*` (restart-only):

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

Only HTTP/1.1 through httptools: serve.py sets `ws: none` (no WebSocket protocol takes a
connection past these limits) and does not use h11.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from failsoft.config import ServerConfig
from failsoft.server.refusals import RefusalLog

log = logging.getLogger("failsoft.door")

IDLE, HEAD, BODY = 0, 1, 2
"""A connection's phase: between requests (or answering one), receiving a request head,
receiving its body."""


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


_DOORS: weakref.WeakKeyDictionary[ServerState, Door] = weakref.WeakKeyDictionary()
"""One Door per uvicorn server (its `ServerState` is shared by all its connections)."""


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


def _close(transport: asyncio.Transport) -> None:
    if not transport.is_closing():
        transport.close()


class _Refused(Exception):
    """Raised from a parser callback to stop the parser once the answer is written."""


class DoorProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with failsoft's limits (see the module docstring)."""

    def __init__(
        self,
        config: Any,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        door = _DOORS.get(server_state)
        if door is None:
            door = _DOORS[server_state] = Door(*_settings(self.app))
        self.door = door
        self._phase = IDLE
        self._head_bytes = 0
        """Bytes read since the last head or body ended (an upper bound of the head's)."""
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._counted: str | None = None
        """The client address this connection is counted under, if it is."""
        self._refused = False

    # Connections

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
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

    def connection_lost(self, exc: Exception | None) -> None:
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
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # uvicorn's own, with the head's bytes counted before the parser keeps them.
        if self._refused:
            return
        if self._phase != BODY:
            self._head_bytes += len(data)
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self._answered():  # a callback refused the request and stopped the parser
                return
            msg = "Invalid HTTP request received."
            self.logger.debug(msg)
            self.send_400_response(msg)
            return
        except httptools.HttpParserUpgrade:
            # No WebSocket protocol is configured: the request was answered as any other.
            pass
        if self._phase == HEAD and self._head_bytes > self.door.max_head_bytes:
            self._refuse(HEAD_TOO_LARGE, "head_too_large", "server.max_head_bytes")

    def _answered(self) -> bool:
        return self._refused

    # Parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._phase == IDLE:  # a kept-alive connection's next request
            self._arm(HEAD, self.door.head_timeout)

    def on_headers_complete(self) -> None:
        door = self.door
        if self._head_bytes > door.max_head_bytes and self._head_size() > door.max_head_bytes:
            self._refuse(HEAD_TOO_LARGE, "head_too_large", "server.max_head_bytes")
            raise _Refused
        if len(self.headers) > door.max_headers:
            self._refuse(TOO_MANY_HEADERS, "head_too_large", "server.max_headers")
            raise _Refused
        self._head_bytes = 0
        self._arm(BODY, door.body_timeout)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._phase = IDLE
        self._head_bytes = 0
        super().on_message_complete()

    def _head_size(self) -> int:
        """The head's size as received, near enough (a read may also have carried body
        bytes, which `_head_bytes` counts): request line and `name: value\\r\\n` lines."""
        return len(self.url) + 14 + sum(len(n) + len(v) + 4 for n, v in self.headers)

    # Deadlines

    def _arm(self, phase: int, timeout: float) -> None:
        self._phase = phase
        now = self.loop.time()
        self._deadline = now + timeout
        timer = self._timer
        if timer is None or timer.when() > self._deadline:
            if timer is not None:
                timer.cancel()
            self._timer = self.loop.call_at(self._deadline, self._expire)

    def _expire(self) -> None:
        self._timer = None
        phase = self._phase
        if phase == IDLE or self.transport.is_closing():
            return
        now = self.loop.time()
        if phase == BODY and self.flow.read_paused:
            # failsoft itself is not reading (a pipelined request waits its turn, or the app
            # has not taken the body yet): the caller gets the whole time again from here.
            self._deadline = now + self.door.body_timeout
        if now < self._deadline:  # moved on since the timer was set
            self._timer = self.loop.call_at(self._deadline, self._expire)
            return
        if phase == HEAD:
            if self._head_bytes == 0:  # nothing of a request: just close
                self._phase = IDLE
                self.transport.close()
                return
            self._refuse(HEAD_TIMEOUT, "head_timeout", "server.head_timeout")
            return
        cycle = self.cycle
        if cycle is not None and cycle.response_started:
            # Answered before the whole body came (a refusal): no more on this connection.
            self._phase = IDLE
            if cycle.response_complete:
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
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True
            cycle.message_event.set()
        transport = self.transport
        if not transport.is_closing():
            transport.write(response)
            if transport.can_write_eof():
                # A lingering close: what the client still sends is read and dropped for a
                # moment, so its kernel does not reset the connection (and discard this
                # answer) for data sent that we never read.
                transport.write_eof()
                self.loop.call_later(LINGER, _close, transport)
            else:
                transport.close()
        address = self.client[0] if self.client else "-"
        self.door.refusals.refuse(kind, address, f"{limit} reached")
