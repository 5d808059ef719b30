"""One HTTP/1.1 client connection to an upstream: an asyncio Protocol fed to httptools'
response parser, on the running loop (uvloop in production).

Why not aiohttp here: on the proxied path its client was about a fifth of the gateway's
CPU per request, mostly generic machinery (tracing hooks, cookie jars, redirects,
decompression, payload objects) the proxied path never uses. This connection does one
exchange at a time: it writes a request in one `write` and hands the response's status,
headers and body pieces to whoever waits, with failsoft's own errors.

Memory stays bounded per stream: reading pauses while more than `READ_BUFSIZE` bytes of
body wait unread, and resumes when they are read (docs/operations.md#memory-per-stream).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httptools

from failsoft.errors import BadResponse, ConnectionLost, UpstreamError
from failsoft.transport.headers import Headers

READ_BUFSIZE = 1 << 16
"""Unread body bytes above which reading pauses (one socket read may come on top)."""
READ_CHUNK = 1 << 15
"""The most one socket read takes: with READ_BUFSIZE, what one stream may hold unread
(loops read up to 256 KiB at once into a protocol that does not give its own buffer)."""

MAX_HEAD_BYTES = 256 << 10
"""The most a response head (informational ones included) or a proxy's CONNECT answer
may take: an upstream that never ends its headers must not grow the process (aiohttp
capped lines at 8 KiB and headers at 128; real heads are a few KiB)."""
MAX_HEADERS = 256
"""The most header names one response head may have (a repeated name keeps its first value
and takes no room: `MAX_HEAD_BYTES` bounds its lines)."""

_CROWDED = f"the response has more than {MAX_HEADERS} header names"
BEFORE = "the server closed the connection before answering"
MIDDLE = "the connection closed in the middle of the response"


class Connection(asyncio.BufferedProtocol):
    """One keep-alive connection: idle in its origin's pool, or busy with one exchange.

    `reusable` is true only after a response ended cleanly that the server did not mark
    `Connection: close`, and nothing went wrong since (no error, no cancelled read).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        key: tuple[str, str, int, str],
        buffer: memoryview | None = None,
    ) -> None:
        self.loop = loop
        self._buffer = buffer if buffer is not None else memoryview(bytearray(READ_CHUNK))
        """Where the loop reads into: shared by the loop's connections (origins.py), as
        every byte is parsed (and copied out) before the next read anywhere."""
        self.key = key
        self.transport: asyncio.Transport | None = None
        self._chunks: list[bytes] = []
        self.on_body = self._chunks.append
        """Called for every piece of body (every SSE event is one HTTP chunk): no Python frame
        per event (the list is emptied in place); `data_received` counts once per read."""
        self._raw: dict[bytes, bytes] = {}
        self.on_header = self._raw.setdefault  # no Python frame per header line
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self.exchanges = 0
        """Requests sent on this connection (above 1: it came from the pool)."""
        self._waiter: asyncio.Future[None] | None = None
        self._tunnel: bytearray | None = None
        # The exchange in progress.
        self._head_bytes = 0
        self._active = False
        self._received = False
        self._closed_quietly = False
        self._head_done = False
        self._informational = False
        self._complete = False
        self._keep = False
        self._until_close = False
        self._error: UpstreamError | None = None
        self._buffered = 0
        self._paused = False
        self._sink: Callable[[bytes], None] | None = None
        """Relay mode (`relay_to`): body pieces go here as they are parsed."""
        self._flush: Callable[[], None] | None = None
        """Relay mode: called once the pieces of one read have gone to `_sink`."""
        self.status = 0
        self.headers: Headers = Headers([])

    # -- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self._buffer[:nbytes])

    def data_received(self, data: bytes | memoryview) -> None:
        if self._tunnel is not None:
            self._tunnel += data
            if len(self._tunnel) > MAX_HEAD_BYTES and b"\r\n\r\n" not in self._tunnel:
                self._tunnel = None
                self._fail(BadResponse(f"the proxy's answer head exceeds {MAX_HEAD_BYTES} bytes"))
                self.close()
            self._wake()
            return
        if not self._active or self._complete:
            # An idle connection the server talks on, or bytes after a whole response:
            # no exchange can trust it any more (what was read stays readable).
            self._keep = False
            self.close()
            return
        self._received = True
        if not self._head_done:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._fail(BadResponse(f"the response head exceeds {MAX_HEAD_BYTES} bytes"))
                self.close()
                return
        chunks = self._chunks
        before = len(chunks)
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            if self._sink is not None and len(chunks) > before:
                self._to_sink(before)  # relay mode: what was parsed before the error
            self._unreadable(exc)
        else:
            if len(chunks) > before:
                if self._sink is None:
                    self._body_received(before)
                else:
                    self._to_sink(before)
            if len(self._raw) > MAX_HEADERS:  # a head or trailers spread over reads
                self._unreadable(BadResponse(_CROWDED))
        flush = self._flush
        if flush is not None:
            flush()  # relay mode: the pieces of this read, handled at once

    def _body_received(self, before: int) -> None:
        """Count the pieces one read added (`on_body` appends them), pause reading above
        `READ_BUFSIZE` unread bytes, wake the reader (`_wake` inlined, as in the callbacks)."""
        chunks = self._chunks
        self._buffered += sum(map(len, chunks[before:])) if before else sum(map(len, chunks))
        if self._buffered > READ_BUFSIZE and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        if (waiter := self._waiter) is not None and not waiter.done():  # (`_wake`)
            waiter.set_result(None)

    def _to_sink(self, before: int) -> None:
        """Relay mode: the pieces one read added go to the sink instead of waiting for
        `readany`. Should the sink end relay mode part-way, the rest queue for `readany`
        as usual (counted, paused past `READ_BUFSIZE`, the reader woken)."""
        chunks = self._chunks
        pieces = chunks[before:]
        del chunks[before:]
        for i, piece in enumerate(pieces):
            sink = self._sink
            if sink is None:
                chunks.extend(pieces[i:])
                self._body_received(before)
                return
            sink(piece)

    def _unreadable(self, exc: BaseException) -> None:
        if self._complete:
            self._keep = False  # garbage after a whole response: just not reusable
        elif self._head_done:
            self._fail(ConnectionLost(MIDDLE))
        else:
            self._fail(BadResponse(f"unreadable response ({_reason(exc)})"))
        self.close()

    def eof_received(self) -> bool | None:
        return None  # close our side too: HTTP/1.1 has no use for half-closed

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._keep = False
        if self._active and not self._complete and self._error is None:
            if not self._head_done:
                if exc is None:
                    self._closed_quietly = not self._received
                    self._error = ConnectionLost(BEFORE)
                else:
                    why = _why(exc)
                    self._error = ConnectionLost(f"connection lost before the response ({why})")
            elif self._until_close and exc is None:
                self._complete = True  # the body was delimited by the close
            else:
                self._error = ConnectionLost(MIDDLE)
        self._wake()

    def pause_writing(self) -> None:  # the request is written whole; nothing to pause
        pass

    def resume_writing(self) -> None:
        pass

    # -- httptools callbacks -----------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._complete:  # a second response to one request: stop parsing here
            raise BadResponse("more than one response to one request")
        self._raw.clear()

    def on_headers_complete(self) -> None:
        raw = self._raw
        if len(raw) > MAX_HEADERS:
            raise BadResponse(_CROWDED)
        status = self.parser.get_status_code()
        if status < 200:
            self._informational = True  # 100 Continue and the like: the answer follows
            return
        headers = self.headers = Headers.parsed(raw)
        index = headers._index  # (lower-case names: no call per lookup)
        raw.clear()  # trailers, if any, come next
        self.status = status
        self._until_close = (
            status not in (204, 304)
            and "content-length" not in index
            and "chunked" not in index.get("transfer-encoding", "").lower()
        )
        self._head_done = True
        if (waiter := self._waiter) is not None and not waiter.done():  # (`_wake`)
            waiter.set_result(None)

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        if len(self._raw) > MAX_HEADERS:  # trailers: a broken answer, as a head's would be
            raise BadResponse(_CROWDED)
        self._complete = True
        self._keep = self.parser.should_keep_alive() and not self._until_close
        if (waiter := self._waiter) is not None and not waiter.done():  # (`_wake`)
            waiter.set_result(None)

    # -- the exchange ------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Start an exchange: the whole request (head and body) in one write."""
        self._active = True
        self._received = False
        self._closed_quietly = False
        self._head_done = False
        self._complete = False
        self._keep = False
        self._until_close = False
        self._error = None
        self._head_bytes = 0
        self._chunks.clear()
        self._buffered = 0
        self._sink = self._flush = None
        self.exchanges += 1
        assert self.transport is not None
        self.transport.write(data)

    @property
    def stale(self) -> bool:
        """Whether this exchange met a keep-alive connection its server had closed: the
        connection had served before, and the server closed it (FIN, not a reset) without
        one byte of answer. The request is then safe to send again on a new connection: a
        server that read it and then closed would have had to answer or reset."""
        return self.exchanges > 1 and not self._received and self._closed_quietly

    def head_in(self) -> bool:
        """Whether the response's head is in (raises what ended the exchange before it):
        the sender awaits `waiter()` until it is, with no frame of ours in between."""
        if self._head_done:
            return True
        if self._error is not None:
            raise self._error
        if self.closed:
            raise ConnectionLost(BEFORE)
        return False

    def waiter(self) -> asyncio.Future[None]:
        """Resolved by the exchange's next event (whose wait is cancelled closes `self`)."""
        waiter = self._waiter = self.loop.create_future()
        return waiter

    def poll(self) -> bytes | None:
        """`readany` without waiting: the bytes here, b"" at a clean end, else None (it
        would wait or raise). A usual answer comes whole in one read: no coroutine then."""
        if not self._chunks:
            return b"" if self._complete else None
        return self._take()

    async def readany(self) -> bytes:
        """The body bytes available now, waiting for some; b"" at a clean end."""
        chunks = self._chunks
        while not chunks:
            if self._complete:
                return b""
            if self._error is not None:
                raise self._error
            if self.closed:
                raise ConnectionLost(MIDDLE)
            waiter = self._waiter = self.loop.create_future()
            try:
                await waiter
            except BaseException:
                # Cancelled mid-exchange: what follows on the wire is unknown to anyone.
                self._keep = False
                raise
        return self._take()

    def _take(self) -> bytes:
        """The body bytes buffered (some are), reading resumed if it was paused for them."""
        chunks = self._chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._buffered = 0
        if self._paused:
            self._paused = False
            if self.transport is not None:
                self.transport.resume_reading()
        return data

    # -- relay mode (router/streaming.py's committed relay) ---------------------------

    def relay_to(self, sink: Callable[[bytes], None], flush: Callable[[], None]) -> bool:
        """Hand each body piece to `sink` as it is parsed, inside the protocol's callback,
        instead of queueing it for `readany`, and call `flush` after each read's pieces
        (one batch per read, as `readany` would have joined them): a relayed stream's
        event then costs no task wake-up. False (and nothing changes) when pieces already
        wait to be read or the exchange is over: read them with `readany` first. Neither
        may raise; they end relay mode with `relay_stop` (later pieces queue for `readany`
        again, with the usual pause past `READ_BUFSIZE`) and wake the reader with
        `relay_wake`."""
        if self._chunks or self._complete or self._error is not None or self.closed:
            return False
        self._sink = sink
        self._flush = flush
        return True

    def relay_stop(self) -> None:
        self._sink = None
        self._flush = None

    def relay_wake(self) -> None:
        """Wake the task in `relay_wait`."""
        self._wake()

    async def relay_wait(self) -> None:
        """Wait, in relay mode, until the sink wakes us or the exchange ends, fails or its
        connection closes (what `readany` then returns or raises says which)."""
        if self._complete or self._error is not None or self.closed or self._chunks:
            return
        await self._wait()

    async def _wait(self) -> None:
        waiter = self._waiter = self.loop.create_future()
        try:
            await waiter
        except BaseException:
            # Cancelled mid-exchange: what follows on the wire is unknown to anyone.
            self._keep = False
            raise
        finally:
            self._waiter = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: UpstreamError) -> None:
        if self._error is None:
            self._error = error
        self._keep = False
        self._wake()

    @property
    def reusable(self) -> bool:
        return self._complete and self._keep and not self.closed and self._error is None

    def done(self) -> None:
        """The exchange is over and the connection goes idle (its pool checked `reusable`)."""
        self._active = False
        self._chunks.clear()
        self._buffered = 0
        self._sink = self._flush = None
        self.idle_since = self.loop.time()
        if self._paused:
            self._paused = False
            if self.transport is not None:
                self.transport.resume_reading()  # to notice the server closing it

    def close(self) -> None:
        self._keep = False
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.close()

    def abort(self) -> None:
        self._keep = False
        transport = self.transport
        if transport is not None:
            transport.abort()

    # -- CONNECT tunnels (origins.py) --------------------------------------------------

    async def tunnel(self, request: bytes) -> int:
        """Send a CONNECT request and return the proxy's status once its head arrived."""
        buffer = self._tunnel = bytearray()
        assert self.transport is not None
        self.transport.write(request)
        try:
            while b"\r\n\r\n" not in buffer:
                if self._error is not None:
                    raise self._error
                if self.closed:
                    raise ConnectionLost("the proxy closed the connection before answering")
                await self._wait()
        finally:
            self._tunnel = None
        line = bytes(buffer[: buffer.find(b"\r\n")])
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise BadResponse(f"unreadable proxy response ({line[:80]!r})")
        return int(parts[1])


def _reason(exc: BaseException) -> str:
    return str(exc).strip() or type(exc).__name__


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return _reason(exc)
