"""The failover phase: the primary answers every request with 529, so each gateway
request costs a failed attempt plus the backup's answer; compared with the backup alone."""

from __future__ import annotations

from collections.abc import Callable

from fsbench.measure import Bench, Load, closed_load, open_load
from fsbench.payloads import openai_request
from fsbench.settings import GW_AS, GW_NS


async def failover(bench: Bench, rate: int, connections: int, concurrency: int) -> None:
    s = bench.setup
    paths = [
        ("direct to backup", s.sim_port, openai_request(s.sim_port, "gpt-4o-mini")),
        (GW_AS + " failover", s.gw_port, openai_request(s.gw_port, "gpt")),
        (GW_NS + " failover", s.gw_port, openai_request(s.gw_port, "gpt-ns")),
    ]
    timing = bench.timing("failover")
    tests: list[tuple[str, Callable[[int, bytes], Load]]] = [
        (
            f"{rate} req/s",
            lambda port, request: open_load(
                port, request, rate=rate, connections=connections, capture_attempts=True, **timing
            ),
        ),
        (
            f"closed c{concurrency}",
            lambda port, request: closed_load(
                port, request, concurrency=concurrency, capture_attempts=True, **timing
            ),
        ),
    ]
    s.set_fault("gpt-4o", {"kind": "status", "status": 529})
    try:
        for test, load in tests:
            for path, port, request in paths:
                await bench.measure("failover", {"test": test, "path": path}, load(port, request))
    finally:
        s.clear_faults()
