"""A lean ASGI HTTP/1.1 server protocol on httptools: a STAND-IN for the floor of a
hand-written server, not a product (no limits, no timeouts, no pipelining, no lifespan,
no graceful shutdown, no chunked answers, no Expect: 100-continue).

Per request: one scope dict, the body buffered until the message ends, the app run as one
task, the head and the first body part written in one `write`.

Usage: python leanserver.py --port P   (serves apps.asgi_app on 127.0.0.1, uvloop)
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import httptools
import uvloop

STATUS = {200: b"HTTP/1.1 200 OK\r\n", 500: b"HTTP/1.1 500 Internal Server Error\r\n"}


class LeanProtocol(asyncio.Protocol):
    def __init__(self, app: Any) -> None:
        self.app = app
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.client: tuple[str, int] | None = None
        self.server: tuple[str, int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.client = transport.get_extra_info("peername")
        self.server = transport.get_extra_info("sockname")

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.write(
                b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            )
            self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        path, _, query = self.url.partition(b"?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": self.parser.get_method().decode(),
            "scheme": "http",
            "path": path.decode("latin-1"),
            "raw_path": path,
            "query_string": query,
            "root_path": "",
            "headers": self.headers,
            "client": self.client,
            "server": self.server,
        }
        body = b"".join(self.body)
        self.url, self.headers, self.body = b"", [], []
        asyncio.get_running_loop().create_task(
            self.run(scope, body, self.parser.should_keep_alive())
        )

    async def run(self, scope: dict[str, Any], body: bytes, keep_alive: bool) -> None:
        transport = self.transport
        assert transport is not None
        head: list[bytes] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                head.append(STATUS.get(message["status"], b"HTTP/1.1 %d -\r\n" % message["status"]))
                head.extend(b"%s: %s\r\n" % pair for pair in message.get("headers", ()))
                if not keep_alive:
                    head.append(b"connection: close\r\n")
                head.append(b"\r\n")
            elif message["type"] == "http.response.body":
                if head:
                    head.append(message.get("body", b""))
                    transport.write(b"".join(head))
                    head.clear()
                else:
                    transport.write(message.get("body", b""))
                if not message.get("more_body", False) and not keep_alive:
                    transport.close()

        try:
            await self.app(scope, receive, send)
        except Exception:
            transport.write(STATUS[500] + b"content-length: 0\r\nconnection: close\r\n\r\n")
            transport.close()


async def main(port: int) -> None:
    from apps import asgi_app

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: LeanProtocol(asgi_app), "127.0.0.1", port, backlog=1024
    )
    await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    uvloop.run(main(parser.parse_args().port))
