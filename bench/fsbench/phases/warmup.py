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
        (s.gw_port, openai_request(s.gw_port, "stamp-claude", stream=True)),
        (s.gw_port, openai_request(s.gw_port, "gpt-long")),
        (s.gw_port, openai_request(s.gw_port, "outage")),
        (s.gw_port, openai_request(s.gw_port, "outage-ns")),
        (s.floor_port, openai_request(s.floor_port, "gpt-4o")),
        (s.floor_port, openai_request(s.floor_port, "gpt-4o-stream", stream=True)),
        (s.floor_port, anthropic_request(s.floor_port, "claude-sonnet-4-5-stream")),
    ]
    gateways = [(s.gw_port, "gateway")]
    if s.ref is not None:
        gateways.append((s.ref_port, "gateway of the --compare revision"))
        checks += [
            (s.ref_port, openai_request(s.ref_port, "gpt")),
            (s.ref_port, openai_request(s.ref_port, "gpt-ns")),
        ]
    names = {**dict(gateways), s.floor_port: "floor proxy"}
    for port, request in checks:
        status, error = await loadgen.one_request(port, request)
        if status != 200 or error:
            raise RuntimeError(f"{names[port]} warm-up request failed: HTTP {status} {error or ''}")
    loads = [(s.gw_port, "gpt"), (s.gw_port, "gpt-ns"), (s.floor_port, "gpt-4o")]
    if s.ref is not None:
        loads += [(s.ref_port, "gpt"), (s.ref_port, "gpt-ns")]
    for port, model in loads:
        await loadgen.closed_loop(
            port,
            openai_request(port, model),
            concurrency=8,
            duration=0.1,
            warmup=bench.d.closed_warmup,
        )
