"""The outage case of issue 18: a virtual model [sim/gpt-4o-primary, sim/gpt-4o-backup]
at a fixed rate, healthy first, then with the primary answering every request with 529
(the simulator's fault API): what the caller's p99 loses while the gateway fails over.
The warm-up of the outage phase is where the gateway's breaker learns of the outage,
as in a real one that lasts; its measuring window is the outage as callers see it."""

from __future__ import annotations

from fsbench.measure import Bench, open_load
from fsbench.payloads import openai_request
from fsbench.settings import GW_AS, GW_NS

PRIMARY = "gpt-4o-primary"


async def outage(bench: Bench, rate: int, connections: int) -> None:
    s = bench.setup
    paths = [
        (GW_AS, openai_request(s.gw_port, "outage")),
        (GW_NS, openai_request(s.gw_port, "outage-ns")),
    ]
    try:
        for phase in ("healthy", "outage"):
            if phase == "outage":
                s.set_fault(PRIMARY, {"kind": "status", "status": 529})
            for path, request in paths:
                await bench.measure(
                    "outage",
                    {"phase": phase, "rate": rate, "path": path},
                    open_load(
                        s.gw_port,
                        request,
                        rate=rate,
                        duration=bench.d.outage,
                        warmup=bench.d.fixed_warmup,
                        connections=connections,
                        capture_attempts=True,
                    ),
                )
    finally:
        s.clear_faults()
