"""A TCP proxy that makes a real server look stopped or frozen, without touching it.

Tests put it in front of the machine's shared PostgreSQL (never stopped or frozen itself):

- `stop()`: the port refuses connections and open ones are reset, as when PostgreSQL is
  stopped;
- `freeze()`: connections are accepted and bytes read, but nothing is passed on in either
  direction (a hung server, a network partition that drops packets);
- `heal()`: bytes flow again (held ones first).

The proxy runs its own event loop in a daemon thread, so sync tests and gateways on other
loops can use it alike.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class FaultProxy:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.target = host, port
        self.port = 0
        self.state = "up"
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._links: set[asyncio.StreamWriter] = set()
        self.connections = 0

    @contextmanager
    def running(self) -> Iterator[FaultProxy]:
        thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        thread.start()
        self._do(self._listen())
        try:
            yield self
        finally:
            self._do(self._shutdown())
            self._loop.call_soon_threadsafe(self._loop.stop)
            thread.join(5)
            self._loop.close()

    def stop(self) -> None:
        self._do(self._stop())

    def freeze(self) -> None:
        self._do(self._set("frozen"))

    def heal(self) -> None:
        self._do(self._set("up"))

    # ------------------------------------------------------------------ on the proxy's loop

    def _do(self, coro: object) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)  # type: ignore[arg-type]

    async def _listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        self._server = await asyncio.start_server(self._accept, sock=sock)

    async def _stop(self) -> None:
        self.state = "stopped"
        self._flowing.set()
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._links):
            writer.transport.abort()

    async def _set(self, state: str) -> None:
        if self._server is None:
            await self._listen()
        self.state = state
        if state == "frozen":
            self._flowing.clear()
        else:
            self._flowing.set()

    async def _shutdown(self) -> None:
        await self._stop()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.state == "stopped":
            writer.transport.abort()
            return
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.target)
        except OSError:
            writer.transport.abort()
            return
        self._links.update((writer, up_writer))
        try:
            await asyncio.gather(
                self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
            )
        finally:
            for w in (writer, up_writer):
                self._links.discard(w)
                w.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        finally:
            writer.transport.abort()
