"""failsoft's HTTP/1.1 connection: httptools' parser, the ASGI app, and the limits.

uvicorn still runs the server (sockets, TLS, workers, signals, lifespan, graceful shutdown:
`uvicorn.Config(http=HttpProtocol)`), but not the connection: its protocol cost, per
request, a task, an `asyncio.Event`, a scope dict built key by key, two regex searches
per response header and two writes per response. This one keeps uvicorn's semantics
(server/cycle.py has the request side) with less work:

- one task per connection, started by its first request, runs its requests in order;
  pipelined requests wait in a queue (the socket is not read meanwhile). Between
  requests the task waits on a bare future (in process, 10 % fewer instructions per
  request than a task per request: bench/protocol_micro.py). The app's context is the
  task's: failsoft's one ContextVar (`logjson.TRACE_IDS`) is reset between requests.
- the scope is one dict display; the path is split off the query without a URL parser
  for the usual origin-form target.
- uvicorn's shutdown protocol is honoured: the connection is in `server_state.connections`
  (`shutdown()` closes it when idle or after the response in progress), its task in
  `server_state.tasks`; `server_state.total_requests` counts answers.
- a kept-alive connection idle for `timeout_keep_alive` is closed, on the same lazily
  moved timer as the limits' deadlines.

The limits (server/door.py) are applied here: the head's bytes are counted per read
before the parser keeps them, the deadlines move with the connection's phase.

Only HTTP/1.1 through httptools (HTTP/1.0 requests are answered and closed): an
`Upgrade` request is answered like any other and keeps the connection under the limits.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any
from urllib.parse import unquote

import httptools

from failsoft.logjson import TRACE_IDS
from failsoft.server import door as limits
from failsoft.server.cycle import HIGH_WATER, Cycle, send_500
from failsoft.server.door import BODY, HEAD, IDLE, KEPT, Limits, door_of

log = logging.getLogger("uvicorn.error")

METHODS = {m.encode(): m for m in ("GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH")}

BAD_REQUEST = (
    limits.STATUS_LINE[400] + b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 29\r\nconnection: close\r\n\r\nInvalid HTTP request received."
)
"""uvicorn's answer to what the parser refuses."""


def _address(transport: asyncio.BaseTransport, name: str) -> tuple[str, int] | None:
    """A TCP socket's own or peer address (None for a Unix socket), as the scope has it."""
    info = transport.get_extra_info(name)
    if isinstance(info, (list, tuple)) and len(info) >= 2:
        return str(info[0]), int(info[1])
    return None


class HttpProtocol(Limits):
    """One client connection (see the module docstring). Built by uvicorn's server with
    its config and shared state, as its own protocols are."""

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not config.loaded:
            config.load()
        self.app = config.loaded_app
        self.loop = _loop or asyncio.get_event_loop()
        self.server_state = server_state
        self.connections: set[Any] = server_state.connections
        self.app_state = app_state
        self.root_path: str = config.root_path
        self.keep_alive_timeout = float(config.timeout_keep_alive)
        self.asgi = {"version": config.asgi_version, "spec_version": "2.3"}
        self.door = door_of(server_state, self.app)
        self.parser = httptools.HttpRequestParser(self)
        self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.server: tuple[str, int] | None = None
        self.client: tuple[str, int] | None = None
        self.scheme = "http"
        # The request being parsed
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.expect_100 = False
        self.parsing: Cycle | None = None
        """The request whose body is arriving."""
        # The requests being answered
        self.current: Cycle | None = None
        self.queue: deque[Cycle] = deque()
        self._task: asyncio.Task[None] | None = None
        self._next: asyncio.Future[Cycle | None] | None = None
        # Flow
        self.read_paused = False
        self.write_paused = False
        self._writable: list[asyncio.Future[None]] = []
        self.closed = False
        self.limits_init()

    # Connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.connections.add(self)
        self.transport = transport  # type: ignore[assignment]
        self.server = _address(transport, "sockname")
        self.client = _address(transport, "peername")
        self.scheme = "https" if transport.get_extra_info("sslcontext") else "http"
        self.admit()

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        self.closed = True
        self.release()
        self._gone()
        self.resume_writing()
        waiter, self._next = self._next, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if exc is None:
            self.transport.close()

    def _gone(self) -> None:
        for cycle in (self.current, self.parsing, *self.queue):
            if cycle is not None:
                cycle.gone()

    def eof_received(self) -> None:
        pass

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._phase != BODY:
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.refused():  # a callback refused the request and stopped the parser
                return
            log.debug("Invalid HTTP request received.")
            self._refused = True
            self.transport.write(BAD_REQUEST)
            self.transport.close()
            return
        except httptools.HttpParserUpgrade:
            pass  # no WebSocket protocol: the request was answered as any other
        if self._phase == HEAD and self._head_bytes > self.door.max_head_bytes:
            self._refuse(limits.HEAD_TOO_LARGE, "head_too_large", "server.max_head_bytes")

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown: close now if idle, else after this response."""
        cycle = self.current
        if cycle is None or cycle.complete:
            self.transport.close()
        else:
            cycle.keep_alive = False

    # Flow control

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        waiters = self._writable
        if waiters:
            self._writable = []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def drain(self) -> None:
        """Until the client has read enough of what was written (or is gone)."""
        waiter = self.loop.create_future()
        self._writable.append(waiter)
        await waiter

    def pause_reading(self) -> None:
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()

    # Parser callbacks

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []
        self.expect_100 = False
        if self._phase != HEAD:  # a kept-alive connection's next request
            self._arm(HEAD, self.door.head_timeout)

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        value = value.rstrip(b" \t")  # llhttp keeps trailing whitespace (RFC 9110 5.5)
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100 = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        door = self.door
        headers = self.headers
        if self._head_bytes > door.max_head_bytes and self._head_size() > door.max_head_bytes:
            self._refuse(limits.HEAD_TOO_LARGE, "head_too_large", "server.max_head_bytes")
            raise limits.Refused
        if len(headers) > door.max_headers:
            self._refuse(limits.TOO_MANY_HEADERS, "head_too_large", "server.max_headers")
            raise limits.Refused
        self._head_bytes = 0
        self._arm(BODY, door.body_timeout)
        parser = self.parser
        raw = parser.get_method()
        method = METHODS.get(raw) or raw.decode("ascii")
        version = parser.get_http_version()
        url = self.url
        # (`find`, not `in`: `bytes in bytes` first tries the needle as an int, a
        # TypeError raised and cleared, ~1,000 instructions more per request)
        if url[:1] == b"/" and url.find(b"#") < 0:
            raw_path, _, query = url.partition(b"?")
        else:
            parsed = httptools.parse_url(url)
            raw_path, query = parsed.path, parsed.query or b""
        path = raw_path.decode("ascii")
        if "%" in path:
            path = unquote(path)
        root = self.root_path
        if root:
            path = root + path
            raw_path = root.encode("ascii") + raw_path
        cycle = Cycle(
            self,
            {
                "type": "http",
                "asgi": self.asgi,
                "http_version": version,
                "server": self.server,
                "client": self.client,
                "scheme": self.scheme,
                "root_path": root,
                "headers": headers,
                "state": self.app_state.copy(),
                "method": method,
                "path": path,
                "raw_path": raw_path,
                "query_string": query,
            },
            version != "1.0" and parser.should_keep_alive(),
            self.expect_100,
            method == "HEAD",
        )
        self.parsing = cycle
        if self.current is None:
            self._start(cycle)
        else:  # pipelined: answered in turn, nothing more read meanwhile
            self.pause_reading()
            self.queue.append(cycle)

    def on_body(self, body: bytes) -> None:
        cycle = self.parsing
        if cycle is None or cycle.complete:
            return
        cycle.body += body
        if len(cycle.body) > HIGH_WATER:
            self.pause_reading()
        cycle.wake()

    def on_message_complete(self) -> None:
        self._phase = IDLE
        self._head_bytes = 0
        cycle = self.parsing
        self.parsing = None
        if cycle is None or cycle.complete:
            return
        cycle.more_body = False
        cycle.wake()

    def _head_size(self) -> int:
        """The head's size as received, near enough (a read may also have carried body
        bytes, which `_head_bytes` counts): request line and `name: value\\r\\n` lines."""
        return len(self.url) + 14 + sum(len(n) + len(v) + 4 for n, v in self.headers)

    # Running the app

    def _start(self, cycle: Cycle) -> None:
        self.current = cycle
        waiter = self._next
        if waiter is not None:
            self._next = None
            waiter.set_result(cycle)
        elif self._task is None:
            task = self._task = self.loop.create_task(self._serve(cycle))
            tasks = self.server_state.tasks
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    async def _serve(self, cycle: Cycle | None) -> None:
        """The connection's requests, one after the other, until it closes. The app is
        called here, not in a coroutine of its own per request; what goes wrong is handled
        by `_failed` and `_returned`."""
        app = self.app
        try:
            while cycle is not None:
                try:
                    result = await app(cycle.scope, cycle.receive, cycle.send)
                except BaseException as exc:
                    if not await self._failed(cycle, exc):
                        return
                else:
                    if result is not None or not cycle.complete:
                        await self._returned(cycle, result)
                self.current = None
                if TRACE_IDS.get() is not None:
                    # The task outlives the request: what it set in its context must not
                    # tag the next request's log lines (failsoft's one ContextVar).
                    TRACE_IDS.set(None)
                if self.closed or self._refused or self.transport.is_closing():
                    return
                if self.queue:
                    cycle = self.current = self.queue.popleft()
                    continue
                waiter = self._next = self.loop.create_future()
                cycle = await waiter
        finally:
            self._task = self._next = None

    async def _failed(self, cycle: Cycle, exc: BaseException) -> bool:
        """The app raised: False if the connection must not serve more."""
        log.error("Exception in ASGI application\n", exc_info=exc)
        if not cycle.started:
            await send_500(cycle)
        else:
            cycle.flush()
            self.transport.close()
        if not isinstance(exc, Exception):  # cancelled (shutdown backstop) or exiting
            self.transport.close()
            return False
        return True

    async def _returned(self, cycle: Cycle, result: object) -> None:
        """The app returned something, or without completing its response."""
        if result is not None:
            log.error("ASGI callable should return None, but returned '%s'.", result)
            cycle.flush()
            self.transport.close()
        elif not cycle.started and not cycle.disconnected:
            log.error("ASGI callable returned without starting response.")
            await send_500(cycle)
        elif not cycle.complete and not cycle.disconnected:
            log.error("ASGI callable returned without completing response.")
            cycle.flush()
            self.transport.close()

    def answered(self) -> None:
        """A response is complete (from `Cycle.send`)."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        if self.read_paused:
            self.resume_reading()
        if self._phase == IDLE and self.parsing is None and not self.queue:
            self._arm(KEPT, self.keep_alive_timeout)
