"""One keep-alive HTTP/1.1 client connection as an asyncio Protocol with httptools'
response parser: no per-request objects beyond a `Sample`, so the client side stays cheap
next to what it measures."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import cast

import httptools

from fsbench.loadgen.sample import Sample, now_ns
from fsbench.loadgen.sse import Sse, scan_events

HOST = "127.0.0.1"
"""The only host the load generator ever connects to."""


def build_request(
    port: int, path: str, body: bytes, headers: Sequence[tuple[str, str]] = ()
) -> bytes:
    """One raw HTTP/1.1 POST (keep-alive) with a JSON body."""
    lines = [
        f"POST {path} HTTP/1.1",
        f"host: {HOST}:{port}",
        "content-type: application/json",
        "accept: application/json, text/event-stream",
        f"content-length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Conn(asyncio.Protocol):
    """One keep-alive client connection; one exchange at a time (no pipelining)."""

    def __init__(
        self,
        done: Callable[[Conn, Sample, str | None], None],
        lost: Callable[[Conn], None],
        sse: Sse | None,
        capture_attempts: bool,
    ) -> None:
        self._done = done
        self._lost = lost
        self._sse = sse
        self._capture = capture_attempts
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.current: Sample | None = None
        self.closed = False
        self._buf = b""
        self._connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        if not self._connected.done():
            self._connected.set_result(None)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._finish(f"bad response ({exc})")
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.current is not None:
            self._finish("connection closed mid-response")
        self._lost(self)

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        if self._capture and name.lower() == b"x-failsoft-attempts" and self.current is not None:
            self.current.attempts = value

    def on_headers_complete(self) -> None:
        if self.current is not None:
            self.current.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        sample = self.current
        if sample is None:
            return
        t = now_ns()
        if not sample.t_first:
            sample.t_first = t
        if self._sse is not None:
            self._buf = scan_events(self._sse, sample, self._buf, body, t)

    def on_message_complete(self) -> None:
        keep = self.parser.should_keep_alive()
        self._buf = b""
        self._finish(None)
        if not keep:
            self.close()

    # use
    async def connected(self) -> None:
        await self._connected

    def send(self, request: bytes, sample: Sample) -> None:
        assert self.transport is not None
        self.current = sample
        sample.t_send = now_ns()
        self.transport.write(request)

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()

    def _finish(self, error: str | None) -> None:
        sample, self.current = self.current, None
        if sample is not None:
            sample.t_done = now_ns()
            self._done(self, sample, error)
