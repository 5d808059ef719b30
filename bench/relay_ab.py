"""A/B of the streaming relay: CPU per relayed event and first-content added latency of
two gateway trees in interleaved rounds of one sitting.

    python bench/relay_ab.py --ref /work/main/src [--rounds 5] [--streams 16]

"B" is this tree's gateway, "A" the gateway run from `--ref` (a `src` directory), both
with run.py's generated config, pinned to the same core. Each round measures, A then B
(B then A in odd rounds), the `relay` cases of run.py (the stamping upstream, one event
per 2 ms: OpenAI, Anthropic, and an OpenAI caller on the Anthropic upstream) and the
`streaming` first-content cases against the simulator, plus the direct rows they are
compared with. Reported: the gateway's CPU (user+sys from /proc) per content event
received by the load generator, and first content added p50 (gateway − direct), as
median and range over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fsbench import loadgen
from fsbench.loadgen import ANTHROPIC_SSE, OPENAI_SSE, Sse
from fsbench.measure import Bench
from fsbench.noise import Noise
from fsbench.payloads import anthropic_request, openai_request
from fsbench.procs import Pinning
from fsbench.settings import Durations
from fsbench.testbed import Setup

STAMPED_OPENAI = Sse(OPENAI_SSE.content, OPENAI_SSE.terminal, stamped=True)
STAMPED_ANTHROPIC = Sse(ANTHROPIC_SSE.content, ANTHROPIC_SSE.terminal, stamped=True)


def relay_cases(port: int) -> list[tuple[str, bytes, Sse]]:
    return [
        ("openai", openai_request(port, "stamp-gpt", True), STAMPED_OPENAI),
        ("anthropic", anthropic_request(port, "stamp-claude"), STAMPED_ANTHROPIC),
        ("translated", openai_request(port, "stamp-claude", True), STAMPED_OPENAI),
    ]


def first_cases(port: int) -> list[tuple[str, bytes, Sse]]:
    return [
        ("openai", openai_request(port, "gpt-stream", True), OPENAI_SSE),
        ("anthropic", anthropic_request(port, "claude-stream"), ANTHROPIC_SSE),
    ]


def direct_first(port: int) -> list[tuple[str, bytes, Sse]]:
    return [
        ("openai", openai_request(port, "gpt-4o-stream", True), OPENAI_SSE),
        ("anthropic", anthropic_request(port, "claude-sonnet-4-5-stream"), ANTHROPIC_SSE),
    ]


async def rounds(bench: Bench, count: int, streams: int) -> dict[str, dict[str, list[float]]]:
    s = bench.setup
    out: dict[str, dict[str, list[float]]] = {"A": {}, "B": {}}

    async def load(
        section: str, labels: dict[str, Any], port: int, request: bytes, sse: Sse, proxy: str
    ) -> dict[str, Any]:
        return await bench.measure(
            section,
            labels,
            lambda mark: loadgen.closed_loop(
                port,
                request,
                concurrency=streams,
                duration=bench.d.stream,
                warmup=bench.d.stream_warmup,
                sse=sse,
                mark=mark,
            ),
            proxy=proxy,
        )

    for number in range(count):
        direct: dict[str, float] = {}
        for name, request, sse in direct_first(s.sim_port):
            row = await load(
                "streaming",
                {"path": "direct", "dialect": name},
                s.sim_port,
                request,
                sse,
                "gateway",
            )
            direct[name] = row["ttfc_us"]["p50"]
        order = (("A", "ref"), ("B", "gateway"))
        if number % 2:
            order = order[::-1]
        for rev, proxy in order:
            port = s.port_of(proxy)
            for name, request, sse in relay_cases(port):
                labels = {"path": "gw", "rev": rev, "dialect": name, "round": number}
                row = await load("relay", labels, port, request, sse, proxy)
                out[rev].setdefault(f"cpu {name}", []).append(row["gw_cpu_us_per_unit"])
            for name, request, sse in first_cases(port):
                labels = {"path": "gw", "rev": rev, "dialect": name, "round": number}
                row = await load("streaming", labels, port, request, sse, proxy)
                added = row["ttfc_us"]["p50"] - direct[name]
                out[rev].setdefault(f"first {name}", []).append(added)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", type=Path, required=True, help="the A gateway's src directory")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--streams", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=3.0, help="measured window per case")
    args = parser.parse_args()
    pinning = Pinning.plan(True)
    pinning.pin_self()
    durations = dataclasses.replace(
        Durations.for_mode(False, 1.0), stream=args.seconds, stream_warmup=0.5
    )
    import uvloop

    with tempfile.TemporaryDirectory(prefix="failsoft-relay-ab-") as tmp:
        setup = Setup(pinning, Path(tmp), "info", args.ref.resolve())
        noise = Noise(15.0, 0, 1.0)
        bench = Bench(setup, durations, noise, verbose=True)
        try:
            setup.start()
            time.sleep(1.0)
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                for port in (setup.gw_port, setup.ref_port):
                    for _, request, _ in relay_cases(port) + first_cases(port):
                        runner.run(loadgen.one_request(port, request))
                out = runner.run(rounds(bench, args.rounds, args.streams))
        finally:
            setup.stop()
    print(f"\n{args.rounds} rounds, {args.streams} streams; median [min-max]")
    for key in out["A"]:
        line = [f"{key:<22}"]
        for rev in ("A", "B"):
            values = out[rev][key]
            line.append(
                f"{rev}: {statistics.median(values):8.1f} [{min(values):.1f}-{max(values):.1f}]"
            )
        print("  ".join(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
