"""The open-loop load: requests are *scheduled* at a fixed rate, whatever the responses
do, so a slow answer cannot slow the load down and hide itself (coordinated omission).

Latency is kept twice: from the actual send time (uncorrected, like wrk2's uncorrected
histogram) and from the scheduled send time (corrected: a request that waits for a free
connection counts its wait).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from fsbench.loadgen.client import Conn
from fsbench.loadgen.pool import Pool
from fsbench.loadgen.sample import Sample, now_ns
from fsbench.loadgen.tally import Tally
from fsbench.loadgen.timer import PeriodicTimer


async def open_loop(
    port: int,
    request: bytes,
    *,
    rate: float,
    duration: float,
    warmup: float,
    connections: int = 16,
    drain_timeout: float = 5.0,
    mark: Callable[[str], None] | None = None,
    capture_attempts: bool = False,
) -> Tally:
    """Send `rate` requests per second on a fixed schedule for `warmup + duration` seconds.

    Only requests scheduled inside the measuring window (after the warm-up) are counted.
    `mark("start")` / `mark("end")` run at the window's edges (for CPU readings).
    """
    loop = asyncio.get_running_loop()
    tally = Tally()
    interval = round(1e9 / rate)
    idle: deque[Conn] = deque()
    backlog: deque[Sample] = deque()
    in_window: set[Sample] = set()
    outstanding = 0
    all_sent = loop.create_future()

    def done(conn: Conn, sample: Sample, error: str | None) -> None:
        nonlocal outstanding
        outstanding -= 1
        if sample in in_window:
            in_window.discard(sample)
            tally.add(sample, error, None, True)
        if not conn.closed:
            ready(conn)
        if outstanding == 0 and finished and not all_sent.done():
            all_sent.set_result(None)

    def ready(conn: Conn) -> None:
        if backlog:
            conn.send(request, backlog.popleft())
        else:
            idle.append(conn)

    pool = Pool(port, connections, done, capture_attempts=capture_attempts)
    pool.on_ready = ready
    await pool.open()
    idle.extend(pool.conns)

    total_ticks = int((warmup + duration) * rate)
    first_measured = int(warmup * rate)
    ticks = 0
    finished = False
    start = now_ns() + 20_000_000

    def on_ticks(count: int) -> None:
        nonlocal ticks, outstanding, finished
        if count > 1:
            tally.late_ticks += count - 1
        for _ in range(count):
            if ticks >= total_ticks:
                break
            if ticks == first_measured and mark is not None:
                mark("start")
            sample = Sample(start + ticks * interval)
            if ticks >= first_measured:
                in_window.add(sample)
            ticks += 1
            outstanding += 1
            while idle and idle[0].closed:
                idle.popleft()
            if idle:
                idle.popleft().send(request, sample)
            else:
                backlog.append(sample)
        if ticks >= total_ticks and not finished:
            finished = True
            if mark is not None:
                mark("end")
            timer.stop()
            if outstanding == 0 and not all_sent.done():
                all_sent.set_result(None)

    timer = PeriodicTimer(start, interval, on_ticks)
    await timer.run_until(all_sent, warmup + duration + drain_timeout + 1)
    for _sample in in_window:
        tally.errors["no answer (timeout)"] += 1
    tally.window_s = duration
    tally.connects = pool.connects
    tally.reconnects = pool.reconnects
    await pool.close()
    return tally
