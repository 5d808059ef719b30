"""Non-streaming phases: fixed request rates (open loop), maximum throughput and long
answers (closed loop), each over the direct path, the floor proxy and both gateway modes;
fixed rates also over "direct stream", the simulator streaming as it does for gw as=on."""

from __future__ import annotations

from fsbench import loadgen
from fsbench.measure import Bench, Load, closed_load, open_load
from fsbench.payloads import openai_request
from fsbench.settings import ANSWER_TOKENS, DIRECT, DIRECT_STREAM, FLOOR, GW_AS, GW_NS


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


def fixed_paths(bench: Bench) -> list[tuple[str, int, bytes]]:
    """The non-streaming paths plus "direct stream": the request gw as=on sends upstream
    (stream + include_usage) sent straight to the simulator; the load generator counts it
    complete at the end of the chunked body, as it counts a JSON answer at its end."""
    port = bench.setup.sim_port
    stream = (DIRECT_STREAM, port, openai_request(port, "gpt-4o", True, include_usage=True))
    paths = nonstream_paths(bench)
    return [paths[0], stream, *paths[1:]]


async def check_stream(port: int, request: bytes) -> None:
    """The open loop does not read the events, so check once, reading them, that the
    stream is whole (every content event and the terminal `[DONE]`)."""
    tally = await loadgen.closed_loop(
        port, request, concurrency=1, duration=0.05, warmup=0.0, sse=loadgen.OPENAI_SSE
    )
    per_stream = tally.content_events / tally.ok if tally.ok else 0
    if tally.errors or not tally.ok or per_stream != ANSWER_TOKENS:
        raise RuntimeError(
            f"direct stream check failed: {tally.ok} ok, errors {dict(tally.errors)}, "
            f"{per_stream:g} content events per stream (expected {ANSWER_TOKENS})"
        )


def fixed_rate_load(bench: Bench, port: int, request: bytes, rate: int, connections: int) -> Load:
    """Section 1's open loop (also each round of --compare)."""
    return open_load(port, request, rate=rate, connections=connections, **bench.timing("fixed"))


def throughput_load(bench: Bench, port: int, request: bytes, concurrency: int) -> Load:
    """Section 2's (and 2b's) closed loop (also each round of --compare)."""
    return closed_load(port, request, concurrency=concurrency, **bench.timing("closed"))


async def fixed_rates(bench: Bench, rates: list[int], connections: int) -> None:
    paths = fixed_paths(bench)
    await check_stream(*next((port, req) for path, port, req in paths if path == DIRECT_STREAM))
    for rate in rates:
        for path, port, request in paths:
            await bench.measure(
                "fixed_rate",
                {"rate": rate, "path": path},
                fixed_rate_load(bench, port, request, rate, connections),
            )


async def _closed(bench: Bench, section: str, levels: list[int], long: bool) -> None:
    for conc in levels:
        for path, port, request in nonstream_paths(bench, long):
            await bench.measure(
                section,
                {"connections": conc, "path": path},
                throughput_load(bench, port, request, conc),
            )


async def throughput(bench: Bench, levels: list[int]) -> None:
    await _closed(bench, "throughput", levels, long=False)


async def answer_length(bench: Bench, concurrency: int) -> None:
    """Throughput with a long answer (500 tokens): in always_stream mode every token is an
    event, so this row against section 2's at the same concurrency gives the gateway's CPU
    per answered token."""
    await _closed(bench, "length", [concurrency], long=True)
