"""Stream endings a tolerant gateway has to tell apart: `no_done`, `malformed` with a
`target`, and stalls that end (`stall` with `delay` and `then`), in every dialect."""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp
import anthropic
import openai
import pytest

from failsoft.sim import SimServer

from .helpers import GEMINI, GPT, MODEL, gemini_frames, gemini_path, gemini_text, sse_events

OPENAI_PATH = "/v1/chat/completions"
ANTHROPIC_PATH = "/v1/messages"
ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01"}


def body_for(
    dialect: str, *, stream: bool, **extra: Any
) -> tuple[str, dict[str, Any], dict[str, str]]:
    messages = [{"role": "user", "content": "Say hello"}]
    if dialect == "openai":
        body = {"model": GPT, "messages": messages, "stream": stream, **extra}
        return OPENAI_PATH, body, {}
    if dialect == "anthropic":
        body = {"model": MODEL, "max_tokens": 100, "messages": messages, "stream": stream, **extra}
        return ANTHROPIC_PATH, body, ANTHROPIC_HEADERS
    contents = [{"role": "user", "parts": [{"text": "Say hello"}]}]
    return gemini_path(stream=stream, sse=extra.get("sse", True)), {"contents": contents}, {}


async def call(
    sim: SimServer,
    dialect: str,
    *,
    stream: bool = True,
    http: aiohttp.ClientSession | None = None,
    **extra: Any,
) -> tuple[int | None, bytes, BaseException | None, float]:
    """(status, bytes received, the error that ended the read, seconds taken)."""
    path, body, headers = body_for(dialect, stream=stream, **extra)
    received = bytearray()
    status = None
    started = time.monotonic()
    session = http or aiohttp.ClientSession()
    try:
        async with session.post(sim.url + path, json=body, headers=headers) as resp:
            status = resp.status
            async for data in resp.content.iter_any():
                received += data
    except aiohttp.ClientError as exc:
        return status, bytes(received), exc, time.monotonic() - started
    finally:
        if http is None:
            await session.close()
    return status, bytes(received), None, time.monotonic() - started


def parses(data: str) -> bool:
    try:
        json.loads(data)
    except json.JSONDecodeError:
        return False
    return True


def openai_text(events: list[tuple[str | None, str]]) -> str:
    text = ""
    for _, data in events:
        if data != "[DONE]" and parses(data):
            for choice in json.loads(data)["choices"]:
                text += choice["delta"].get("content") or ""
    return text


def anthropic_text(events: list[tuple[str | None, str]]) -> str:
    return "".join(
        json.loads(data)["delta"].get("text", "")
        for name, data in events
        if name == "content_block_delta" and parses(data)
    )


def gemini_frame_texts(raw: bytes) -> list[str]:
    """Every `data:` frame (Gemini SSE), unparsed: some are broken on purpose."""
    *complete, _ = raw.decode().split("\r\n\r\n")
    return [frame.removeprefix("data: ") for frame in complete]


def without_ids(chunks: list[Any]) -> list[Any]:
    return [{k: v for k, v in chunk.items() if k != "responseId"} for chunk in chunks]


# --- no_done ----------------------------------------------------------------------------


async def test_no_done_openai_sends_everything_but_done(sim: SimServer, oai: openai.OpenAI) -> None:
    sim.set_fault(GPT, {"kind": "no_done"})
    async with aiohttp.ClientSession() as http:
        status, raw, error, _ = await call(
            sim, "openai", http=http, stream_options={"include_usage": True}
        )
        assert (status, error) == (200, None)  # the chunked body ended cleanly
        events = sse_events(raw)
        assert all(data != "[DONE]" for _, data in events)
        *_, finish, usage = [json.loads(data) for _, data in events]
        assert finish["choices"][0]["finish_reason"] == "stop"
        assert usage["choices"] == []
        assert usage["usage"]["completion_tokens"] == 16
        sim.clear_faults()
        healthy = (await call(sim, "openai", http=http))[1]  # the connection is reused
        assert sse_events(healthy)[-1] == (None, "[DONE]")
    sim.set_fault(GPT, {"kind": "no_done"})
    chunks = list(
        oai.chat.completions.create(
            model=GPT, messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    assert chunks[-1].choices[0].finish_reason == "stop"  # the SDK does not notice
    assert [r.outcome for r in sim.requests()] == ["no_done", "200", "no_done"]


async def test_no_done_anthropic_stops_after_message_delta(
    sim: SimServer, ant: anthropic.Anthropic
) -> None:
    sim.set_fault(MODEL, {"kind": "no_done"})
    status, raw, error, _ = await call(sim, "anthropic")
    assert (status, error) == (200, None)
    names = [name for name, _ in sse_events(raw)]
    assert names[-2:] == ["content_block_stop", "message_delta"]
    assert "message_stop" not in names
    delta = json.loads(sse_events(raw)[-1][1])
    assert delta["delta"]["stop_reason"] == "end_turn"
    assert delta["usage"]["output_tokens"] == 16
    with ant.messages.stream(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        types = [event.type for event in stream]
        final = stream.get_final_message()
    assert types[-1] == "message_delta"
    assert final.stop_reason == "end_turn"  # everything but the marker arrived
    assert final.usage.output_tokens == 16


async def test_no_done_gemini(sim: SimServer) -> None:
    """SSE has no end marker, so the stream is the healthy one; the JSON array loses its `]`."""
    healthy_sse = gemini_frames((await call(sim, "gemini"))[1])
    healthy_array = json.loads((await call(sim, "gemini", sse=False))[1])
    sim.set_fault(GEMINI, {"kind": "no_done"})
    status, raw, error, _ = await call(sim, "gemini")
    assert (status, error) == (200, None)
    assert without_ids(gemini_frames(raw)) == without_ids(healthy_sse)
    status, raw, error, _ = await call(sim, "gemini", sse=False)
    assert (status, error) == (200, None)
    assert raw.startswith(b"[") and raw.endswith(b"}")  # the final chunk, then nothing
    chunks = json.loads(raw + b"]")
    assert without_ids(chunks) == without_ids(healthy_array)
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert [r.outcome for r in sim.requests()][-2:] == ["no_done", "no_done"]


@pytest.mark.parametrize("dialect", ["openai", "anthropic", "gemini"])
async def test_no_done_leaves_non_streaming_alone(sim: SimServer, dialect: str) -> None:
    sim.set_fault("*", {"kind": "no_done", "count": 1})
    status, raw, error, _ = await call(sim, dialect, stream=False)
    assert (status, error) == (200, None)
    json.loads(raw)
    assert sim.faults()["runtime"]["*"]["remaining"] == 1


# --- malformed: target content ----------------------------------------------------------


async def test_malformed_content_openai(sim: SimServer, oai: openai.OpenAI) -> None:
    healthy = openai_text(sse_events((await call(sim, "openai"))[1]))
    sim.set_fault(GPT, {"kind": "malformed", "after": 2, "target": "content"})
    status, raw, error, _ = await call(sim, "openai")
    assert (status, error) == (200, None)
    events = sse_events(raw)
    broken = [data for _, data in events if data != "[DONE]" and not parses(data)]
    assert len(broken) == 1
    assert broken[0].endswith('"delta":{"content":" from"')  # the third word, unclosed
    assert events.index((None, broken[0])) == 1 + 2  # role chunk, two good words
    assert openai_text(events) == healthy.replace(" from", "", 1)  # the rest came normally
    assert events[-1] == (None, "[DONE]")
    with pytest.raises(json.JSONDecodeError):
        list(
            oai.chat.completions.create(
                model=GPT, messages=[{"role": "user", "content": "hi"}], stream=True
            )
        )
    assert sim.requests()[-1].outcome == "malformed"


async def test_malformed_content_anthropic(sim: SimServer, ant: anthropic.Anthropic) -> None:
    sim.set_fault(MODEL, {"kind": "malformed", "after": 0, "target": "content"})
    status, raw, error, _ = await call(sim, "anthropic")
    assert (status, error) == (200, None)
    events = sse_events(raw)
    broken = [(name, data) for name, data in events if not parses(data)]
    assert broken == [
        (
            "content_block_delta",
            '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta",'
            '"text":"Simulated"',
        )
    ]
    assert anthropic_text(events).startswith(" answer from")
    assert events[-1][0] == "message_stop"
    with pytest.raises(json.JSONDecodeError):
        with ant.messages.stream(
            model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            list(stream)


async def test_malformed_content_gemini(sim: SimServer) -> None:
    sim.set_fault(GEMINI, {"kind": "malformed", "after": 1, "target": "content"})
    status, raw, error, _ = await call(sim, "gemini")
    assert (status, error) == (200, None)
    frames = gemini_frame_texts(raw)
    assert frames[1] == '{"candidates":[{"content":{"role":"model","parts":[{"text":" answer"}'
    good = [json.loads(frame) for index, frame in enumerate(frames) if index != 1]
    assert [gemini_text(chunk) for chunk in good[:2]] == ["Simulated", " from"]
    assert good[-1]["candidates"][0]["finishReason"] == "STOP"
    status, raw, error, _ = await call(sim, "gemini", sse=False)
    assert (status, error) == (200, None)
    assert b'\r\n{"candidates":[{"content":{"role":"model","parts":[{"text":" answer"},\r\n' in raw
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)


async def test_malformed_content_after_the_last_word_corrupts_the_last_word(
    sim: SimServer,
) -> None:
    sim.set_fault(GPT, {"kind": "malformed", "after": 99, "target": "content"})
    events = sse_events((await call(sim, "openai"))[1])
    broken = [data for _, data in events if data != "[DONE]" and not parses(data)]
    assert len(broken) == 1
    assert broken[0].endswith('"content":" summit."')
    assert json.loads(events[-2][1])["choices"][0]["finish_reason"] == "stop"


async def test_malformed_content_in_a_tool_call_stream(sim: SimServer) -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"location": {"type": "string"}}}}}]  # fmt: skip
    sim.set_fault(GPT, {"kind": "malformed", "after": 1, "target": "content"})
    events = sse_events((await call(sim, "openai", tools=tools))[1])
    broken = [data for _, data in events if data != "[DONE]" and not parses(data)]
    assert len(broken) == 1
    assert broken[0].endswith('"function":{"arguments":"{\\"loca"}}]')  # the first fragment


@pytest.mark.parametrize("dialect", ["openai", "anthropic", "gemini"])
async def test_malformed_content_without_a_stream_keeps_the_text(
    sim: SimServer, dialect: str
) -> None:
    healthy = (await call(sim, dialect, stream=False))[1]
    sim.set_fault("*", {"kind": "malformed", "target": "content"})
    status, raw, error, _ = await call(sim, dialect, stream=False)
    assert (status, error) == (200, None)
    text = json.loads(healthy)
    answer = {
        "openai": lambda: text["choices"][0]["message"]["content"],
        "anthropic": lambda: text["content"][0]["text"],
        "gemini": lambda: gemini_text(text),
    }[dialect]()
    assert raw.endswith(json.dumps(answer).encode())  # cut right after the text
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)


async def test_malformed_extra_carries_no_content(sim: SimServer) -> None:
    for target in ({}, {"target": "extra"}):
        sim.set_fault(GPT, {"kind": "malformed", "after": 1, **target})
        events = sse_events((await call(sim, "openai"))[1])
        (broken,) = [data for _, data in events if data != "[DONE]" and not parses(data)]
        for name in ("content", "arguments", "finish_reason"):
            assert f'"{name}"' not in broken
        healthy = openai_text(sse_events((await call(sim, "openai", stream=True))[1]))
        assert openai_text(events) == healthy  # nothing lost by skipping it


# --- stall with delay and then ----------------------------------------------------------


@pytest.mark.parametrize("dialect", ["openai", "anthropic", "gemini"])
async def test_stall_then_close(sim: SimServer, dialect: str) -> None:
    sim.set_fault("*", {"kind": "stall", "after": 2, "delay": 0.2})
    status, raw, error, took = await call(sim, dialect)
    assert status == 200
    assert isinstance(error, aiohttp.ClientPayloadError)  # FIN without the last chunk
    assert took >= 0.19  # (timers may fire a hair early)
    if dialect == "gemini":
        assert [gemini_text(chunk) for chunk in gemini_frames(raw)] == ["Simulated", " answer"]
    else:
        events = sse_events(raw)
        text = openai_text(events) if dialect == "openai" else anthropic_text(events)
        assert text == "Simulated answer"
    assert sim.requests()[-1].outcome == "stall"


@pytest.mark.parametrize("dialect", ["openai", "anthropic", "gemini"])
async def test_stall_then_continue_delivers_the_whole_stream(sim: SimServer, dialect: str) -> None:
    healthy = (await call(sim, dialect))[1]
    sim.set_fault("*", {"kind": "stall", "after": 3, "delay": 0.2, "then": "continue"})
    status, raw, error, took = await call(sim, dialect)
    assert (status, error) == (200, None)
    assert took >= 0.19  # (timers may fire a hair early)
    if dialect == "gemini":
        assert without_ids(gemini_frames(raw)) == without_ids(gemini_frames(healthy))
    else:
        ids = b"chatcmpl-sim" if dialect == "openai" else b"msg_sim"
        assert raw.split(ids)[0] == healthy.split(ids)[0]
        assert len(raw) == len(healthy)
    record = sim.requests()[-1]
    assert (record.outcome, record.fault) == ("200", "stall")


async def test_stall_then_continue_with_the_sdks(
    sim: SimServer, oai: openai.OpenAI, ant: anthropic.Anthropic
) -> None:
    sim.set_fault("*", {"kind": "stall", "after": 0, "delay": 0.1, "then": "continue"})
    hi: Any = [{"role": "user", "content": "hi"}]
    text = "".join(
        c.choices[0].delta.content or ""
        for c in oai.chat.completions.create(model=GPT, messages=hi, stream=True)
    )
    assert text.startswith(f"Simulated answer from {GPT}: ")
    with ant.messages.stream(model=MODEL, max_tokens=100, messages=hi) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "end_turn"
    started = time.monotonic()
    answer = oai.chat.completions.create(model=GPT, messages=hi)  # non-streaming too
    assert time.monotonic() - started >= 0.09
    assert answer.choices[0].message.content == text


@pytest.mark.parametrize("dialect", ["openai", "anthropic", "gemini"])
async def test_stall_without_a_stream(sim: SimServer, dialect: str) -> None:
    healthy = (await call(sim, dialect, stream=False))[1]
    sim.set_fault("*", {"kind": "stall", "delay": 0.2})
    status, raw, error, took = await call(sim, dialect, stream=False)
    assert status == 200
    assert isinstance(error, aiohttp.ClientPayloadError)
    assert took >= 0.19  # (timers may fire a hair early)
    assert 0 < len(raw) < len(healthy)
    sim.set_fault("*", {"kind": "stall", "delay": 0.2, "then": "continue"})
    status, raw, error, took = await call(sim, dialect, stream=False)
    assert (status, error) == (200, None)
    assert took >= 0.19  # (timers may fire a hair early)
    assert len(raw) == len(healthy)
    json.loads(raw)
