"""The trivial apps the server benchmarks run. candidates/servers.py: read the whole
(2,000-byte) body, answer a 600-byte JSON, as ASGI (`asgi_app`) and as RSGI (`rsgi_app`,
granian's own interface). bench/server_candidates.py and bench/protocol_micro.py: read the
body, answer "hello, world!" (13 bytes) with a content-length (`hello`, `hello_rsgi`)."""

from __future__ import annotations

from typing import Any

_TEXT = (
    b'{"id":"chatcmpl-bench","object":"chat.completion","model":"gpt-4o",'
    b'"choices":[{"index":0,"message":{"role":"assistant","content":"'
)
_TAIL = b'"},"finish_reason":"stop"}]}'
ANSWER = _TEXT + b"x" * (600 - len(_TEXT) - len(_TAIL)) + _TAIL
assert len(ANSWER) == 600
HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"600")]
START = {"type": "http.response.start", "status": 200, "headers": HEADERS}
BODY = {"type": "http.response.body", "body": ANSWER}


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    await send(START)
    await send(BODY)


async def rsgi_app(scope: Any, protocol: Any) -> None:
    await protocol()  # the whole body
    protocol.response_bytes(200, [("content-type", "application/json")], ANSWER)


HELLO = b"hello, world!"


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
        return
    while (await receive()).get("more_body"):
        pass
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"13")],
        }
    )
    await send({"type": "http.response.body", "body": HELLO})


class _HelloRsgi:
    """`hello` for granian's RSGI interface."""

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        await protocol()
        protocol.response_bytes(200, [("content-type", "text/plain")], HELLO)


hello_rsgi = _HelloRsgi()
