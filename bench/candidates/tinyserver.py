"""The TLS test upstream for clients.py: uvloop + httptools, every POST answered with the same
600-byte chat.completion JSON. One process serves three ports:

- `--tls-port`: TLS, keep-alive;
- `--tls-close-port`: TLS, `connection: close` on every answer (a handshake per request);
- `--close-port`: plain TCP, `connection: close` (to tell connecting from the handshake).

`GET /_stats` on any port answers the TLS handshakes so far, full and resumed: whether a
client resumes sessions explains much of its cost per new connection.

Usage: python tinyserver.py --cert C --key K --tls-port P1 --tls-close-port P2 --close-port P3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl

import common
import httptools
import uvloop

ANSWER = json.dumps(
    common.completion("word " * 70, "chatcmpl-bench", (500, 70), created=1700000000)
).encode()


def answer(close: bool) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n%s"
        % (len(ANSWER), b"connection: close\r\n" if close else b"", ANSWER)
    )


STATS = {"full": 0, "resumed": 0}


class Upstream(asyncio.Protocol):
    def __init__(self, close: bool) -> None:
        self.close = close
        self.reply = answer(close)
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.url = b""
        tls = transport.get_extra_info("ssl_object")
        if tls is not None:
            STATS["resumed" if tls.session_reused else "full"] += 1

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_message_complete(self) -> None:
        assert self.transport is not None
        if self.url == b"/_stats":
            body = json.dumps(STATS).encode()
            self.transport.write(
                b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
            )
        else:
            self.transport.write(self.reply)
        self.url = b""
        if self.close or not self.parser.should_keep_alive():
            self.transport.close()


async def main(args: argparse.Namespace) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    loop = asyncio.get_running_loop()
    for port, tls, close in (
        (args.tls_port, True, False),
        (args.tls_close_port, True, True),
        (args.close_port, False, True),
    ):
        await loop.create_server(
            lambda close=close: Upstream(close),  # type: ignore[misc]
            "127.0.0.1",
            port,
            ssl=context if tls else None,
            backlog=1024,
        )
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for flag in ("--cert", "--key"):
        parser.add_argument(flag, required=True)
    for flag in ("--tls-port", "--tls-close-port", "--close-port"):
        parser.add_argument(flag, type=int, required=True)
    uvloop.run(main(parser.parse_args()))
