"""Streaming phases: time to first content event against the simulator, and per-event
relay latency against the stamping upstream, in both dialects and translated (an OpenAI
caller, an Anthropic upstream). Both run as interleaved rounds (see `_streams`)."""

from __future__ import annotations

from fsbench.loadgen import ANTHROPIC_SSE, OPENAI_SSE, Sse
from fsbench.measure import Bench, closed_load
from fsbench.payloads import anthropic_request, openai_request
from fsbench.settings import DIRECT, FLOOR, TRANSLATED_RELAY


async def streaming(bench: Bench, levels: list[int], rounds: int) -> None:
    s = bench.setup
    cases: list[tuple[str, str, int, bytes, Sse]] = [
        (
            "openai",
            DIRECT,
            s.sim_port,
            openai_request(s.sim_port, "gpt-4o-stream", True),
            OPENAI_SSE,
        ),
        (
            "openai",
            FLOOR,
            s.floor_port,
            openai_request(s.floor_port, "gpt-4o-stream", True),
            OPENAI_SSE,
        ),
        ("openai", "gw", s.gw_port, openai_request(s.gw_port, "gpt-stream", True), OPENAI_SSE),
        (
            "anthropic",
            DIRECT,
            s.sim_port,
            anthropic_request(s.sim_port, "claude-sonnet-4-5-stream"),
            ANTHROPIC_SSE,
        ),
        (
            "anthropic",
            FLOOR,
            s.floor_port,
            anthropic_request(s.floor_port, "claude-sonnet-4-5-stream"),
            ANTHROPIC_SSE,
        ),
        (
            "anthropic",
            "gw",
            s.gw_port,
            anthropic_request(s.gw_port, "claude-stream"),
            ANTHROPIC_SSE,
        ),
    ]
    await _streams(bench, "streaming", cases, levels, rounds)


async def relay(bench: Bench, levels: list[int], rounds: int) -> None:
    s = bench.setup
    stamped_openai = Sse(OPENAI_SSE.content, OPENAI_SSE.terminal, stamped=True)
    stamped_anthropic = Sse(ANTHROPIC_SSE.content, ANTHROPIC_SSE.terminal, stamped=True)
    cases: list[tuple[str, str, int, bytes, Sse]] = [
        (
            "openai",
            DIRECT,
            s.stamp_port,
            openai_request(s.stamp_port, "gpt-stamp", True),
            stamped_openai,
        ),
        (
            "openai",
            "gw",
            s.gw_port,
            openai_request(s.gw_port, "stamp-gpt", True),
            stamped_openai,
        ),
        (
            "anthropic",
            DIRECT,
            s.stamp_port,
            anthropic_request(s.stamp_port, "claude-stamp"),
            stamped_anthropic,
        ),
        (
            "anthropic",
            "gw",
            s.gw_port,
            anthropic_request(s.gw_port, "stamp-claude"),
            stamped_anthropic,
        ),
        # translated: an OpenAI caller, the Anthropic side of the stamping upstream; its
        # added latency is against the anthropic direct row (the same upstream stream)
        (
            TRANSLATED_RELAY,
            "gw",
            s.gw_port,
            openai_request(s.gw_port, "stamp-claude", True),
            stamped_openai,
        ),
    ]
    await _streams(bench, "relay", cases, levels, rounds)


async def _streams(
    bench: Bench,
    section: str,
    cases: list[tuple[str, str, int, bytes, Sse]],
    levels: list[int],
    rounds: int,
) -> None:
    """Per stream count, `rounds` rounds of every case, each round starting one case later
    (direct, floor and gateway of a dialect close together, in a different order each
    round), so that drift in the machine's load falls on all rows alike; the phase's window
    and warm-up are split over the rounds, so the section takes about as long as one pass.
    The rows carry `round`; the report compares each with the direct row of its round."""
    timing = {name: value / rounds for name, value in bench.timing("stream").items()}
    for conc in levels:
        for number in range(1, rounds + 1):
            shift = (number - 1) % len(cases)
            for dialect, path, port, request, sse in cases[shift:] + cases[:shift]:
                await bench.measure(
                    section,
                    {"round": number, "dialect": dialect, "streams": conc, "path": path},
                    closed_load(port, request, concurrency=conc, sse=sse, **timing),
                )
