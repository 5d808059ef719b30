"""Non-streaming phases: fixed request rates (open loop), maximum throughput and long
answers (closed loop), each over the direct path, the floor proxy and both gateway modes."""

from __future__ import annotations

from fsbench import loadgen
from fsbench.measure import Bench
from fsbench.payloads import openai_request
from fsbench.settings import DIRECT, FLOOR, GW_AS, GW_NS


def nonstream_paths(bench: Bench, long: bool = False) -> list[tuple[str, int, bytes]]:
    s = bench.setup
    suffix = "-long" if long else ""
    return [
        (DIRECT, s.sim_port, openai_request(s.sim_port, "gpt-4o" + suffix)),
        # the floor forwards the body as it is, so it gets the simulator's model names
        (FLOOR, s.floor_port, openai_request(s.floor_port, "gpt-4o" + suffix)),
        (GW_AS, s.gw_port, openai_request(s.gw_port, "gpt" + suffix)),
        (GW_NS, s.gw_port, openai_request(s.gw_port, "gpt-ns" + suffix)),
    ]


async def fixed_rates(bench: Bench, rates: list[int], connections: int) -> None:
    for rate in rates:
        for path, port, request in nonstream_paths(bench):
            await bench.measure(
                "fixed_rate",
                {"rate": rate, "path": path},
                lambda mark, port=port, request=request, rate=rate: loadgen.open_loop(
                    port,
                    request,
                    rate=rate,
                    duration=bench.d.fixed,
                    warmup=bench.d.fixed_warmup,
                    connections=connections,
                    mark=mark,
                ),
            )


async def throughput(bench: Bench, levels: list[int]) -> None:
    for conc in levels:
        for path, port, request in nonstream_paths(bench):
            await bench.measure(
                "throughput",
                {"connections": conc, "path": path},
                lambda mark, port=port, request=request, conc=conc: loadgen.closed_loop(
                    port,
                    request,
                    concurrency=conc,
                    duration=bench.d.closed,
                    warmup=bench.d.closed_warmup,
                    mark=mark,
                ),
            )


async def answer_length(bench: Bench, concurrency: int) -> None:
    """Throughput with a long answer: in always_stream mode every token is an event."""
    for path, port, request in nonstream_paths(bench, long=True):
        await bench.measure(
            "length",
            {"connections": concurrency, "path": path},
            lambda mark, port=port, request=request: loadgen.closed_loop(
                port,
                request,
                concurrency=concurrency,
                duration=bench.d.closed,
                warmup=bench.d.closed_warmup,
                mark=mark,
            ),
        )
