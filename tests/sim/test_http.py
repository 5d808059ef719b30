"""The HTTP layer on a raw socket: framing, keep-alive, and what faults do to the connection."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from failsoft.sim import SimServer

from .helpers import GPT, MODEL, sse_events, user

Response = tuple[int, dict[str, str], bytes, bool]


def request(path: str, body: Any, **headers: str) -> bytes:
    payload = json.dumps(body).encode()
    lines = [f"POST {path} HTTP/1.1", "host: sim", f"content-length: {len(payload)}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


def openai_request(stream: bool = False, **options: Any) -> bytes:
    return request(
        "/v1/chat/completions", {"model": GPT, "messages": user(), "stream": stream, **options}
    )


def anthropic_request(stream: bool = False) -> bytes:
    body = {"model": MODEL, "max_tokens": 100, "messages": user(), "stream": stream}
    return request("/v1/messages", body, anthropic_version="2023-06-01")


async def read_response(reader: asyncio.StreamReader) -> Response:
    """(status, headers, body, complete); complete is False when the body was cut short."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")[:-2]
    headers = dict(line.lower().split(": ", 1) for line in header_lines)
    status = int(status_line.split(" ")[1])
    if "content-length" in headers:
        length = int(headers["content-length"])
        try:
            return status, headers, await reader.readexactly(length), True
        except asyncio.IncompleteReadError as exc:
            return status, headers, exc.partial, False
    assert headers["transfer-encoding"] == "chunked"
    body = b""
    try:
        while True:
            size = int((await reader.readuntil(b"\r\n"))[:-2], 16)
            data = await reader.readexactly(size + 2)
            if size == 0:
                return status, headers, body, True
            body += data[:-2]
    except asyncio.IncompleteReadError:
        return status, headers, body, False


async def exchange(sim: SimServer, *payloads: bytes) -> list[Response]:
    """Send requests one after another on ONE connection."""
    reader, writer = await asyncio.open_connection(sim.host, sim.port)
    try:
        results = []
        for payload in payloads:
            writer.write(payload)
            results.append(await read_response(reader))
        return results
    finally:
        writer.close()


async def test_keep_alive_across_plain_and_streaming_responses(sim: SimServer) -> None:
    results = await exchange(
        sim, openai_request(), openai_request(stream=True), anthropic_request(stream=True)
    )
    assert [r[0] for r in results] == [200, 200, 200]
    assert all(r[3] for r in results)
    plain, o_stream, a_stream = results
    assert plain[1]["content-type"] == "application/json"
    assert plain[1]["x-request-id"].startswith("req_")
    assert "connection" not in plain[1]
    assert o_stream[1]["content-type"] == "text/event-stream; charset=utf-8"
    assert a_stream[1]["request-id"].startswith("req_")


async def test_openai_sse_frames(sim: SimServer) -> None:
    [(_, _, body, _)] = await exchange(
        sim, openai_request(stream=True, stream_options={"include_usage": True})
    )
    events = sse_events(body)
    assert all(name is None for name, _ in events)
    assert events[-1] == (None, "[DONE]")
    chunks = [json.loads(data) for _, data in events[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == []
    assert chunks[-2]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert list(chunks[1]) == [
        "id",
        "object",
        "created",
        "model",
        "system_fingerprint",
        "choices",
        "usage",
    ]


async def test_anthropic_sse_frames_name_their_type(sim: SimServer) -> None:
    [(_, _, body, _)] = await exchange(sim, anthropic_request(stream=True))
    events = sse_events(body)
    assert all(name == json.loads(data)["type"] for name, data in events)
    assert [name for name, _ in events[:3]] == ["message_start", "content_block_start", "ping"]
    assert [name for name, _ in events[-3:]] == [
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = json.loads(events[0][1])["message"]
    assert start["stop_reason"] is None
    assert start["usage"]["output_tokens"] == 1


async def test_connection_close_is_honoured(sim: SimServer) -> None:
    reader, writer = await asyncio.open_connection(sim.host, sim.port)
    body = json.dumps({"model": GPT, "messages": user()}).encode()
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nconnection: close\r\n"
        b"content-length: %d\r\n\r\n%s" % (len(body), body)
    )
    status, headers, _, complete = await read_response(reader)
    assert (status, headers["connection"], complete) == (200, "close", True)
    assert await reader.read() == b""
    writer.close()


async def test_pipelined_requests_are_answered_in_order(sim: SimServer) -> None:
    reader, writer = await asyncio.open_connection(sim.host, sim.port)
    sim.set_model(GPT, ttft=0.05)
    writer.write(openai_request(stream=True) + anthropic_request() + openai_request())
    results = [await read_response(reader) for _ in range(3)]
    writer.close()
    assert [r[1].get("content-type") for r in results] == [
        "text/event-stream; charset=utf-8",
        "application/json",
        "application/json",
    ]
    assert json.loads(results[1][2])["type"] == "message"


async def test_chunked_request_body_is_accepted(sim: SimServer) -> None:
    reader, writer = await asyncio.open_connection(sim.host, sim.port)
    body = json.dumps({"model": GPT, "messages": user()}).encode()
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n"
        b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    )
    assert (await read_response(reader))[0] == 200
    writer.close()


async def test_garbage_gets_400_and_close(sim: SimServer) -> None:
    reader, writer = await asyncio.open_connection(sim.host, sim.port)
    writer.write(b"NOT HTTP AT ALL\r\n\r\n")
    status, _, _, _ = await read_response(reader)
    assert status == 400
    assert await reader.read() == b""
    writer.close()


async def test_cut_eof_omits_the_last_chunk(sim: SimServer) -> None:
    sim.set_fault(MODEL, {"kind": "cut", "after": 2})
    [(status, _, body, complete)] = await exchange(sim, anthropic_request(stream=True))
    assert status == 200
    assert not complete
    names = [name for name, _ in sse_events(body)]
    assert names == ["message_start", "content_block_start", "ping", *["content_block_delta"] * 2]


async def test_cut_non_streaming_closes_mid_body(sim: SimServer) -> None:
    sim.set_fault(GPT, {"kind": "cut"})
    [(status, headers, body, complete)] = await exchange(sim, openai_request())
    assert status == 200
    assert not complete
    assert len(body) == int(headers["content-length"]) // 2


async def test_reset_sends_rst(sim: SimServer) -> None:
    sim.set_fault(GPT, {"kind": "reset"})
    reader, writer = await asyncio.open_connection(sim.host, sim.port)
    writer.write(openai_request())
    with pytest.raises(ConnectionResetError):
        await reader.read(1)
    writer.close()


async def test_no_terminal_and_mid_stream_error_keep_the_connection(sim: SimServer) -> None:
    sim.set_fault(GPT, {"kind": "no_terminal"})
    sim.set_fault(MODEL, {"kind": "mid_stream_error", "after": 1})
    o_stream, a_stream, plain = await exchange(
        sim, openai_request(stream=True), anthropic_request(stream=True), openai_request()
    )
    assert o_stream[3]
    assert a_stream[3]
    assert plain[0] == 200
    assert b"[DONE]" not in o_stream[2]
    assert b'"finish_reason":"stop"' not in o_stream[2]
    names = [name for name, _ in sse_events(a_stream[2])]
    assert names[-2:] == ["content_block_delta", "error"]


async def test_malformed_stream_continues_after_the_bad_event(sim: SimServer) -> None:
    sim.set_fault(MODEL, {"kind": "malformed", "after": 1})
    [(_, _, body, complete)] = await exchange(sim, anthropic_request(stream=True))
    assert complete
    events = sse_events(body)
    bad = [(name, data) for name, data in events if not data.endswith("}")]
    assert bad == [("ping", '{"type": "ping"')]  # harmless: no content is lost if skipped
    assert [name for name, _ in events].index("ping", 3) == 4  # after the first text delta
    assert events[-1][0] == "message_stop"
