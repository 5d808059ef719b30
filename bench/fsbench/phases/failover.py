"""The failover phase: the primary answers every request with 529, so each gateway
request costs a failed attempt plus the backup's answer; compared with the backup alone."""

from __future__ import annotations

from fsbench import loadgen
from fsbench.measure import Bench
from fsbench.payloads import openai_request
from fsbench.settings import GW_AS, GW_NS


async def failover(bench: Bench, rate: int, connections: int, concurrency: int) -> None:
    s = bench.setup
    paths = [
        ("direct to backup", s.sim_port, openai_request(s.sim_port, "gpt-4o-mini")),
        (GW_AS + " failover", s.gw_port, openai_request(s.gw_port, "gpt")),
        (GW_NS + " failover", s.gw_port, openai_request(s.gw_port, "gpt-ns")),
    ]
    s.set_fault("gpt-4o", {"kind": "status", "status": 529})
    try:
        for path, port, request in paths:
            await bench.measure(
                "failover",
                {"test": f"{rate} req/s", "path": path},
                lambda mark, port=port, request=request: loadgen.open_loop(
                    port,
                    request,
                    rate=rate,
                    duration=bench.d.failover,
                    warmup=bench.d.failover_warmup,
                    connections=connections,
                    mark=mark,
                    capture_attempts=True,
                ),
            )
        for path, port, request in paths:
            await bench.measure(
                "failover",
                {"test": f"closed c{concurrency}", "path": path},
                lambda mark, port=port, request=request: loadgen.closed_loop(
                    port,
                    request,
                    concurrency=concurrency,
                    duration=bench.d.failover,
                    warmup=bench.d.failover_warmup,
                    mark=mark,
                    capture_attempts=True,
                ),
            )
    finally:
        s.clear_faults()
