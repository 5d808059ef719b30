"""--compare REV: the gateway of an older revision ("A", started from that revision's `src`)
and this tree's ("B") in one sitting, against the same simulator and the same floor proxy.
Each round measures throughput (closed loop) and the 1,000 req/s open loop, A then B
for each path, so that drift in the machine's load falls on both alike; the report gives
per-round ratios B/A and their spread."""

from __future__ import annotations

from fsbench.measure import Bench
from fsbench.payloads import openai_request
from fsbench.phases.plain import fixed_rate_load, throughput_load
from fsbench.settings import DIRECT, FLOOR, GW_AS, GW_NS

REVS = (("A", "ref"), ("B", "gateway"))
"""Revision label and the process that serves it."""


async def compare(bench: Bench, rounds: int, concurrency: int, rate: int, connections: int) -> None:
    s = bench.setup
    if s.ref is None:
        raise RuntimeError("compare needs the --compare revision's gateway")
    closed_test = f"c{concurrency}"
    for number in range(1, rounds + 1):
        for test in (closed_test, f"{rate} req/s"):
            cases: list[tuple[str, str, str, int, bytes]] = []
            if test != closed_test:
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
                load = (
                    throughput_load(bench, port, request, concurrency)
                    if test == closed_test
                    else fixed_rate_load(bench, port, request, rate, connections)
                )
                labels = {"round": number, "test": test, "rev": rev, "path": path}
                await bench.measure("compare", labels, load, proxy=proxy)
