"""The HTTP protocol's own CPU per request, in process and without sockets: the protocol
failsoft.serve configures (or uvicorn's own with `--uvicorn`) is fed keep-alive requests
through an in-memory transport on uvloop, and answers them with a "hello" ASGI app that
reads the body and sends a 13-byte answer with a content-length. No kernel time, no load
generator: what is left is parsing, the scope, the app call and writing the answer.

    python bench/protocol_micro.py                 # best of 7 rounds of 20,000 requests
    PYTHONPATH=../other/src python bench/protocol_micro.py    # another checkout's protocol

Prints microseconds per request (best round) and the writes per response.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import uvicorn
import uvloop
from uvicorn.server import ServerState

sys.path.insert(0, str(Path(__file__).resolve().parent / "candidates"))

from apps import HELLO, hello

REQUEST = (
    b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:8080\r\n"
    b"content-type: application/json\r\naccept: application/json\r\n"
    b"user-agent: bench\r\nauthorization: Bearer sk-bench\r\ncontent-length: 18\r\n\r\n"
    b'{"hello": "world"}'
)


class Transport(asyncio.Transport):
    """Counts writes and bytes; a response is complete when its 13-byte body is out."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.answers = 0
        self.waiter: asyncio.Future[None] | None = None

    def write(self, data: Any) -> None:
        self.writes += 1
        if bytes(data).endswith(HELLO):
            self.answers += 1
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(None)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8080)}.get(
            name, default
        )

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


async def rounds(protocol_class: Any, count: int, repeat: int) -> tuple[float, float]:
    config = uvicorn.Config(
        hello,
        http=protocol_class,
        lifespan="off",
        access_log=False,
        server_header=False,
        date_header=False,
        log_config=None,
        ws="none",
        proxy_headers=False,
    )
    config.load()
    loop = asyncio.get_running_loop()
    best = float("inf")
    writes = 0.0
    for _ in range(repeat):
        proto = config.http_protocol_class(  # type: ignore[call-arg]
            config=config, server_state=ServerState(), app_state={}, _loop=loop
        )
        transport = Transport()
        proto.connection_made(transport)
        start = time.perf_counter()
        for _ in range(count):
            transport.waiter = loop.create_future()
            proto.data_received(REQUEST)
            await transport.waiter
        elapsed = time.perf_counter() - start
        best = min(best, elapsed / count * 1e6)
        writes = transport.writes / transport.answers
        proto.connection_lost(None)
    return best, writes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--uvicorn", action="store_true", help="uvicorn's httptools protocol")
    args = parser.parse_args()
    if args.uvicorn:
        protocol_class: Any = "httptools"
        name = "uvicorn httptools"
    else:
        from failsoft.serve import _UVICORN_OPTIONS

        protocol_class = _UVICORN_OPTIONS["http"]
        name = f"{protocol_class.__module__}.{protocol_class.__name__}"
    best, writes = uvloop.run(rounds(protocol_class, args.count, args.repeat))
    print(f"{name:45} {best:6.2f} µs/request  {writes:.1f} writes/response")


if __name__ == "__main__":
    main()
