"""The outage benchmark's two loops on the load generator's event loop: the caller traffic
(open loop at a fixed rate, alternating plain and streaming requests or streams only, each
kind on its own keep-alive pool) and the reader of the simulator's request log, which keeps
only the last 1,000 attempts and so is read once a second during the run."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import orjson

from fsbench.loadgen.client import HOST
from fsbench.loadgen.lane import Lane
from fsbench.loadgen.sample import Sample, now_ns
from fsbench.loadgen.timer import PeriodicTimer
from fsbench.outage.exchange import Exchange, TrailConn


class _Lane(Lane):
    """One kind of request (plain or streaming) and the connections that carry it."""

    def __init__(self, port: int, stream: bool, request: bytes, connections: int) -> None:
        super().__init__(port, request, connections, conn_class=TrailConn)
        self.stream = stream
        self.on_answer = self._judge
        self.on_done: Callable[[], None] | None = None

    def _judge(self, sample: Sample, error: str | None) -> None:
        cast(Exchange, sample).judge(error)
        if self.on_done is not None:
            self.on_done()


@dataclass(slots=True)
class Load:
    """What one run of the traffic produced."""

    exchanges: list[Exchange]
    start_ns: int
    late_ticks: int
    precise_timer: bool
    reconnects: int


class Traffic:
    """`rate` requests per second on a fixed schedule, request i going to lane i % lanes;
    `collect`: keep each answer's text (see `Exchange.text`)."""

    def __init__(
        self,
        port: int,
        requests: Sequence[tuple[bool, bytes]],
        connections: int,
        collect: bool = False,
    ) -> None:
        self.lanes = [_Lane(port, stream, req, connections) for stream, req in requests]
        self.collect = collect

    async def open(self) -> None:
        for lane in self.lanes:
            await lane.pool.open()

    async def close(self) -> None:
        for lane in self.lanes:
            await lane.pool.close()

    async def run(self, start_ns: int, rate: float, duration: float, drain: float) -> Load:
        """Send from `start_ns` (CLOCK_MONOTONIC ns; a moment just past fires at once) for
        `duration` seconds, then wait up to `drain` seconds for the last answers."""
        loop = asyncio.get_running_loop()
        interval = round(1e9 / rate)
        total = round(duration * rate)
        exchanges: list[Exchange] = []
        finished = loop.create_future()
        state = {"ticks": 0, "late": 0, "answered": 0}
        lanes = self.lanes
        collect = self.collect
        reconnects = sum(lane.pool.reconnects for lane in lanes)

        def answered() -> None:
            state["answered"] += 1
            if state["answered"] >= total and not finished.done():
                finished.set_result(None)

        def on_ticks(count: int) -> None:
            if count > 1:
                state["late"] += count - 1
            for _ in range(count):
                k = state["ticks"]
                if k >= total:
                    break
                lane = lanes[k % len(lanes)]
                exchange = Exchange(start_ns + k * interval, k, lane.stream, collect)
                exchanges.append(exchange)
                state["ticks"] = k + 1
                lane.submit(exchange)
            if state["ticks"] >= total:
                timer.stop()

        for lane in lanes:
            lane.reset()
            lane.on_done = answered
        timer = PeriodicTimer(start_ns, interval, on_ticks)
        try:
            await timer.run_until(finished, duration + drain + 1.0)
        finally:
            for lane in lanes:
                lane.on_done = None
        for exchange in exchanges:
            exchange.abandon()
        return Load(
            exchanges,
            start_ns,
            state["late"],
            timer.precise,
            sum(lane.pool.reconnects for lane in lanes) - reconnects,
        )


# ---------------------------------------------------------------------- the simulator's log


async def get_json(port: int, path: str, limit: float = 5.0) -> Any:
    """A GET to 127.0.0.1 on a fresh connection, without blocking the event loop."""

    async def call() -> Any:
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nhost: {HOST}:{port}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = await reader.readexactly(length)
            if status != 200:
                raise RuntimeError(f"GET {path}: HTTP {status}: {body[:200]!r}")
            return orjson.loads(body)
        finally:
            writer.close()

    return await asyncio.wait_for(call(), limit)


@dataclass(slots=True)
class SimLog:
    """Every attempt the simulator saw, read in slices of what is new since the last read
    (`/_sim/stats` says how many): cheap for the simulator, which serializes each record."""

    port: int
    records: list[dict[str, Any]] = field(default_factory=list)
    gaps: int = 0
    """Reads that found none of the records already seen (some may have been lost)."""
    polls: int = 0
    poll_ms: list[float] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    _seen: set[str] = field(default_factory=set)
    _last_total: int = 0

    async def read(self) -> None:
        t0 = time.perf_counter()
        stats = await get_json(self.port, "/_sim/stats")
        total = int(stats.get("attempts", 0))
        fresh = total - self._last_total
        limit = min(1000, fresh + 50)
        reply = await get_json(self.port, f"/_sim/requests?limit={limit}")
        records = reply.get("requests", [])
        new = [r for r in records if r.get("request_id") not in self._seen]
        if self._seen and records and len(new) == len(records):
            self.gaps += 1
        for record in new:
            self._seen.add(record["request_id"])
            self.records.append(record)
        self.stats = stats
        self._last_total = total
        self.polls += 1
        self.poll_ms.append((time.perf_counter() - t0) * 1000.0)

    async def follow(self, interval: float, stop: asyncio.Event) -> None:
        """Read every `interval` seconds until `stop` is set, then once more."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            await self.read()


def monotonic_to_wall() -> float:
    """Seconds to add to a CLOCK_MONOTONIC reading (perf_counter) to get wall-clock time,
    which the simulator's request log and the gateway's log lines are stamped with."""
    best: tuple[int, float] | None = None
    for _ in range(5):
        a = now_ns()
        wall = time.time()
        b = now_ns()
        if best is None or b - a < best[0]:
            best = (b - a, wall - (a + b) / 2e9)
    assert best is not None
    return best[1]
