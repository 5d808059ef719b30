"""One kind of request on its own pool of keep-alive connections, for the open loops that
mix kinds (the outage benchmark's plain and streaming callers, the soak's mix): a request
scheduled while every connection of its lane is busy waits in the lane's backlog for the
next free one, so a slow kind (streams) never delays another."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from fsbench.loadgen.client import Conn
from fsbench.loadgen.pool import Pool
from fsbench.loadgen.sample import Sample
from fsbench.loadgen.sse import Sse


class Lane:
    """The request of one kind, its pool, its idle connections and its waiting requests.
    `on_answer(sample, error)` runs for every exchange that ends, before its connection
    takes the next waiting request."""

    def __init__(
        self,
        port: int,
        request: bytes,
        connections: int,
        *,
        sse: Sse | None = None,
        conn_class: type[Conn] = Conn,
    ) -> None:
        self.request = request
        self.idle: deque[Conn] = deque()
        self.backlog: deque[Sample] = deque()
        self.on_answer: Callable[[Sample, str | None], None] | None = None
        self.pool = Pool(port, connections, self._done, sse=sse, conn_class=conn_class)
        self.pool.on_ready = self.ready

    def _done(self, conn: Conn, sample: Sample, error: str | None) -> None:
        if self.on_answer is not None:
            self.on_answer(sample, error)
        if not conn.closed:
            self.ready(conn)

    def ready(self, conn: Conn) -> None:
        if self.backlog:
            conn.send(self.request, self.backlog.popleft())
        else:
            self.idle.append(conn)

    def submit(self, sample: Sample) -> None:
        while self.idle and self.idle[0].closed:
            self.idle.popleft()
        if self.idle:
            self.idle.popleft().send(self.request, sample)
        else:
            self.backlog.append(sample)

    def reset(self) -> None:
        """Before a run: nothing waiting, every open connection without an exchange idle."""
        self.backlog.clear()
        self.idle = deque(c for c in self.pool.conns if not c.closed and c.current is None)
