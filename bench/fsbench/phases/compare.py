"""--compare REV: the gateway of an older revision ("A", started from that revision's `src`)
and this tree's ("B") in one sitting, against the same simulator and the same floor proxy.
Each round measures throughput (closed loop) and the 1,000 req/s open loop, A then B
for each path, so that drift in the machine's load falls on both alike; the report gives
per-round ratios B/A and their spread."""

from __future__ import annotations

from fsbench import loadgen
from fsbench.measure import Bench
from fsbench.payloads import openai_request
from fsbench.settings import DIRECT, FLOOR, GW_AS, GW_NS

REVS = (("A", "ref"), ("B", "gateway"))
"""Revision label and the process that serves it."""


async def compare(bench: Bench, rounds: int, concurrency: int, rate: int, connections: int) -> None:
    s = bench.setup
    if s.ref is None:
        raise RuntimeError("compare needs the --compare revision's gateway")
    for number in range(1, rounds + 1):
        for test in (f"c{concurrency}", f"{rate} req/s"):
            cases: list[tuple[str, str, str, int, bytes]] = []
            if test != f"c{concurrency}":
                cases.append(
                    ("-", "gateway", DIRECT, s.sim_port, openai_request(s.sim_port, "gpt-4o"))
                )
            cases.append(
                ("-", "floor", FLOOR, s.floor_port, openai_request(s.floor_port, "gpt-4o"))
            )
            for path, model in ((GW_AS, "gpt"), (GW_NS, "gpt-ns")):
                for rev, proxy in REVS:
                    port = s.port_of(proxy)
                    cases.append((rev, proxy, path, port, openai_request(port, model)))
            for rev, proxy, path, port, request in cases:
                labels = {"round": number, "test": test, "rev": rev, "path": path}
                if test == f"c{concurrency}":
                    await bench.measure(
                        "compare",
                        labels,
                        lambda mark, port=port, request=request: loadgen.closed_loop(
                            port,
                            request,
                            concurrency=concurrency,
                            duration=bench.d.closed,
                            warmup=bench.d.closed_warmup,
                            mark=mark,
                        ),
                        proxy=proxy,
                    )
                else:
                    await bench.measure(
                        "compare",
                        labels,
                        lambda mark, port=port, request=request: loadgen.open_loop(
                            port,
                            request,
                            rate=rate,
                            duration=bench.d.fixed,
                            warmup=bench.d.fixed_warmup,
                            connections=connections,
                            mark=mark,
                        ),
                        proxy=proxy,
                    )
