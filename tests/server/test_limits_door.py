"""The limits at the door (issue 17): request head size and header count, deadlines for a
request's head and body, connections per client address and in all.

Black-box: raw sockets (and the openai SDK) against a gateway in a thread or a real
`failsoft serve` process, so these hold whatever HTTP server failsoft runs on. Deadlines
are short through the config; closes are waited for with a bounded poll.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import openai
import pytest

from failsoft.config import Config, parse_config
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.certs import make_cert, trusting
from tests.conftest import PROVIDER_KEY
from tests.helpers import request
from tests.test_cli import free_port, process, wait_for

SLOW_MODEL = "door-slow"
"""A simulator model of this file only: a stream that lasts well past the deadlines."""

Connect = Callable[[GatewayThread], socket.socket]
Door = Callable[[str], GatewayThread]

HEALTH = b"GET /healthz HTTP/1.1\r\nhost: x\r\n"


def config(sim: SimServer, server: str) -> Config:
    return parse_config(
        f"providers:\n  openai: {{dialect: openai, base_url: '{sim.url}/v1', api_key: {PROVIDER_KEY}}}\n"
        f"models:\n  slow: [openai/{SLOW_MODEL}]\n  gpt: [openai/gpt-4o]\n"
        "deadlines: {connect: 1, first_token: 2, idle: 2, total: 20}\n"
        f"server: {server}\n"
    )


@pytest.fixture
def door(
    make_gateway: Callable[..., GatewayThread], sim: SimServer
) -> Callable[[str], GatewayThread]:
    return lambda server: make_gateway(config=config(sim, server))


@pytest.fixture
def sockets() -> Iterator[Callable[[GatewayThread], socket.socket]]:
    opened: list[socket.socket] = []

    def connect(gw: GatewayThread) -> socket.socket:
        sock = socket.create_connection((gw.host, gw.port), timeout=5)
        opened.append(sock)
        return sock

    yield connect
    for sock in opened:
        sock.close()


def until_closed(sock: socket.socket, within: float = 5.0) -> bytes:
    """Everything the server sends until it closes the connection; fails if it has not
    closed within `within` seconds."""
    deadline = time.monotonic() + within
    data = b""
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk
    raise AssertionError(f"still open after {within}s (received {data[:200]!r})")


def status(data: bytes) -> int:
    return int(data.split(b" ", 2)[1])


def exchange(sock: socket.socket, head: bytes) -> bytes:
    """One request without a body on a kept-alive connection, and its whole response."""
    sock.sendall(head + b"\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head_part, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head_part.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head_part


# Head size and header count


def test_a_head_over_the_limit_gets_431(door: Door, sockets: Connect) -> None:
    gw = door("{max_head_bytes: 8192}")
    ok = sockets(gw)
    assert status(exchange(ok, HEALTH + b"x-pad: " + b"a" * 7000 + b"\r\n")) == 200
    big = sockets(gw)
    big.sendall(HEALTH + b"x-pad: " + b"a" * 9000 + b"\r\n\r\n")
    answer = until_closed(big)
    assert status(answer) == 431
    assert b"max_head_bytes" in answer
    metrics = request(gw.url + "/metrics", "GET").body.decode()
    assert 'failsoft_refusals_total{kind="head_too_large"} 1.0' in metrics


def test_an_endless_header_is_refused_before_it_is_buffered(door: Door, sockets: Connect) -> None:
    gw = door("{}")  # the default: 64 KiB
    sock = sockets(gw)
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-big: ")
    sent = 0
    with contextlib.suppress(ConnectionError):
        while sent < 4 * 1024 * 1024:  # the head never ends: the gateway must
            sock.sendall(b"a" * 65536)
            sent += 65536
    assert status(until_closed(sock)) == 431
    # and it still serves
    assert status(exchange(sockets(gw), HEALTH)) == 200


def test_refusals_are_logged_a_few_times_per_address(
    door: Door, sockets: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    gw = door("{max_head_bytes: 1024}")
    caplog.set_level(logging.INFO, logger="failsoft.refusal")
    for _ in range(10):
        sock = sockets(gw)
        sock.sendall(HEALTH + b"x-pad: " + b"a" * 2000 + b"\r\n\r\n")
        assert status(until_closed(sock)) == 431
    lines = [r.getMessage() for r in caplog.records if r.name == "failsoft.refusal"]
    assert 1 <= len(lines) <= 3
    assert all("refused=head_too_large subject=127.0.0.1" in line for line in lines)


def test_too_many_header_lines_get_431(door: Door, sockets: Connect) -> None:
    gw = door("{max_headers: 20}")
    lines = b"".join(b"x-h%d: v\r\n" % i for i in range(18))
    assert status(exchange(sockets(gw), HEALTH + lines)) == 200
    sock = sockets(gw)
    sock.sendall(HEALTH + lines + b"x-a: 1\r\nx-b: 2\r\nx-c: 3\r\n\r\n")
    assert status(until_closed(sock)) == 431


# Deadlines


def test_a_slow_loris_head_is_cut_at_the_deadline(door: Door, sockets: Connect) -> None:
    gw = door("{head_timeout: 0.5}")
    sock = sockets(gw)
    sock.sendall(b"GET /healthz HTTP/1.1\r\n")
    # A byte at a time, each waited for with a short read: the deadline is not moved by
    # what trickles in.
    deadline = time.monotonic() + 5
    data = b""
    closed = False
    while time.monotonic() < deadline and not closed:
        try:
            sock.sendall(b"x")
        except ConnectionError:
            break
        sock.settimeout(0.1)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            break
        data += chunk
        closed = not chunk
    data += until_closed(sock)
    assert status(data) == 408
    assert b"head_timeout" in data


def test_many_slow_loris_connections_are_all_let_go(door: Door, sockets: Connect) -> None:
    """The attack scaled down: 50 connections each with a head begun and never finished."""
    gw = door("{head_timeout: 0.5}")
    held = [sockets(gw) for _ in range(50)]
    for sock in held:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n")
    for sock in held:
        assert status(until_closed(sock)) == 408
    assert status(exchange(sockets(gw), HEALTH)) == 200


def test_the_limits_hold_over_tls(tmp_path: Path, door: Door) -> None:
    cert, key = make_cert(tmp_path)
    gw = door(f"{{head_timeout: 0.5, max_head_bytes: 4096, tls: {{cert: '{cert}', key: '{key}'}}}}")
    context = trusting(cert)
    with socket.create_connection((gw.host, gw.port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            sock.sendall(HEALTH + b"x-pad: " + b"a" * 5000 + b"\r\n\r\n")
            assert status(until_closed(sock)) == 431
    with socket.create_connection((gw.host, gw.port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")
            assert status(until_closed(sock)) == 408


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(
    door: Door, sockets: Connect
) -> None:
    gw = door("{head_timeout: 0.3}")
    assert until_closed(sockets(gw)) == b""


def test_a_kept_alive_connection_gets_the_head_deadline_again(door: Door, sockets: Connect) -> None:
    gw = door("{head_timeout: 0.5}")
    sock = sockets(gw)
    for _ in range(3):
        assert status(exchange(sock, HEALTH)) == 200
    sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: ")
    assert status(until_closed(sock)) == 408


def test_a_slow_body_gets_408(door: Door, sockets: Connect) -> None:
    gw = door("{body_timeout: 0.5}")
    sock = sockets(gw)
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b'content-length: 1000\r\n\r\n{"model": "gpt", '
    )
    answer = until_closed(sock)
    assert status(answer) == 408
    assert b"body_timeout" in answer


def test_long_streams_and_kept_alive_connections_outlive_the_deadlines(
    door: Door, sim: SimServer
) -> None:
    """The deadlines cover receiving a request, never the answer or the idle time between
    requests: a stream lasting many times both deadlines ends whole, and the SDK's
    kept-alive connection serves the next request."""
    answer = " ".join(f"w{i}" for i in range(40))
    sim.set_model(SLOW_MODEL, answer=answer, chunk_delay=0.05)  # about 2 s
    gw = door("{head_timeout: 0.3, body_timeout: 0.3}")
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="k", max_retries=0) as client:
        for _ in range(2):
            stream = client.chat.completions.create(
                model="slow", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
            assert text == answer
            reply = client.chat.completions.create(
                model="gpt", messages=[{"role": "user", "content": "hi"}]
            )
            assert reply.choices[0].message.content


def test_pipelined_requests_are_answered_in_order(door: Door, sockets: Connect) -> None:
    gw = door("{head_timeout: 0.5, body_timeout: 0.5}")
    sock = sockets(gw)
    sock.sendall(HEALTH + b"\r\n" + b"GET /readyz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    answers = until_closed(sock)
    assert answers.count(b"HTTP/1.1 200 ") == 2


def test_an_upgrade_request_gets_no_way_around_the_limits(door: Door, sockets: Connect) -> None:
    """No WebSocket protocol takes the connection: the request is answered as any other and
    the connection stays under the deadlines."""
    gw = door("{head_timeout: 0.5}")
    sock = sockets(gw)
    upgrade = b"connection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\n"
    upgrade += b"sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    assert status(exchange(sock, HEALTH + upgrade)) == 200
    sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: ")
    assert status(until_closed(sock)) == 408


# Connections


def test_connections_per_client_address_are_capped(door: Door, sockets: Connect) -> None:
    gw = door("{max_connections_per_client: 3}")
    held = [sockets(gw) for _ in range(3)]
    for sock in held:
        assert status(exchange(sock, HEALTH)) == 200
    extra = sockets(gw)
    answer = until_closed(extra)
    assert status(answer) == 503
    assert b"max_connections_per_client" in answer
    # the three still serve; one closed frees its place
    assert status(exchange(held[0], HEALTH)) == 200
    held.pop().close()
    deadline = time.monotonic() + 5
    while True:
        sock = sockets(gw)
        try:
            if status(exchange(sock, HEALTH)) == 200:
                break
        except (ConnectionError, IndexError):
            pass
        assert time.monotonic() < deadline, "the closed connection's place was not freed"


def test_connections_in_all_are_capped(door: Door, sockets: Connect) -> None:
    gw = door("{max_connections: 2, max_connections_per_client: 0}")
    held = [sockets(gw) for _ in range(2)]
    for sock in held:
        assert status(exchange(sock, HEALTH)) == 200
    assert status(until_closed(sockets(gw))) == 503


# A real process: memory stays bounded


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_header_floods_leave_memory_bounded(tmp_path: Path, sim: SimServer) -> None:
    port = free_port()
    path = tmp_path / "gw.yaml"
    path.write_text(
        f"providers:\n  o: {{dialect: openai, base_url: '{sim.url}/v1', api_key: x}}\n"
        "models:\n  gpt: [o/gpt-4o]\nstore: {url: 'memory://'}\n"
    )
    with process("serve", "--config", str(path), "--port", str(port), cwd=tmp_path) as proc:
        url = f"http://127.0.0.1:{port}"
        wait_for(url + "/healthz", proc)
        before = rss(proc.pid)
        chunk = b"a" * 65536
        for _ in range(20):  # 20 connections, each trying to send 8 MiB of one header
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nx-big: ")
                with contextlib.suppress(ConnectionError, TimeoutError):
                    for _ in range(128):
                        sock.sendall(chunk)
                assert status(until_closed(sock)) == 431
        grown = rss(proc.pid) - before
        assert grown < 24 * 1024 * 1024, f"grew by {grown} bytes"
