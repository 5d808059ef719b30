"""The gateway's warm-up before anything is measured, so that the first phase does not
pay for imports, connection set-up and code paths that run once."""

from __future__ import annotations

from fsbench import loadgen
from fsbench.measure import Bench
from fsbench.payloads import anthropic_request, openai_request


async def warm(bench: Bench) -> None:
    s = bench.setup
    for request in (
        openai_request(s.gw_port, "gpt"),
        openai_request(s.gw_port, "gpt-ns"),
        openai_request(s.gw_port, "gpt-stream", stream=True),
        anthropic_request(s.gw_port, "claude-stream"),
        openai_request(s.gw_port, "stamp-gpt", stream=True),
        anthropic_request(s.gw_port, "stamp-claude"),
    ):
        status, error = await loadgen.one_request(s.gw_port, request)
        if status != 200 or error:
            raise RuntimeError(f"gateway warm-up request failed: HTTP {status} {error or ''}")
    for model in ("gpt", "gpt-ns"):
        await loadgen.closed_loop(
            s.gw_port,
            openai_request(s.gw_port, model),
            concurrency=8,
            duration=0.1,
            warmup=bench.d.closed_warmup,
        )
