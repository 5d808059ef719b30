"""The soak's load: one open-loop schedule at a fixed rate for the whole run, each tick
sending the next kind of request the `Picker` names, on that kind's own pool of keep-alive
connections (a stream holds its connection for ~40 ms; it must not delay the plain
requests). Built from the same parts as fsbench's `open_loop` (timerfd schedule, pools,
httptools client, `Tally`), but tallied per minute of the schedule, so that the report can
show whether latency or errors drift over a long run, and a minute's raw latencies are
dropped once it is summarised (a 30-minute run would otherwise keep millions)."""

from __future__ import annotations

import asyncio
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fsbench.loadgen.lane import Lane
from fsbench.loadgen.sample import Sample, now_ns
from fsbench.loadgen.tally import Tally
from fsbench.loadgen.timer import PeriodicTimer
from fsbench.soak.mix import Kind, Picker

SETTLE_S = 10.0
"""A minute is summarised this long after it ended: every request scheduled in it has
been answered by then unless it is broken (a later answer is counted in `late`)."""


@dataclass(slots=True)
class Minutes:
    """Per bucket of the schedule (`bucket_s` long), one `Tally` per kind while it is open,
    its summary once it is closed."""

    names: list[str]
    bucket_ns: int
    start_ns: int = 0
    end_ns: int = 0
    """The schedule's end (a last bucket may be shorter than the others)."""
    open: dict[int, list[Tally]] = field(default_factory=dict)
    closed: dict[int, dict[str, Any]] = field(default_factory=dict)
    late: int = 0

    def tally(self, sample: Sample, lane: int) -> Tally | None:
        bucket = (sample.t_sched - self.start_ns) // self.bucket_ns
        if bucket in self.closed:
            self.late += 1
            return None
        tallies = self.open.get(bucket)
        if tallies is None:
            tallies = self.open[bucket] = [Tally() for _ in self.names]
        return tallies[lane]

    async def close_before(self, t_ns: int, final: bool = False) -> list[int]:
        """Summarise the buckets that ended more than SETTLE_S before `t_ns` (all, when
        `final`); returns their numbers. This runs on the load's own event loop, so it
        yields after each kind (sorting a minute of latencies takes a few ms) and leaves out
        what the report does not show (time to first byte, gaps between events): the
        schedule's ticks should not wait for it."""
        done = []
        for bucket in sorted(self.open):
            end = self.start_ns + (bucket + 1) * self.bucket_ns
            if not final and end + SETTLE_S * 1e9 > t_ns:
                break
            tallies = self.open.pop(bucket)
            begin = self.start_ns + bucket * self.bucket_ns
            window = (min(end, self.end_ns or end) - begin) / 1e9
            row: dict[str, Any] = {"minute": bucket}
            if begin + self.bucket_ns > (self.end_ns or end):
                row["partial_s"] = round(window, 3)
            self.closed[bucket] = row  # from now on, an answer for it counts as late
            for name, tally in zip(self.names, tallies, strict=True):
                tally.window_s = window
                tally.ttfb = array("q")
                tally.gaps = array("q")
                row[name] = tally.summary()
                await asyncio.sleep(0)
            done.append(bucket)
        return done


@dataclass(slots=True)
class _Progress:
    sent: list[int]
    """Requests sent per lane."""
    ticks: int = 0
    late_ticks: int = 0
    finished: bool = False


async def mixed_open_loop(
    port: int,
    kinds: list[Kind],
    shares: dict[str, float],
    *,
    rate: float,
    duration: float,
    connections: int,
    minutes: Minutes,
    started: Callable[[int], None] | None = None,
    drain_timeout: float = 5.0,
) -> dict[str, Any]:
    """Send `rate` requests per second for `duration` seconds, the kinds mixed by `shares`;
    every exchange lands in `minutes`. `started(t0_ns)` runs when the schedule's clock is
    set (the RSS sampler's t=0). Returns the run's counts."""
    loop = asyncio.get_running_loop()
    lanes = [Lane(port, k.request(port), connections, sse=k.sse) for k in kinds]
    picker = Picker({kind.name: shares[kind.name] for kind in kinds})
    interval = round(1e9 / rate)
    in_flight: dict[Sample, int] = {}
    """Requests scheduled and not yet answered, with their lane."""
    all_done = loop.create_future()
    state = _Progress([0] * len(lanes))

    def answered(index: int) -> Callable[[Sample, str | None], None]:
        sse = kinds[index].sse

        def on_answer(sample: Sample, error: str | None) -> None:
            in_flight.pop(sample, None)
            tally = minutes.tally(sample, index)
            if tally is not None:
                tally.add(sample, error, sse, True)
            if not in_flight and state.finished and not all_done.done():
                all_done.set_result(None)

        return on_answer

    for index, lane in enumerate(lanes):
        lane.on_answer = answered(index)
        await lane.pool.open()
        lane.reset()

    total_ticks = int(duration * rate)
    start = now_ns() + 20_000_000
    minutes.start_ns = start
    minutes.end_ns = start + total_ticks * interval
    if started is not None:
        started(start)

    def on_ticks(count: int) -> None:
        if count > 1:
            state.late_ticks += count - 1
        for _ in range(count):
            if state.ticks >= total_ticks:
                break
            sample = Sample(start + state.ticks * interval)
            state.ticks += 1
            index = picker.next()
            state.sent[index] += 1
            in_flight[sample] = index
            lanes[index].submit(sample)
        if state.ticks >= total_ticks and not state.finished:
            state.finished = True
            timer.stop()
            if not in_flight and not all_done.done():
                all_done.set_result(None)

    timer = PeriodicTimer(start, interval, on_ticks)
    await timer.run_until(all_done, duration + drain_timeout + 1)
    unanswered = len(in_flight)
    never_sent = sum(len(lane.backlog) for lane in lanes)
    """Of those, still waiting for a free connection of their kind: the gateway fell so far
    behind the schedule that they were never sent."""
    for sample, index in in_flight.items():
        tally = minutes.tally(sample, index)
        if tally is not None:
            tally.errors["no answer (timeout)"] += 1
    for lane in lanes:
        await lane.pool.close()
    return {
        "scheduled": state.ticks,
        "sent": dict(zip([k.name for k in kinds], state.sent, strict=True)),
        "late_ticks": state.late_ticks,
        "unanswered": unanswered,
        "never_sent": never_sent,
        "precise_timer": timer.precise,
        "connects": sum(lane.pool.connects for lane in lanes),
        "reconnects": sum(lane.pool.reconnects for lane in lanes),
    }
