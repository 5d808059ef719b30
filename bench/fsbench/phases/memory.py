"""Memory per open stream: the RSS of the process under test with N streams open at once
minus its RSS before they opened, divided by N. The streams are slow (one event every
50 ms), so they are all open at the reading; each caller has read only the first event."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fsbench import procfs
from fsbench.measure import Bench
from fsbench.payloads import openai_request
from fsbench.settings import HOST

SETTLE_S = 0.5
"""Wait after the last stream opened, so the reading sees every buffer they allocate."""


async def _hold(port: int, request: bytes, count: int, within: float) -> list[asyncio.StreamWriter]:
    """Open `count` streams and return once each has sent its first event."""
    writers: list[asyncio.StreamWriter] = []

    async def one() -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        writers.append(writer)
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"open stream refused: {head[:80]!r}")
        await reader.readuntil(b"data:")

    try:
        await asyncio.wait_for(asyncio.gather(*(one() for _ in range(count))), within)
    except BaseException:
        _close(writers)
        raise
    return writers


def _close(writers: list[asyncio.StreamWriter]) -> None:
    for writer in writers:
        with contextlib.suppress(OSError):
            writer.close()


async def per_stream(pid: int, port: int, request: bytes, count: int) -> dict[str, Any]:
    """RSS before, with `count` streams open, and 1 s after closing them (MB)."""
    warm = await _hold(port, request, min(10, count), within=20.0)  # first-time costs
    _close(warm)
    await asyncio.sleep(1.0)
    before = procfs.memory_kb(pid)["VmRSS"]
    writers = await _hold(port, request, count, within=30.0)
    try:
        await asyncio.sleep(SETTLE_S)
        during = procfs.memory_kb(pid)["VmRSS"]
    finally:
        _close(writers)
    await asyncio.sleep(1.0)
    after = procfs.memory_kb(pid)["VmRSS"]
    return {
        "streams": count,
        "rss_before_mb": before / 1024,
        "rss_open_mb": during / 1024,
        "rss_after_close_mb": after / 1024,
        "kib_per_stream": (during - before) / count,
    }


async def open_streams(bench: Bench, count: int) -> None:
    """The gateway (an OpenAI stream through the default config) and, for scale, the floor."""
    s = bench.setup
    assert s.gateway is not None
    assert s.floor is not None
    out = bench.results["memory"]
    out["open_streams"] = {
        "gateway": await per_stream(
            s.gateway.pid, s.gw_port, openai_request(s.gw_port, "gpt-open", True), count
        ),
        "floor": await per_stream(
            s.floor.pid, s.floor_port, openai_request(s.floor_port, "gpt-4o-open", True), count
        ),
    }
    if bench.verbose:
        for name, row in out["open_streams"].items():
            print(
                f"  memory     {name:<8} {count} open streams: RSS {row['rss_before_mb']:.1f} -> "
                f"{row['rss_open_mb']:.1f} MB, {row['kib_per_stream']:.0f} KiB per stream",
                flush=True,
            )
