"""Every fault kind on Gemini requests, as a plain HTTP client sees it.

The fault machinery is shared with the other dialects; these pin what each fault looks
like in Google's framing (CRLF `data:` frames, or one JSON array without `alt=sse`).
"""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp
import pytest

from failsoft.clock import FakeClock
from failsoft.sim import Scenario, SimServer

from .helpers import GEMINI, gemini_body, gemini_frames, gemini_path


async def call(
    sim: SimServer,
    *,
    stream: bool = True,
    sse: bool = True,
    timeout: float | None = None,
    headers: dict[str, str] | None = None,
    http: aiohttp.ClientSession | None = None,
) -> tuple[int | None, bytes, BaseException | None]:
    """(status, bytes received, the error that ended the read)."""
    received = bytearray()
    status = None
    own = http is None
    session = http or aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(sock_read=timeout))
    try:
        async with session.post(
            sim.url + gemini_path(stream=stream, sse=sse), json=gemini_body(), headers=headers or {}
        ) as resp:
            status = resp.status
            async for data in resp.content.iter_any():
                received += data
    except (aiohttp.ClientError, TimeoutError) as exc:
        return status, bytes(received), exc
    finally:
        if own:
            await session.close()
    return status, bytes(received), None


def frames(raw: bytes) -> list[str]:
    """Complete `data:` frames as text, without parsing (some are broken on purpose)."""
    *complete, _rest = raw.decode().split("\r\n\r\n")
    return [frame.removeprefix("data: ") for frame in complete]


def finished(chunks: list[Any]) -> bool:
    return any("finishReason" in chunk.get("candidates", [{}])[0] for chunk in chunks)


async def test_status_fault_on_a_stream_is_an_http_error(sim: SimServer) -> None:
    sim.set_fault(GEMINI, {"kind": "status", "status": 503})
    status, raw, error = await call(sim)
    assert (status, error) == (503, None)
    assert json.loads(raw)["error"]["status"] == "UNAVAILABLE"
    assert sim.requests()[-1].outcome == "503"


async def test_reset_and_hang(sim: SimServer) -> None:
    sim.set_fault(GEMINI, {"kind": "reset"})
    status, _, error = await call(sim)
    assert status is None
    assert isinstance(error, aiohttp.ClientError)
    sim.set_fault(GEMINI, {"kind": "hang"})
    started = time.monotonic()
    _, _, error = await call(sim, timeout=0.3)
    assert isinstance(error, TimeoutError)
    assert time.monotonic() - started >= 0.3
    assert [r.outcome for r in sim.requests()] == ["reset", "hang"]


async def test_slow_headers_and_slow_first_token(sim: SimServer) -> None:
    sim.set_fault(GEMINI, {"kind": "slow_headers", "delay": 0.2})
    started = time.monotonic()
    assert (await call(sim, stream=False))[0] == 200
    assert time.monotonic() - started >= 0.2
    sim.set_fault(GEMINI, {"kind": "slow_first_token", "delay": 0.25})
    async with (
        aiohttp.ClientSession() as http,
        http.post(sim.url + gemini_path(stream=True), json=gemini_body()) as resp,
    ):
        headers_at = time.monotonic() - started
        first = await resp.content.readuntil(b"\r\n\r\n")
        first_at = time.monotonic() - started
        rest = await resp.read()
    assert first_at - headers_at >= 0.25
    assert finished(gemini_frames(first + rest))
    assert [(r.outcome, r.fault) for r in sim.requests()] == [
        ("200", "slow_headers"),
        ("200", "slow_first_token"),
    ]


@pytest.mark.parametrize("mode", ["eof", "reset"])
async def test_cut(sim: SimServer, mode: str) -> None:
    sim.set_fault(GEMINI, {"kind": "cut", "after": 3, "mode": mode})
    status, raw, error = await call(sim)
    assert status == 200
    assert isinstance(error, aiohttp.ClientPayloadError | aiohttp.ClientOSError)
    if mode == "eof":
        chunks = gemini_frames(raw)
        assert len(chunks) == 3
        assert not finished(chunks)
    assert sim.requests()[-1].outcome == "cut"


async def test_cut_and_malformed_without_a_stream(sim: SimServer) -> None:
    sim.set_fault(GEMINI, {"kind": "cut"})
    status, _, error = await call(sim, stream=False)
    assert status == 200
    assert isinstance(error, aiohttp.ClientPayloadError)
    sim.set_fault(GEMINI, {"kind": "malformed"})
    status, raw, error = await call(sim, stream=False)
    assert (status, error) == (200, None)
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)


async def test_stall(sim: SimServer) -> None:
    sim.set_fault(GEMINI, {"kind": "stall", "after": 2})
    status, raw, error = await call(sim, timeout=0.3)
    assert status == 200
    assert isinstance(error, TimeoutError)
    assert len(gemini_frames(raw)) == 2
    assert sim.requests()[-1].outcome == "stall"


async def test_malformed_frame_then_the_rest(sim: SimServer) -> None:
    sim.set_fault(GEMINI, {"kind": "malformed", "after": 1})
    status, raw, error = await call(sim)
    assert (status, error) == (200, None)
    first, broken, *rest = frames(raw)
    json.loads(first)
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken)
    assert finished([json.loads(frame) for frame in rest])


async def test_no_terminal_just_ends_and_the_connection_is_reused(sim: SimServer) -> None:
    sim.set_fault(GEMINI, {"kind": "no_terminal", "count": 1})
    async with aiohttp.ClientSession() as http:
        status, raw, error = await call(sim, http=http)
        assert (status, error) == (200, None)
        chunks = gemini_frames(raw)
        assert chunks
        assert not finished(chunks)
        assert "candidatesTokenCount" not in chunks[-1]["usageMetadata"]
        status, raw, error = await call(sim, http=http)
        assert finished(gemini_frames(raw))
    assert sim.stats()["models"][GEMINI]["outcomes"] == {"no_terminal": 1, "200": 1}


async def test_mid_stream_error(sim: SimServer) -> None:
    sim.set_fault(GEMINI, {"kind": "mid_stream_error", "after": 2})
    status, raw, error = await call(sim)
    assert (status, error) == (200, None)
    *content, last = gemini_frames(raw)
    assert len(content) == 2
    assert last == {
        "error": {
            "code": 503,
            "message": "The model is overloaded. Please try again later.",
            "status": "UNAVAILABLE",
        }
    }
    sim.set_fault(GEMINI, {"kind": "mid_stream_error", "error_type": "INTERNAL", "message": "boom"})
    last = gemini_frames((await call(sim))[1])[-1]
    assert last == {"error": {"code": 500, "message": "boom", "status": "INTERNAL"}}


async def test_array_stream_faults(sim: SimServer) -> None:
    sim.set_fault(GEMINI, {"kind": "mid_stream_error", "after": 1})
    chunks = json.loads((await call(sim, sse=False))[1])
    assert len(chunks) == 2
    assert chunks[-1]["error"]["status"] == "UNAVAILABLE"
    sim.set_fault(GEMINI, {"kind": "no_terminal"})
    status, raw, error = await call(sim, sse=False)
    assert (status, error) == (200, None)
    assert raw.startswith(b"[") and raw.endswith(b",\r\n")  # an array that never closes
    sim.set_fault(GEMINI, {"kind": "cut", "after": 1})
    assert isinstance((await call(sim, sse=False))[2], aiohttp.ClientPayloadError)


async def test_stream_only_kinds_skip_non_streaming(sim: SimServer) -> None:
    sim.set_fault(GEMINI, {"kind": "mid_stream_error", "count": 1})
    status, raw, _ = await call(sim, stream=False)
    assert status == 200
    assert json.loads(raw)["candidates"][0]["finishReason"] == "STOP"
    assert sim.faults()["runtime"][GEMINI]["remaining"] == 1


async def test_rate_count_wildcard_and_header(sim: SimServer) -> None:
    async def statuses(n: int, **options: Any) -> list[int | None]:
        return [(await call(sim, stream=False, **options))[0] for _ in range(n)]

    sim.set_fault(GEMINI, {"kind": "status", "status": 500, "rate": 0.5})
    first = await statuses(40)
    assert 8 <= first.count(500) <= 32
    sim.set_fault(GEMINI, {"kind": "status", "status": 500, "rate": 0.5})
    assert await statuses(40) == first
    sim.set_fault(GEMINI, {"kind": "status", "status": 503, "count": 2})
    assert await statuses(3) == [503, 503, 200]
    sim.set_fault("*", {"kind": "status", "status": 429})
    assert await statuses(1) == [429]
    sim.clear_faults()
    header = {"x-sim-fault": json.dumps({"kind": "status", "status": 504})}
    assert await statuses(1, headers=header) == [504]
    status, raw, _ = await call(sim, stream=False, headers={"x-sim-fault": '{"kind": "cutt"}'})
    error = json.loads(raw)["error"]
    assert (status, error["status"]) == (400, "INVALID_ARGUMENT")
    assert error["message"].startswith("x-sim-fault.kind: unknown fault kind 'cutt'")
    assert sim.requests()[-2].headers["x-sim-fault"] == header["x-sim-fault"]


async def test_scenario_timeline_applies_to_gemini_models() -> None:
    clock = FakeClock()
    scenario = Scenario.from_dict(
        {
            "models": {GEMINI: {"answer_words": 2}},
            "timeline": [
                {"at": 0, "until": 10, "model": GEMINI, "fault": {"kind": "status", "status": 503}}
            ],
        }
    )
    with SimServer(scenario=scenario, clock=clock).run_in_thread() as sim:
        assert (await call(sim, stream=False))[0] == 503
        clock.advance(10)
        status, raw, _ = await call(sim, stream=False)
        assert status == 200
        assert json.loads(raw)["usageMetadata"]["candidatesTokenCount"] == 4 + 2
        assert sim.stats()["models"][GEMINI]["outcomes"] == {"503": 1, "200": 1}
