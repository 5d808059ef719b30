"""Time to first content event, one stream at a time: direct to the simulator against one
or more gateways (and the floor proxy), rounds interleaved so that the machine's noise
falls on every path alike. Answers "how much does the gateway add before the caller sees
the first content event", per dialect, without the whole of bench/run.py.

    python bench/ttfc_ab.py --port 19600 --rounds 200 --src gw=src --src main=/work/main/src

Each `--src NAME=DIR` starts a gateway that imports failsoft from DIR. Added latency is
the median of the per-round differences (path minus direct, same round), which cancels
slow drifts of the machine; the range is the 25th..75th percentile of those differences.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fsbench import procs
from fsbench.loadgen import ANTHROPIC_SSE, OPENAI_SSE, Sse
from fsbench.loadgen.client import Conn
from fsbench.loadgen.sample import Sample, now_ns
from fsbench.payloads import anthropic_request, openai_request
from fsbench.procs import Pinning
from fsbench.settings import HOST
from fsbench.testbed import FLOOR_PROXY, SIM_MODELS, gateway_config, src_env

ROOT = Path(__file__).resolve().parents[1]


class _One:
    """One keep-alive connection that runs one exchange at a time and awaits its end."""

    def __init__(self, port: int, sse: Sse) -> None:
        self.port = port
        self.sse = sse
        self.conn: Conn | None = None
        self.waiter: asyncio.Future[str | None] | None = None

    def _done(self, conn: Conn, sample: Sample, error: str | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(error)

    def _lost(self, conn: Conn) -> None:
        self.conn = None

    async def run(self, request: bytes) -> int:
        loop = asyncio.get_running_loop()
        if self.conn is None or self.conn.closed:
            _, conn = await loop.create_connection(
                lambda: Conn(self._done, self._lost, self.sse, False), HOST, self.port
            )
            await conn.connected()
            self.conn = conn
        sample = Sample(now_ns())
        self.waiter = loop.create_future()
        self.conn.send(request, sample)
        error = await self.waiter
        if error is not None or not sample.terminal or not sample.t_first_content:
            raise RuntimeError(f"stream on port {self.port} failed: {error}")
        return sample.t_first_content - sample.t_send


async def measure(
    cases: dict[str, tuple[int, bytes, Sse]], rounds: int, warmup: int
) -> dict[str, list[int]]:
    conns = {name: _One(port, sse) for name, (port, _, sse) in cases.items()}
    times: dict[str, list[int]] = {name: [] for name in cases}
    for index in range(warmup + rounds):
        order = list(cases) if index % 2 == 0 else list(reversed(cases))
        for name in order:
            took = await conns[name].run(cases[name][1])
            if index >= warmup:
                times[name].append(took)
    return times


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="first of 8 free ports")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--src", action="append", default=[], help="NAME=DIR (repeatable)")
    parser.add_argument("--no-floor", action="store_true")
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--dialect", choices=("openai", "anthropic", "both"), default="both")
    args = parser.parse_args()
    gateways = [tuple(item.split("=", 1)) for item in args.src] or [("gw", str(ROOT / "src"))]
    pin = Pinning.plan(not args.no_pin)
    pin.pin_self()
    sim_port, stamp_port, floor_port = args.port, args.port + 1, args.port + 2
    children = []
    work = Path(tempfile.mkdtemp(prefix="ttfc-"))
    try:
        sim = procs.start_child(
            "sim",
            procs.python_cmd("-m", "failsoft", "sim", "--host", HOST, "--port", str(sim_port)),
            pin.side_core,
            pin,
            work,
            env=src_env(ROOT / "src"),
        )
        children.append(sim)
        procs.wait_ready(sim, sim_port, "/v1/models")
        for model, settings in SIM_MODELS.items():
            procs.http_call(sim_port, "POST", "/_sim/models", {"model": model, **settings})
        config = work / "failsoft.yaml"
        config.write_text(gateway_config(sim_port, stamp_port))
        ports: dict[str, int] = {}
        for offset, (name, src) in enumerate(gateways, start=3):
            port = args.port + offset
            child = procs.start_child(
                name,
                procs.serve_cmd(config, port, "warning"),
                pin.gateway_core,
                pin,
                work,
                env=src_env(Path(src).resolve()),
            )
            children.append(child)
            procs.wait_ready(child, port, "/healthz")
            ports[name] = port
        if not args.no_floor:
            floor = procs.start_child(
                "floor",
                procs.python_cmd(
                    str(FLOOR_PROXY), "--port", str(floor_port), "--upstream-port", str(sim_port)
                ),
                pin.gateway_core,
                pin,
                work,
            )
            children.append(floor)
            procs.wait_ready(floor, floor_port, "/")
            ports["floor"] = floor_port
        for dialect in ("openai", "anthropic"):
            if args.dialect not in (dialect, "both"):
                continue
            if dialect == "openai":
                cases = {
                    "direct": (
                        sim_port,
                        openai_request(sim_port, "gpt-4o-stream", True),
                        OPENAI_SSE,
                    )
                }
                for name, port in ports.items():
                    model = "gpt-4o-stream" if name == "floor" else "gpt-stream"
                    cases[name] = (port, openai_request(port, model, True), OPENAI_SSE)
            else:
                cases = {
                    "direct": (
                        sim_port,
                        anthropic_request(sim_port, "claude-sonnet-4-5-stream"),
                        ANTHROPIC_SSE,
                    )
                }
                for name, port in ports.items():
                    model = "claude-sonnet-4-5-stream" if name == "floor" else "claude-stream"
                    cases[name] = (port, anthropic_request(port, model), ANTHROPIC_SSE)
            times = asyncio.run(measure(cases, args.rounds, args.warmup))
            direct = times["direct"]
            print(f"{dialect}: direct median {statistics.median(direct) / 1e3:.0f} us")
            for name in cases:
                if name == "direct":
                    continue
                diffs = [(a - b) / 1e3 for a, b in zip(times[name], direct, strict=True)]
                print(
                    f"  {name:8} added median {statistics.median(diffs):6.0f} us "
                    f"(p25 {_pct(diffs, 0.25):.0f}, p75 {_pct(diffs, 0.75):.0f}); "
                    f"ttfc median {statistics.median(times[name]) / 1e3:.0f} us"
                )
    finally:
        for child in reversed(children):
            child.stop()


if __name__ == "__main__":
    main()
