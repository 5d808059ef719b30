"""The gateway end to end with each proxied-path client (`transport.client`, both by the
autouse `client` fixture of this folder): the real SDKs through a gateway in front of the
simulator, streamed and not, failover before the first content, a stream cut after its
commit, a caller gone mid-stream, a refused connection, and the environment's proxy. Both
clients must give the callers the same answers, trails and errors."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest

from failsoft.config import parse_config
from failsoft.events import RequestFinished
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.conftest import CALLER_KEY, PROVIDER_KEY
from tests.helpers import chat, request
from tests.transport.scripted import ForwardProxy, forward_proxy

HI: Any = [{"role": "user", "content": "hi"}]


@pytest.fixture
def gw(make_gateway: Callable[..., GatewayThread], client: str) -> GatewayThread:
    gateway = make_gateway(f"transport: {{client: {client}}}")
    assert gateway.runtime.transport.client == client
    return gateway


@pytest.fixture
def oai(gw: GatewayThread) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=CALLER_KEY, max_retries=0) as c:
        yield c


@pytest.fixture
def ant(gw: GatewayThread) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=gw.url, api_key=CALLER_KEY, max_retries=0) as c:
        yield c


def settled(gw: GatewayThread) -> None:
    """Every provider's pool has its slots back (the relay ends on the gateway's loop)."""
    deadline = time.monotonic() + 10
    pools = gw.runtime.transport.pools
    while any(pool.in_use for pool in pools.values()):
        assert time.monotonic() < deadline, {n: p.in_use for n, p in pools.items()}
        time.sleep(0.01)


def test_answers_streamed_and_not(
    oai: openai.OpenAI, ant: anthropic.Anthropic, gw: GatewayThread, client: str
) -> None:
    raw = oai.chat.completions.with_raw_response.create(model="gpt", messages=HI)
    plain = raw.parse()
    assert plain.model == "gpt-4o" and plain.choices[0].message.content
    assert raw.headers["x-failsoft-trail"] == "openai/gpt-4o:200"
    chunks = list(oai.chat.completions.create(model="gpt", messages=HI, stream=True))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == plain.choices[0].message.content
    with ant.messages.stream(model="claude", max_tokens=64, messages=HI) as stream:
        message = stream.get_final_message()
    assert message.model == "claude-opus-4-7" and message.stop_reason == "end_turn"
    settled(gw)
    assert gw.runtime.transport.idle_connections >= 1  # kept alive for the next request
    assert (gw.runtime.transport._aio is not None) == (client == "aiohttp")  # the one asked


@pytest.mark.parametrize(
    ("fault", "token"),
    [
        ({"kind": "status", "status": 500}, "500"),
        ({"kind": "reset"}, "reset"),
        ({"kind": "hang"}, "first_token_timeout"),
        ({"kind": "cut", "after": 0, "mode": "reset", "stream": True}, "reset"),
    ],
    ids=["500", "reset", "hang", "cut-before-content"],
)
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_failover_before_the_first_content(
    oai: openai.OpenAI, sim: SimServer, gw: GatewayThread, fault: Any, token: str, stream: bool
) -> None:
    sim.set_fault("gpt-4o", fault)
    if stream:
        with oai.chat.completions.with_streaming_response.create(
            model="gpt", messages=HI, stream=True
        ) as raw:
            headers = raw.headers
            models = {c.model for c in raw.parse()}
    else:
        reply = oai.chat.completions.with_raw_response.create(model="gpt", messages=HI)
        headers, models = reply.headers, {reply.parse().model}
    assert models == {"gpt-4o-mini"}
    assert headers["x-failsoft-trail"] == f"openai/gpt-4o:{token},openai/gpt-4o-mini:200"
    settled(gw)


def test_a_stream_cut_after_its_commit_ends_with_the_in_band_error(
    oai: openai.OpenAI, ant: anthropic.Anthropic, sim: SimServer, gw: GatewayThread
) -> None:
    sim.set_fault("gpt-4o", {"kind": "cut", "after": 3})
    with pytest.raises(openai.APIError, match="failsoft: the stream from openai/gpt-4o broke"):
        for _ in oai.chat.completions.create(model="gpt", messages=HI, stream=True):
            pass
    sim.set_fault("claude-opus-4-7", {"kind": "cut", "after": 5, "mode": "reset"})
    with (
        pytest.raises(anthropic.APIStatusError, match="broke after"),
        ant.messages.stream(model="claude", max_tokens=64, messages=HI) as stream,
    ):
        stream.get_final_message()
    assert sim.attempts("claude-sonnet-4-5") == 0
    settled(gw)


def test_a_caller_gone_mid_stream_closes_the_upstream(gw: GatewayThread, sim: SimServer) -> None:
    sim.set_model("gpt-4o", chunk_delay=0.05, answer_words=200)  # a 10 s answer
    finished = threading.Event()
    unsubscribe = gw.runtime.hub.subscribe(RequestFinished, lambda _: finished.set())
    body = b'{"model":"gpt","stream":true,"messages":[{"role":"user","content":"long"}]}'
    try:
        with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as sock:
            sock.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                b"content-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                % (len(body), body)
            )
            assert b"200 OK" in sock.recv(65536)
        assert finished.wait(5), "the relay kept running after the caller left"
    finally:
        unsubscribe()
        sim.set_model("gpt-4o", chunk_delay=0.0, answer_words=12)
    settled(gw)


def test_a_refused_connection_fails_over_as_connect(
    make_gateway: Callable[..., GatewayThread], sim: SimServer, client: str
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listening: refused
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        text = (
            "providers:\n"
            f"  dead: {{dialect: openai, base_url: '{dead}', api_key: k}}\n"
            f"  openai: {{dialect: openai, base_url: '{sim.url}/v1', api_key: {PROVIDER_KEY}}}\n"
            "models: {m: [dead/gpt-4o, openai/gpt-4o-mini]}\n"
            "retry: {max_attempts: 1}\n"
            f"transport: {{client: {client}}}\n"
        )
        gw = make_gateway(config=parse_config(text))
        reply = request(gw.url + "/v1/chat/completions", body=chat("m"))
    assert reply.status == 200, reply.body
    assert reply.headers["x-failsoft-trail"] == "dead/gpt-4o:connect,openai/gpt-4o-mini:200"


@contextlib.contextmanager
def proxy_in_a_thread(require: bytes | None = None) -> Iterator[ForwardProxy]:
    """scripted.py's forward proxy on a loop of its own (the gateway has its own thread);
    `asyncio.run` cancels its connections' tasks when it stops."""
    ready = threading.Event()
    box: list[tuple[ForwardProxy, asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def run() -> None:
        stop = asyncio.Event()
        async with forward_proxy(require=require, origin_form=True) as proxy:
            box.append((proxy, asyncio.get_running_loop(), stop))
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(run(),), daemon=True)
    thread.start()
    assert ready.wait(5)
    proxy, loop, stop = box[0]
    try:
        yield proxy
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(5)


def test_through_the_environments_proxy_with_credentials(
    make_gateway: Callable[..., GatewayThread],
    sim: SimServer,
    client: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    basic = b"Basic " + base64.b64encode(b"gw:pa ss")
    with proxy_in_a_thread(require=basic) as proxy:
        for name in ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY", "HTTP_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("http_proxy", proxy.url.replace("://", "://gw:pa%20ss@"))
        gw = make_gateway(f"transport: {{client: {client}}}")
        monkeypatch.delenv("http_proxy")  # read once, when the gateway was made
        for stream in (False, True):
            reply = request(gw.url + "/v1/chat/completions", body=chat("gpt", stream=stream))
            assert reply.status == 200, reply.body
            assert reply.headers["x-failsoft-trail"] == "openai/gpt-4o:200"
        settled(gw)
    assert proxy.seen and all(head.startswith(b"POST http://127.0.0.1:") for head in proxy.seen)
