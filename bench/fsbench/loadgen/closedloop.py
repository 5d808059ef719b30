"""The closed-loop load: every connection sends its next request as soon as the previous
answer is complete (wrk-style maximum throughput); with an `Sse` spec it measures streams
instead. Also the single request used to check a route before loading it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from fsbench.loadgen.client import Conn
from fsbench.loadgen.pool import Pool
from fsbench.loadgen.sample import Sample, now_ns
from fsbench.loadgen.sse import Sse
from fsbench.loadgen.tally import Tally


async def closed_loop(
    port: int,
    request: bytes,
    *,
    concurrency: int,
    duration: float,
    warmup: float,
    sse: Sse | None = None,
    drain_timeout: float = 5.0,
    mark: Callable[[str], None] | None = None,
    capture_attempts: bool = False,
) -> Tally:
    """`concurrency` connections, each sending its next request when the last one is done.

    Counts exchanges that complete inside the window `[warmup, warmup + duration]`.
    """
    loop = asyncio.get_running_loop()
    tally = Tally()
    state = {"measuring": False, "stopping": False}
    outstanding = 0
    drained = loop.create_future()

    def done(conn: Conn, sample: Sample, error: str | None) -> None:
        nonlocal outstanding
        outstanding -= 1
        if state["measuring"]:
            tally.add(sample, error, sse, False)
        if not conn.closed:
            ready(conn)
        if state["stopping"] and outstanding == 0 and not drained.done():
            drained.set_result(None)

    def ready(conn: Conn) -> None:
        nonlocal outstanding
        if state["stopping"]:
            return
        outstanding += 1
        conn.send(request, Sample(0))

    pool = Pool(port, concurrency, done, sse=sse, capture_attempts=capture_attempts)
    pool.on_ready = ready
    await pool.open()
    for conn in list(pool.conns):
        ready(conn)
    await asyncio.sleep(warmup)
    state["measuring"] = True
    if mark is not None:
        mark("start")
    t0 = now_ns()
    await asyncio.sleep(duration)
    state["measuring"] = False
    tally.window_s = (now_ns() - t0) / 1e9
    if mark is not None:
        mark("end")
    state["stopping"] = True
    if outstanding:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(drained, timeout=drain_timeout)
    tally.connects = pool.connects
    tally.reconnects = pool.reconnects
    await pool.close()
    return tally


async def one_request(port: int, request: bytes, wait: float = 5.0) -> tuple[int, str | None]:
    """Send one request on a fresh connection; (status, error)."""
    sample, error = await one_exchange(port, request, wait=wait)
    return sample.status, error


async def one_exchange(
    port: int, request: bytes, sse: Sse | None = None, wait: float = 5.0
) -> tuple[Sample, str | None]:
    """Send one request on a fresh connection and read the whole answer (with `sse`, its
    events as the loads read them); (its sample, error)."""
    loop = asyncio.get_running_loop()
    result: asyncio.Future[tuple[Sample, str | None]] = loop.create_future()

    def done(conn: Conn, sample: Sample, error: str | None) -> None:
        if not result.done():
            result.set_result((sample, error))

    pool = Pool(port, 1, done, sse=sse)
    await pool.open()
    pool.conns[0].send(request, Sample(0))
    try:
        return await asyncio.wait_for(result, wait)
    finally:
        await pool.close()
