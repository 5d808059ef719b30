"""A fixed pool of keep-alive connections to one port: a load keeps its number of
connections even when the server closes some, and counts how often that happened."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from fsbench.loadgen.client import HOST, Conn
from fsbench.loadgen.sample import Sample
from fsbench.loadgen.sse import Sse


class Pool:
    """N keep-alive connections to one port; a lost connection is replaced."""

    def __init__(
        self,
        port: int,
        size: int,
        on_done: Callable[[Conn, Sample, str | None], None],
        sse: Sse | None = None,
        capture_attempts: bool = False,
        conn_class: type[Conn] = Conn,
    ) -> None:
        """`conn_class`: a `Conn` subclass that records more of each exchange (same
        constructor)."""
        self.port = port
        self.size = size
        self._on_done = on_done
        self._sse = sse
        self._capture = capture_attempts
        self._conn_class = conn_class
        self.conns: list[Conn] = []
        self.connects = 0
        self.reconnects = 0
        self.on_ready: Callable[[Conn], None] | None = None
        self._closing = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        await asyncio.gather(*(self._connect() for _ in range(self.size)))

    async def _connect(self) -> Conn:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(
            lambda: self._conn_class(self._on_done, self._lost, self._sse, self._capture),
            HOST,
            self.port,
        )
        await conn.connected()
        self.connects += 1
        self.conns.append(conn)
        return conn

    def _lost(self, conn: Conn) -> None:
        if conn in self.conns:
            self.conns.remove(conn)
        if self._closing:
            return
        self.reconnects += 1
        task = asyncio.get_running_loop().create_task(self._replace())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _replace(self) -> None:
        try:
            conn = await self._connect()
        except OSError:
            await asyncio.sleep(0.01)
            if not self._closing:
                self._lost_replacement_failed()
            return
        if self.on_ready is not None and not self._closing:
            self.on_ready(conn)

    def _lost_replacement_failed(self) -> None:
        task = asyncio.get_running_loop().create_task(self._replace())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        for conn in list(self.conns):
            conn.close()
        await asyncio.sleep(0)
