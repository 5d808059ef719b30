"""What the client candidates do, besides speed, probed on 127.0.0.1 (not measured):

- proxy: with HTTP_PROXY pointing at a local listener, does a default-built client send its
  request there (the listener sees `POST http://...` as the request line)?
- cancel: a request to a server that never answers is cancelled (asyncio.wait_for) while
  the client lives on (as a gateway's does); does the server see the connection closed
  within 5 s? "left open" holds a socket (and, with a pool limit, a slot) per cancelled call;
- verify: does the client refuse the test server over TLS, whose CA nobody trusts?

The cancel and verify probes use clients.py's candidates as benchmarked; the proxy probe a
default-built client of each kind (clients.py turns proxies off, as nothing may leave
127.0.0.1).

Usage: /tmp/cand-venv/bin/python bench/candidates/features.py
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402

sys.path.insert(0, os.environ.get("CAND_FAILSOFT_SRC") or str(common.ROOT / "src"))
from clients import KINDS  # noqa: E402

BODY = b'{"model": "m"}'


async def send(name: str, url: str) -> Any:
    """One POST with a default-built client (only the proxy variables of the environment)."""
    if name == "aiohttp":
        import aiohttp

        async with aiohttp.ClientSession() as session, session.post(url, data=BODY) as resp:
            return resp.status
    if name == "aiohttp trust_env":
        import aiohttp

        async with aiohttp.ClientSession(trust_env=True) as s, s.post(url, data=BODY) as resp:
            return resp.status
    if name == "minimal":
        import minclient

        resp = await minclient.Client().post(url, {}, BODY)
        return resp.status
    if name == "pyreqwest":
        from pyreqwest.client import ClientBuilder

        async with ClientBuilder().build() as client:
            return (await client.post(url).body_bytes(BODY).build().send()).status
    if name == "rnet":
        import rnet

        return (await rnet.Client().post(url, body=BODY)).status
    if name == "failsoft":
        from failsoft.transport.http import Transport

        async with Transport() as transport:
            up = await transport.post(url, {}, BODY, connect_timeout=2.0)
            up.close()
            return up.status
    raise ValueError(name)


NAMES = ("aiohttp", "aiohttp trust_env", "minimal", "pyreqwest", "rnet", "failsoft")


class Listener:
    """Accepts connections, records their first line, never answers; notes EOFs."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.closed = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            self.lines.append(await reader.readline())
            await reader.read()  # until the client closes
            self.closed += 1
        except (asyncio.CancelledError, ConnectionError):
            pass
        writer.close()


async def probe(name: str, tls_url: str) -> dict[str, str]:
    listener = Listener()
    server = await asyncio.start_server(listener.handle, common.HOST, 0)
    port = server.sockets[0].getsockname()[1]
    found: dict[str, str] = {}
    # proxy: the target port has nothing listening; only a proxy-honouring client reaches us
    os.environ["HTTP_PROXY"] = os.environ["http_proxy"] = f"http://{common.HOST}:{port}"
    target = f"http://{common.HOST}:{common.free_port()}/v1/chat/completions"
    with contextlib.suppress(Exception):  # refused or timed out: the listener tells
        await asyncio.wait_for(send(name, target), 1.0)
    for key in ("HTTP_PROXY", "http_proxy"):
        os.environ.pop(key)
    found["proxy"] = "yes" if any(b"http://" in line for line in listener.lines) else "no"
    if name not in KINDS:
        server.close()
        return found
    # cancel: ask the listener itself, which never answers
    await asyncio.sleep(0.5)  # a proxied attempt above has closed by now
    candidate = KINDS[name]()
    await candidate.open(None)
    before = listener.closed
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(
            candidate.request(f"http://{common.HOST}:{port}/x", BODY, False), 0.3
        )
    for _ in range(100):
        if listener.closed > before:
            break
        await asyncio.sleep(0.05)
    found["cancel"] = "closes" if listener.closed > before else "left open"
    # verify: the TLS test server's certificate is signed by a CA nobody trusts
    try:
        await asyncio.wait_for(candidate.request(tls_url, BODY, False), 3.0)
        found["verify"] = "NO (accepted)"
    except Exception as exc:
        found["verify"] = f"yes ({type(exc).__name__})"
    await candidate.close()
    server.close()
    return found


def main() -> None:
    import uvloop

    for key in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        os.environ.pop(key, None)
    with tempfile.TemporaryDirectory() as tmp:
        _, cert, key = common.make_cert(Path(tmp))
        ports = [common.free_port() for _ in range(3)]
        tiny = common.start(
            [sys.executable, str(HERE / "tinyserver.py"), "--cert", str(cert), "--key", str(key),
             "--tls-port", str(ports[0]), "--tls-close-port", str(ports[1]),
             "--close-port", str(ports[2])],
            None,
            Path(tmp) / "tiny.log",
        )  # fmt: skip
        try:
            common.wait_port(ports[0], tiny)
            tls_url = f"https://{common.HOST}:{ports[0]}/v1/chat/completions"
            print("| client | honours HTTP_PROXY | cancelled request | verifies TLS by default |")
            print("|---|---|---|---|")
            for name in NAMES:
                row = uvloop.run(probe(name, tls_url))
                cells = [row.get(key, "-") for key in ("proxy", "cancel", "verify")]
                print(f"| {name} | " + " | ".join(cells) + " |")
        finally:
            common.stop(tiny)


if __name__ == "__main__":
    main()
