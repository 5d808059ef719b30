"""A private Redis to kill and freeze (never the shared one), and small helpers."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

SHARED_REDIS = "redis://127.0.0.1:6379/15"
"""The shared server (database 15); tests use it only under a prefix of their own."""
REDIS_SERVER = "/usr/bin/redis-server"
SAVE_NOTHING = ("--save", "", "--appendonly", "no")


def unique_prefix() -> str:
    return f"failsoft:test:fleet:{uuid.uuid4().hex[:12]}:"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRedis:
    """A `redis-server` of this test's own, on a free port: killed, restarted, frozen
    (SIGSTOP) and thawed at will."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.frozen = False

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, *("--port", str(self.port), "--bind", "127.0.0.1"), *SAVE_NOTHING],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.process is not None:
            if self.frozen:
                self.thaw()
            self.process.kill()
            self.process.wait()
            self.process = None

    def freeze(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)
        self.frozen = False


@contextmanager
def private_redis() -> Iterator[PrivateRedis]:
    if not shutil.which(REDIS_SERVER):
        pytest.skip(f"{REDIS_SERVER} is not installed")
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.kill()


async def until(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Poll `condition` until it holds (a deadline, not a timing assert)."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def wait_until(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


async def paced(
    urls: list[str],
    rate: float,
    seconds: float,
    body: dict[str, object],
    events: list[tuple[float, Callable[[], None]]] = (),  # type: ignore[assignment]
) -> list[tuple[int, float]]:
    """`rate` requests a second for `seconds`, spread evenly over `urls` in turn, each
    started on time whatever the others do; `events` run at their second. Returns every
    request's (status, seconds it took); status 0: no answer."""
    import aiohttp

    loop = asyncio.get_running_loop()
    results: list[tuple[int, float]] = []
    start = loop.time()

    async def one(session: aiohttp.ClientSession, url: str) -> None:
        began = loop.time()
        try:
            async with session.post(url + "/v1/chat/completions", json=body) as resp:
                await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError):
            status = 0
        results.append((status, loop.time() - began))

    async def fire(at: float, action: Callable[[], None]) -> None:
        await asyncio.sleep(max(0.0, start + at - loop.time()))
        await asyncio.to_thread(action)

    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        tasks = [asyncio.create_task(fire(at, action)) for at, action in events]
        total = int(rate * seconds)
        for i in range(total):
            await asyncio.sleep(max(0.0, start + i / rate - loop.time()))
            tasks.append(asyncio.create_task(one(session, urls[i % len(urls)])))
        await asyncio.gather(*tasks)
    return results
