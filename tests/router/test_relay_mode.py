"""Relay mode (router/direct.py, server/direct.py): after the first content, a committed
stream's events are checked and written to the caller from the upstream connection's
callback. What the caller gets must be byte for byte what the generic loop (the task
reading, the ASGI `send` writing) gives, and every end of a stream must still be reached
from relay mode: the terminal event, a slow reader, a caller that leaves, an idle stall,
a break that is resumed, an oversized answer.

Each test checks that relay mode really ran (the spy counts pieces it was fed), so none
passes by falling back to the generic loop. The scripted upstream sends the events up to
the first content, then waits until relay mode is entered before sending the rest, one
event per write, so that relay mode is reached without depending on timing.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from failsoft.config import parse_config
from failsoft.events import RequestFinished
from failsoft.router import direct
from failsoft.serve import GatewayThread
from failsoft.server import chat as chat_endpoint
from failsoft.sim import SimServer
from tests.chaos.conftest import HI, chaos_config
from tests.helpers import request
from tests.upstream import Captured, ScriptedUpstream

GOLDEN = Path(__file__).resolve().parents[1] / "translate" / "golden" / "streams"
CONFIG = """
providers:
  up: {{dialect: openai, base_url: "{url}/v1", api_key: sk-up}}
  upA: {{dialect: anthropic, base_url: "{url}", api_key: sk-up}}
models:
  oai: [up/m]
  ant: [upA/m]
deadlines: {{first_token: 3, idle: {idle}, total: 20}}
resume: {{enabled: false}}
{extra}
"""
ANTHROPIC = {"content-type": "application/json", "anthropic-version": "2023-06-01"}


def events_of(name: str) -> list[bytes]:
    raw = (GOLDEN / name).read_bytes()
    return [part + b"\n\n" for part in raw.split(b"\n\n") if part.strip()]


class PacedUpstream(ScriptedUpstream):
    """Sends `head` events at once, then waits for `gate` (relay mode entered), then
    `rest` one event per write; then ends, stalls (`stall`), or cuts the connection."""

    def __init__(self) -> None:
        super().__init__()
        self.head: list[bytes] = []
        self.rest: list[bytes] = []
        self.gate = threading.Event()
        self.ending = "end"
        """"end", "stall" (no more bytes, connection open), "endless" (one more event
        every few ms until the gateway goes away)."""
        self.ended = threading.Event()
        """The handler finished (the gateway closed the connection, for "endless")."""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(Captured(request.path, dict(request.headers), body))
        resp = web.StreamResponse(status=200)
        resp.content_type = "text/event-stream"
        try:
            await resp.prepare(request)
            await resp.write(b"".join(self.head))
            await asyncio.to_thread(self.gate.wait, 5)
            for event in self.rest:
                await resp.write(event)
                await asyncio.sleep(0.001)
            while self.ending == "stall" and not _gone(request):
                await asyncio.sleep(0.01)  # silent until the gateway drops the connection
            while self.ending == "endless":
                await resp.write(self.rest[-1])
                await asyncio.sleep(0.005)
            await resp.write_eof()
        finally:
            self.ended.set()
        return resp

    def split(self, events: list[bytes], content_marker: bytes) -> None:
        """Split at the first event carrying content (`content_marker`)."""
        first = next(i for i, e in enumerate(events) if content_marker in e)
        self.head, self.rest = events[: first + 1], events[first + 1 :]


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


class Spy:
    """Counts what relay mode did, in the gateway's thread (`fed`: reads it handled)."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.attached = 0
        self.fed = 0
        self.held = 0
        self.gate = gate
        self.held_seen = threading.Event()


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    watch = Spy()
    attach, flush = direct.DirectRelay.attach, direct.DirectRelay.flush

    def spied_attach(self: direct.DirectRelay) -> bool:
        entered = attach(self)
        if entered:
            watch.attached += 1
            if watch.gate is not None:
                watch.gate.set()
        return entered

    def spied_flush(self: direct.DirectRelay) -> None:
        watch.fed += 1
        flush(self)
        if self.held:
            watch.held += 1
            watch.held_seen.set()

    monkeypatch.setattr(direct.DirectRelay, "attach", spied_attach)
    monkeypatch.setattr(direct.DirectRelay, "flush", spied_flush)
    return watch


@pytest.fixture
def upstream() -> Iterator[PacedUpstream]:
    with PacedUpstream().running() as server:
        yield server  # type: ignore[misc]


def gateway(upstream: PacedUpstream, idle: float = 2.0, extra: str = "") -> GatewayThread:
    config = CONFIG.format(url=upstream.url, idle=idle, extra=extra)
    return GatewayThread(parse_config(config)).start()


CASES = {
    # caller path, model, body extra, upstream golden stream, its first content marker
    "openai": ("/v1/chat/completions", "oai", {}, "openai_text.openai.sse", b'"content":"Hello"'),
    "openai-tools": (
        "/v1/chat/completions",
        "oai",
        {},
        "openai_tool_calls.openai.sse",
        b'"arguments":"{',
    ),
    "anthropic": ("/v1/messages", "ant", {}, "anthropic_text.anthropic.sse", b"text_delta"),
    "translated": (
        "/v1/chat/completions",
        "ant",
        {},
        "anthropic_text.anthropic.sse",
        b"text_delta",
    ),
    "translated-usage": (
        "/v1/chat/completions",
        "ant",
        {"stream_options": {"include_usage": True}},
        "anthropic_tool_use.anthropic.sse",
        b"input_json_delta",
    ),
}


def ask(gw: GatewayThread, case: str) -> bytes:
    path, model, extra, _, _ = CASES[case]
    body: dict[str, Any] = {"model": model, "stream": True, "max_tokens": 50, **extra}
    body["messages"] = [{"role": "user", "content": "hi"}]
    headers = ANTHROPIC if path == "/v1/messages" else None
    answer = request(gw.url + path, body=body, headers=headers)
    assert answer.status == 200
    return answer.body


def normal(body: bytes) -> bytes:
    """A translated stream's `created` is the clock's second: the only part that varies."""
    return re.sub(rb'"created":\d+', b'"created":0', body)


@pytest.mark.parametrize("case", list(CASES))
def test_relay_mode_is_byte_identical_to_the_generic_loop(
    case: str, upstream: PacedUpstream, spy: Spy, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, _, golden, marker = CASES[case]
    upstream.split(events_of(golden), marker)
    spy.gate = upstream.gate
    gw = gateway(upstream)
    try:
        direct_body = ask(gw, case)
        assert spy.attached == 1
        assert spy.fed >= len(upstream.rest) // 2  # the rest came through relay mode
        fed = spy.fed
        # The generic loop: no direct writer, the task reads and `send` writes.
        monkeypatch.setattr(chat_endpoint, "direct_send", lambda send: None)
        generic_body = ask(gw, case)  # the gate stays open: all the rest at once
        assert spy.fed == fed  # not used
    finally:
        gw.stop()
    assert normal(direct_body) == normal(generic_body)
    assert direct_body.endswith(b"data: [DONE]\n\n") or direct_body.endswith(
        b'data: {"type":"message_stop"}\n\n'
    )


def test_a_slow_reader_gets_everything_through_paused_writes(
    upstream: PacedUpstream, spy: Spy
) -> None:
    """The caller reads nothing until relay mode found its writes paused: the batch held
    then goes through `send`, which waits for the caller; the stream ends complete."""
    filler = "x" * 4000
    event = (
        b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
        b'"choices":[{"index":0,"delta":{"content":"' + filler.encode() + b'"}}]}\n\n'
    )
    finish = (
        b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
        b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    )
    upstream.head = [event]
    upstream.rest = [event] * 3000 + [finish, b"data: [DONE]\n\n"]
    spy.gate = upstream.gate
    gw = gateway(upstream)
    body = b'{"model":"oai","stream":true,"messages":[{"role":"user","content":"hi"}]}'
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(20)
    try:
        sock.connect(("127.0.0.1", gw.port))
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        assert spy.held_seen.wait(15), "the caller's writes never paused"
        received = bytearray()
        while not received.endswith(b"0\r\n\r\n"):
            data = sock.recv(1 << 20)
            assert data, "the gateway closed the connection"
            received += data
    finally:
        sock.close()
        gw.stop()
    assert spy.attached >= 1 and spy.held >= 1
    text = bytes(received)
    assert text.count(filler.encode()) == 3001
    assert b"data: [DONE]" in text
    assert b"failsoft:" not in text


def test_a_caller_that_leaves_in_relay_mode_closes_the_upstream(
    upstream: PacedUpstream, spy: Spy
) -> None:
    events = events_of("openai_text.openai.sse")
    upstream.split(events[:-2], b'"content":"Hello"')  # no finish, no [DONE]: endless
    upstream.ending = "endless"
    spy.gate = upstream.gate
    gw = gateway(upstream)
    finished = threading.Event()
    unsubscribe = gw.runtime.hub.subscribe(RequestFinished, lambda _: finished.set())
    body = b'{"model":"oai","stream":true,"messages":[{"role":"user","content":"hi"}]}'
    try:
        sock = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        assert b"200 OK" in sock.recv(65536)
        assert upstream.gate.wait(5)
        while spy.fed < 5:  # events are flowing through relay mode
            assert sock.recv(65536)
        sock.close()
        assert finished.wait(5), "the relay kept running after the caller left"
        assert upstream.ended.wait(5), "the upstream connection was not closed"
    finally:
        unsubscribe()
        gw.stop()


def test_an_idle_stall_in_relay_mode_ends_with_the_in_band_error(
    upstream: PacedUpstream, spy: Spy
) -> None:
    events = events_of("openai_text.openai.sse")
    upstream.split(events[:-2], b'"content":"Hello"')
    upstream.ending = "stall"
    spy.gate = upstream.gate
    gw = gateway(upstream, idle=0.3)
    try:
        body = ask(gw, "openai")
    finally:
        gw.stop()
    assert spy.attached == 1
    assert spy.fed >= 1
    assert body.startswith(b"".join(events[:-2]))
    assert b"failsoft: the stream from up/m broke after" in body
    assert b"idle" in body
    assert upstream.ended.wait(5)


def test_an_answer_over_the_cap_in_relay_mode_is_a_break(upstream: PacedUpstream, spy: Spy) -> None:
    events = events_of("openai_text.openai.sse")
    upstream.split(events[:-2], b'"content":"Hello"')
    upstream.ending = "endless"
    spy.gate = upstream.gate
    gw = gateway(upstream, extra="server: {max_answer_bytes: 4000}")
    try:
        body = ask(gw, "openai")
    finally:
        gw.stop()
    assert spy.attached == 1
    assert b"failsoft: the stream from up/m broke after" in body
    assert upstream.ended.wait(5)


def test_a_break_in_relay_mode_is_resumed(sim: SimServer, spy: Spy) -> None:
    """A stream cut in relay mode (paced so that relay mode is reached) is finished from
    the next target, exactly."""
    text = " ".join(f"word{i}" for i in range(40))
    for name in ("gpt-4o", "gpt-4o-mini"):
        sim.set_model(name, answer=text, on_continue="sentence", chunk_delay=0.01)
    sim.set_fault("gpt-4o", {"kind": "cut", "after": 25, "mode": "reset"})
    gw = GatewayThread(chaos_config(sim.url, {"deadlines": {"total": 20}})).start()
    try:
        import openai

        with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client:
            chunks = list(
                client.chat.completions.create(model="gpt", messages=HI, stream=True)  # type: ignore[arg-type]
            )
    finally:
        gw.stop()
        for name in ("gpt-4o", "gpt-4o-mini"):
            sim.set_model(name, answer=None, on_continue="continue", chunk_delay=0.0)
    said = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert said == text
    assert spy.attached >= 1 and spy.fed >= 5


def test_a_bug_in_relay_mode_ends_the_stream_as_the_generic_loop_does(
    upstream: PacedUpstream, spy: Spy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception from the checks inside the upstream's callback is raised in the relay's
    task: the caller gets the internal-error event, the gateway goes on."""
    from failsoft.router.streaming import CommittedStream

    scan = CommittedStream._scan
    calls = []

    def failing(self: CommittedStream) -> Any:
        calls.append(1)
        if len(calls) == 2:  # the first scan in relay mode
            raise RuntimeError("a bug")
        return scan(self)

    monkeypatch.setattr(CommittedStream, "_scan", failing)
    upstream.split(events_of("openai_text.openai.sse"), b'"content":"Hello"')
    spy.gate = upstream.gate
    gw = gateway(upstream)
    try:
        body = ask(gw, "openai")
    finally:
        gw.stop()
    assert spy.fed >= 1
    assert b"failsoft: internal error while relaying the stream" in body


def test_the_terminal_event_goes_out_with_the_response_end(
    upstream: PacedUpstream, spy: Spy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stream's final batch is held and sent with the last chunk: one write."""
    from failsoft.server.cycle import Cycle

    sent: list[tuple[bytes, bool]] = []
    send = Cycle.send

    async def recorded(self: Cycle, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            sent.append((message.get("body", b""), message.get("more_body", False)))
        await send(self, message)

    monkeypatch.setattr(Cycle, "send", recorded)
    events = events_of("openai_text.openai.sse")
    upstream.split(events, b'"content":"Hello"')
    spy.gate = upstream.gate
    gw = gateway(upstream)
    try:
        body = ask(gw, "openai")
    finally:
        gw.stop()
    assert body == b"".join(events)
    assert spy.fed >= 1
    final, more = sent[-1]
    assert not more
    assert final.endswith(b"data: [DONE]\n\n")
    assert all(b"[DONE]" not in part for part, _ in sent[:-1])
