"""SimServer lifecycle: in-loop and threaded use, prompt stop, and the blocking `serve`."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import aiohttp
import anthropic
import pytest

import failsoft.sim
from failsoft.sim import SimServer

from .helpers import GPT, KEY, MODEL, user


async def test_in_loop_server_with_async_sdk_and_latencies() -> None:
    sim = SimServer(defaults={"ttft": 0.05, "chunk_delay": 0.005})
    with pytest.raises(RuntimeError, match="not started"):
        _ = sim.url
    async with sim:
        with pytest.raises(RuntimeError, match="already started"):
            await sim.start()
        assert sim.url == f"http://127.0.0.1:{sim.port}"
        async with anthropic.AsyncAnthropic(base_url=sim.url, api_key=KEY, max_retries=0) as client:
            started = time.monotonic()
            async with client.messages.stream(
                model=MODEL, max_tokens=100, messages=user()
            ) as stream:
                final = await stream.get_final_message()
            elapsed = time.monotonic() - started
    assert final.stop_reason == "end_turn"
    assert elapsed >= 0.05 + 0.005 * (final.usage.output_tokens - 1)


async def test_faults_on_the_default_asyncio_loop() -> None:
    """uvloop is used when the simulator owns its loop; pytest's loop is plain asyncio."""
    body = b'{"model": "m", "messages": []}'
    async with SimServer() as sim:
        sim.set_fault("m", {"kind": "reset", "count": 1})
        reader, writer = await asyncio.open_connection(sim.host, sim.port)
        writer.write(
            b"POST /v1/chat/completions HTTP/1.1\r\ncontent-length: %d\r\n\r\n" % len(body)
        )
        writer.write(body)
        with pytest.raises(ConnectionResetError):
            await reader.read(1)
        writer.close()
        reader, writer = await asyncio.open_connection(sim.host, sim.port)
        writer.write(
            b"POST /v1/chat/completions HTTP/1.1\r\nexpect: 100-continue\r\n"
            b"content-length: %d\r\n\r\n" % len(body)
        )
        assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(body)
        assert (await reader.readuntil(b"\r\n")).startswith(b"HTTP/1.1 200 OK")
        writer.close()


async def _hold(sim: SimServer, model: str, stream: bool) -> BaseException | None:
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                sim.url + "/v1/chat/completions",
                json={"model": model, "messages": user(), "stream": stream},
            ) as resp,
        ):
            await resp.read()
    except (TimeoutError, aiohttp.ClientError) as exc:
        return exc
    return None


async def test_stop_is_prompt_with_hanging_and_stalled_connections() -> None:
    sim = SimServer()
    await sim.start()
    sim.set_fault("hung", {"kind": "hang"})
    sim.set_fault("stalled", {"kind": "stall", "after": 1})
    sim.set_model("slow", ttft=30.0)
    clients = [
        asyncio.create_task(_hold(sim, model, stream))
        for model, stream in [("hung", False), ("stalled", True), ("slow", True), ("hung", True)]
    ]
    while sum(sim.attempts(m) for m in ("hung", "stalled", "slow")) < 4:
        await asyncio.sleep(0.01)
    started = time.monotonic()
    await sim.stop()
    assert time.monotonic() - started < 1.0
    errors = await asyncio.gather(*clients)
    assert all(isinstance(error, aiohttp.ClientError) for error in errors)
    await sim.stop()  # a second stop is harmless


def test_threaded_server_stops_with_a_hanging_client() -> None:
    with SimServer().run_in_thread() as sim:
        sim.set_fault("*", {"kind": "hang"})
        client = anthropic.Anthropic(base_url=sim.url, api_key=KEY, max_retries=0, timeout=5)
        with client:
            result: list[BaseException] = []

            def call() -> None:
                try:
                    client.messages.create(model=MODEL, max_tokens=5, messages=user())
                except BaseException as exc:
                    result.append(exc)

            caller = threading.Thread(target=call)
            caller.start()
            while sim.attempts(MODEL) < 1:
                time.sleep(0.01)
            started = time.monotonic()
    # leaving the with block stopped the server while the client was waiting
    caller.join(5)
    assert time.monotonic() - started < 2
    assert isinstance(result[0], anthropic.APIConnectionError)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_serve_prints_its_url_and_stops_on_a_signal(stop_signal: signal.Signals) -> None:
    src = Path(failsoft.sim.__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from failsoft.sim import serve; serve('127.0.0.1', 0, None, ['m1'])",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("failsoft sim listening on http://127.0.0.1:")
        url = line.strip().rsplit(" ", 1)[1]

        async def models() -> list[str]:
            async with aiohttp.ClientSession() as http, http.get(url + "/v1/models") as resp:
                return [m["id"] for m in (await resp.json())["data"]]

        assert asyncio.run(models()) == ["m1"]
        process.send_signal(stop_signal)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


def test_python_api_fault_snapshot(sim: SimServer) -> None:
    sim.set_model(GPT, answer_words=5)
    fault = sim.set_fault(GPT, {"kind": "cut", "after": 1, "stream": True})
    assert fault.kind == "cut"
    assert sim.faults()["runtime"][GPT]["fault"] == {"kind": "cut", "after": 1, "stream": True}
    sim.clear_faults(GPT)
    assert sim.faults()["runtime"] == {}
