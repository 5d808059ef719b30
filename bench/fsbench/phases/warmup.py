"""The warm-up of the gateway and the floor proxy before anything is measured, so that the
first phase does not pay for imports, connection set-up and code paths that run once."""

from __future__ import annotations

from fsbench import loadgen
from fsbench.measure import Bench
from fsbench.payloads import anthropic_request, openai_request


async def warm(bench: Bench) -> None:
    s = bench.setup
    checks = [
        (s.gw_port, openai_request(s.gw_port, "gpt")),
        (s.gw_port, openai_request(s.gw_port, "gpt-ns")),
        (s.gw_port, openai_request(s.gw_port, "gpt-stream", stream=True)),
        (s.gw_port, anthropic_request(s.gw_port, "claude-stream")),
        (s.gw_port, openai_request(s.gw_port, "stamp-gpt", stream=True)),
        (s.gw_port, anthropic_request(s.gw_port, "stamp-claude")),
        (s.floor_port, openai_request(s.floor_port, "gpt-4o")),
        (s.floor_port, openai_request(s.floor_port, "gpt-4o-stream", stream=True)),
        (s.floor_port, anthropic_request(s.floor_port, "claude-sonnet-4-5-stream")),
    ]
    for port, request in checks:
        status, error = await loadgen.one_request(port, request)
        if status != 200 or error:
            name = "gateway" if port == s.gw_port else "floor proxy"
            raise RuntimeError(f"{name} warm-up request failed: HTTP {status} {error or ''}")
    for port, model in ((s.gw_port, "gpt"), (s.gw_port, "gpt-ns"), (s.floor_port, "gpt-4o")):
        await loadgen.closed_loop(
            port,
            openai_request(port, model),
            concurrency=8,
            duration=0.1,
            warmup=bench.d.closed_warmup,
        )
