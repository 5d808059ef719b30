"""The upstream client alone: CPU per proxied request, failsoft's HTTP/1.1 client
(`transport/h1.py`) against aiohttp as it was configured, plain HTTP and TLS.

    python bench/client_bench.py [--requests 4000] [--concurrency 1 16] [--sim]

The client under test runs in this process, pinned to core 0; the upstream in a child
pinned to core 1: a small httptools server in this file (plain and TLS, a self-signed
certificate made in a temporary folder and trusted by the client alone), or with `--sim`
also `python -m failsoft sim` (plain). The figure is this process's CPU time
(`time.process_time`) divided by the requests, best of `--rounds`: the upstream's CPU is
not in it. Each request is what the proxied path does: POST a ~300-byte body, read the
whole answer (a 600-byte JSON, or a 50-event SSE stream with `--stream`), finish.
"new conn" rows drop the connection after every request: the TLS handshake's cost is
their TLS figure minus their plain one. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httptools
import orjson
import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench" / "candidates"))

import common  # noqa: E402  (bench/candidates/common.py: ports, child processes)

JSON = orjson.dumps(common.completion("word " * 50, "chatcmpl-1", (10, 50)))
EVENT = (
    b'data: {"id":"c","object":"chat.completion.chunk",'
    b'"choices":[{"index":0,"delta":{"content":"word "}}]}\n\n'
)
SSE = b"".join(b"%x\r\n%s\r\n" % (len(EVENT), EVENT) for _ in range(50)) + (
    b"e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n"
)
REQUEST = orjson.dumps(
    {"model": "gpt-4o", "messages": [{"role": "user", "content": "hello " * 40}]}
)


class Mock(asyncio.Protocol):
    """A keep-alive upstream: JSON for `"stream": false` bodies, SSE otherwise."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.parser = httptools.HttpRequestParser(self)
        self.body = b""

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    def on_message_begin(self) -> None:
        self.body = b""

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        if b'"stream":true' in self.body:
            self.transport.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                b"transfer-encoding: chunked\r\n\r\n" + SSE
            )
        else:
            self.transport.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\n\r\n%s" % (len(JSON), JSON)
            )


def serve(port: int, cert: str | None, key: str | None) -> None:
    tls = None
    if cert and key:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(cert, key)

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Mock, "127.0.0.1", port, ssl=tls)
        async with server:
            await server.serve_forever()

    uvloop.run(main())


async def run_failsoft(url: str, n: int, conc: int, tls: ssl.SSLContext, fresh: bool) -> float:
    from failsoft.transport import Transport

    headers = {"authorization": "Bearer sk-sim", "content-type": "application/json"}
    async with Transport(tls=tls, proxies={}) as transport:

        async def one() -> None:
            upstream = await transport.post(url, headers, BODY, connect_timeout=5)
            while await upstream.readany():
                pass
            if fresh:
                upstream.close()
            else:
                upstream.finish()

        return await timed(one, n, conc)


async def run_aiohttp(url: str, n: int, conc: int, tls: ssl.SSLContext, fresh: bool) -> float:
    import aiohttp

    headers = {"authorization": "Bearer sk-sim", "content-type": "application/json"}
    keep: dict[str, object] = {"force_close": True} if fresh else {"keepalive_timeout": 30}
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, ssl=tls, **keep)  # type: ignore[arg-type]
    async with aiohttp.ClientSession(
        connector=connector,
        auto_decompress=False,
        skip_auto_headers=("User-Agent", "Accept-Encoding"),
        read_bufsize=1 << 16,
        timeout=aiohttp.ClientTimeout(total=None),
    ) as session:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, connect=5)

        async def one() -> None:
            resp = await session.post(url, data=BODY, headers=headers, timeout=timeout)
            while await resp.content.readany():
                pass
            if fresh:
                resp.close()
            else:
                resp.release()

        return await timed(one, n, conc)


async def timed(call: Callable[[], Awaitable[None]], n: int, conc: int) -> float:
    for _ in range(min(200, n)):  # warm: connections made, caches filled
        await call()
    per = n // conc

    async def worker() -> None:
        for _ in range(per):
            await call()

    started = time.process_time()
    await asyncio.gather(*(worker() for _ in range(conc)))
    return (time.process_time() - started) / (per * conc) * 1e6


BODY = REQUEST


def row(
    name: str, url: str, conc: int, fresh: bool, args: argparse.Namespace, trust: ssl.SSLContext
) -> None:
    """One line: both clients, the same load, best of `--rounds` each."""
    n = args.requests if not fresh else max(200, args.requests // 8)
    ours = min(uvloop.run(run_failsoft(url, n, conc, trust, fresh)) for _ in range(args.rounds))
    theirs = min(uvloop.run(run_aiohttp(url, n, conc, trust, fresh)) for _ in range(args.rounds))
    mode = "new conn" if fresh else "keep-alive"
    ratio = theirs / ours
    print(f"{name:<12} {mode:<10} {conc:>4} {ours:>12.1f} {theirs:>10.1f} {ratio:>5.1f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cert", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--stream", action="store_true", help="50-event SSE answers")
    parser.add_argument("--sim", action="store_true", help="also against `failsoft sim`")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.cert, args.key)
        return 0
    global BODY
    if args.stream:
        BODY = REQUEST[:-1] + b',"stream":true}'
    sys.path.insert(0, str(ROOT / "src"))
    sys.path.insert(0, str(ROOT))
    from tests.certs import make_cert, trusting

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        cert, key = make_cert(folder, "bench")
        trust = trusting(cert)
        plain, tls = common.free_port(), common.free_port()
        two = len(os.sched_getaffinity(0)) > 1
        pin = ["taskset", "-c", "1"] if two else []
        children = [
            subprocess.Popen([*pin, sys.executable, __file__, "--serve", str(plain)]),
            subprocess.Popen(
                [
                    *pin,
                    sys.executable,
                    __file__,
                    "--serve",
                    str(tls),
                    "--cert",
                    str(cert),
                    "--key",
                    str(key),
                ]
            ),
        ]
        targets = [
            ("mock http", f"http://127.0.0.1:{plain}/v1/chat/completions"),
            ("mock https", f"https://127.0.0.1:{tls}/v1/chat/completions"),
        ]
        if args.sim:
            sim = common.free_port()
            children.append(
                subprocess.Popen(
                    [*pin, sys.executable, "-m", "failsoft", "sim", "--port", str(sim)],
                    env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            targets.append(("sim http", f"http://127.0.0.1:{sim}/v1/chat/completions"))
        try:
            ports = (plain, tls) + ((sim,) if args.sim else ())
            for port, child in zip(ports, children, strict=True):
                common.wait_port(port, child)
            if two:
                os.sched_setaffinity(0, {0})
            kind = "sse 50 events" if args.stream else "json 600 B"
            print(f"answers: {kind}; CPU µs per request of this process, best of {args.rounds}")
            print(
                f"{'target':<12} {'mode':<10} {'conc':>4} {'failsoft h1':>12} "
                f"{'aiohttp':>10} {'ratio':>6}"
            )
            for name, url in targets:
                for fresh in (False, True):
                    for conc in args.concurrency if not fresh else [1]:
                        row(name, url, conc, fresh, args, trust)
        finally:
            for child in children:
                child.terminate()
                child.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
