"""The "floor" path: the thinnest pass-through proxy on failsoft's stack, a LOWER BOUND.

A raw ASGI callable under uvicorn (uvloop, httptools) with one shared aiohttp session, as the
`uvicorn+asgi+aiohttp` variant in stacks.md: parse the body with orjson, read `model` and
`stream`, forward the raw body to the same path upstream, relay the answer (whole, or chunks as
they arrive). No timeouts, failover, validation or error handling. Usage:
`python bench/floor_proxy.py --port P --upstream-port U`"""

from __future__ import annotations

import argparse
from typing import Any

import aiohttp
import orjson
import uvicorn

PATHS = frozenset({"/v1/chat/completions", "/v1/messages"})
FORWARD = frozenset({b"content-type", b"authorization", b"x-api-key", b"anthropic-version"})


def make_app(upstream: str) -> Any:
    state: dict[str, aiohttp.ClientSession] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    state["s"] = aiohttp.ClientSession(
                        # idle connections stay open: closing them would show up as
                        # TIME_WAIT churn in the window of whatever path is measured then
                        connector=aiohttp.TCPConnector(limit=1024, keepalive_timeout=3600),
                        auto_decompress=False,
                        timeout=aiohttp.ClientTimeout(total=None),  # aiohttp's default is 300 s
                    )
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await state["s"].close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["method"] != "POST" or scope["path"] not in PATHS:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        request = orjson.loads(body)
        _model, stream = request.get("model"), request.get("stream", False)
        headers = {k.decode(): v.decode() for k, v in scope["headers"] if k in FORWARD}
        async with state["s"].post(upstream + scope["path"], data=body, headers=headers) as resp:
            out = [(b"content-type", resp.headers.get("content-type", "").encode())]
            if not stream:
                data = await resp.read()
                out.append((b"content-length", str(len(data)).encode()))
                await send({"type": "http.response.start", "status": resp.status, "headers": out})
                await send({"type": "http.response.body", "body": data})
                return
            await send({"type": "http.response.start", "status": resp.status, "headers": out})
            async for chunk in resp.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="minimal pass-through proxy (a lower bound)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream-port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        make_app(f"http://127.0.0.1:{args.upstream_port}"),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        proxy_headers=False,
        server_header=False,  # as the gateway runs uvicorn: the floor pays no cost it does not
        date_header=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
