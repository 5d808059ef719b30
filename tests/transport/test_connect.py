"""The transport's connect timeout covers connecting only, and still catches an upstream
that never completes a connection; every failure gives the pool's slot back."""

from __future__ import annotations

import asyncio
import gc
import socket
import warnings
from collections.abc import Iterator

import pytest

from failsoft.errors import ConnectError, ConnectTimeout
from failsoft.sim import SimServer
from failsoft.transport import Transport
from failsoft.transport.pool import Pool
from tests.conftest import PROVIDER_KEY


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A listener that never accepts, its accept queue (backlog 0) filled: the kernel
    drops further SYNs, so a connect hangs, as toward a black-holed address, on loopback."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    filler: list[socket.socket] = []
    for _ in range(4):
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))  # in progress; the queue fills
        filler.append(sock)
    try:
        yield f"http://127.0.0.1:{port}/v1/chat/completions"
    finally:
        for sock in filler:
            sock.close()
        listener.close()


async def test_connect_timeout_catches_a_black_holed_upstream(black_hole: str) -> None:
    pool = Pool("hole", 4)
    async with Transport() as transport:
        assert pool.take()
        with pytest.raises(ConnectTimeout) as info:
            await transport.post(black_hole, {}, b"{}", connect_timeout=0.3, pool=pool)
    assert info.value.outcome == "connect_timeout"
    assert pool.in_use == 0


async def test_a_refused_connection_gives_its_slot_back() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: refused
        pool = Pool("gone", 1)
        async with Transport() as transport:
            assert pool.take()
            with pytest.raises(ConnectError):
                await transport.post(
                    f"http://127.0.0.1:{port}/", {}, b"{}", connect_timeout=1, pool=pool
                )
    assert pool.in_use == 0


def test_pools_are_per_provider_and_follow_the_configured_limit() -> None:
    transport = Transport(pool_wait=0.2)
    a = transport.pool("a", 3)
    assert transport.pool("a", 3) is a
    assert transport.pool("b", 3) is not a
    assert transport.pool("a", 5) is a and a.limit == 5  # a reload's new limit applies


async def test_a_response_dropped_unclosed_gives_its_slot_back(sim_server: SimServer) -> None:
    """A bug elsewhere that drops an answer without closing it costs no slot for good."""
    pool = Pool("leaky", 1)
    async with Transport() as transport:
        assert pool.take()
        upstream = await transport.post(
            sim_server.url + "/v1/chat/completions",
            {"authorization": f"Bearer {PROVIDER_KEY}", "content-type": "application/json"},
            b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}',
            connect_timeout=1,
            pool=pool,
        )
        assert upstream.status == 200 and pool.in_use == 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)  # aiohttp's, for the leak
            del upstream
            gc.collect()
        for _ in range(10):
            if pool.in_use == 0:
                break
            await asyncio.sleep(0.01)
    assert pool.in_use == 0
