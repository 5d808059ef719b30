"""A tiny streaming upstream whose content events carry their own send time.

The simulator's answers are deterministic text, so they cannot show when each event left
the upstream. This server speaks just enough of both streaming dialects (OpenAI chat
completion chunks, Anthropic message events) and writes, as the text of every content
event, `T<CLOCK_MONOTONIC ns at write time>`. The load generator subtracts that stamp
from its own receive time: the per-event relay latency, direct or through the gateway
(the method of stacks.md's streaming mock).

    python bench/stamp_upstream.py --port 9200 [--chunks 20] [--delay 0.002]

Listens on 127.0.0.1 only. Non-streaming requests get a small fixed JSON answer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from typing import cast

import httptools
import orjson

HOST = "127.0.0.1"
_HEAD_SSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
)


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _stamp() -> str:
    return f"T{time.clock_gettime_ns(time.CLOCK_MONOTONIC)}"


def _openai(model: str) -> tuple[list[bytes], bytes, list[bytes]]:
    base = {"id": "chatcmpl-stamp", "object": "chat.completion.chunk", "created": 0, "model": model}
    first = orjson.dumps(
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
    )
    # the content event is rendered at send time; "%s" marks where the stamp goes
    content = orjson.dumps(
        {**base, "choices": [{"index": 0, "delta": {"content": "%s"}, "finish_reason": None}]}
    )
    last = orjson.dumps({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return (
        [b"data: " + first + b"\n\n"],
        b"data: " + content + b"\n\n",
        [b"data: " + last + b"\n\n", b"data: [DONE]\n\n"],
    )


def _anthropic(model: str, chunks: int) -> tuple[list[bytes], bytes, list[bytes]]:
    def event(name: str, payload: dict[str, object]) -> bytes:
        return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"

    start = event(
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_stamp",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": model,
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 1, "output_tokens": 1},
            },
        },
    )
    block = event(
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    )
    delta = event(
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "%s"}},
    )
    close = [
        event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": chunks},
            },
        ),
        event("message_stop", {"type": "message_stop"}),
    ]
    return [start, block], delta, close


class StampProtocol(asyncio.Protocol):
    def __init__(self, chunks: int, delay: float) -> None:
        self.chunks = chunks
        self.delay = delay
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.body: list[bytes] = []
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.task is not None:
            self.task.cancel()

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        body = b"".join(self.body)
        self.body = []
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            payload = {}
        model = str(payload.get("model", "stamp"))
        anthropic = self.url.startswith(b"/v1/messages")
        if not payload.get("stream"):
            self._send_json(model, anthropic)
            return
        self.task = asyncio.get_running_loop().create_task(self._stream(model, anthropic))

    def _send_json(self, model: str, anthropic: bool) -> None:
        assert self.transport is not None
        if anthropic:
            answer = {
                "id": "msg_stamp",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": _stamp()}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 1, "output_tokens": 1},
            }
        else:
            answer = {
                "id": "chatcmpl-stamp",
                "object": "chat.completion",
                "created": 0,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": _stamp()},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        data = orjson.dumps(answer)
        self.transport.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
            % (len(data), data)
        )

    async def _stream(self, model: str, anthropic: bool) -> None:
        transport = self.transport
        assert transport is not None
        preamble, content, close = _anthropic(model, self.chunks) if anthropic else _openai(model)
        transport.write(_HEAD_SSE + b"".join(_chunk(event) for event in preamble))
        for index in range(self.chunks):
            if index and self.delay:
                await asyncio.sleep(self.delay)
            if transport.is_closing():
                return
            transport.write(_chunk(content.replace(b"%s", _stamp().encode(), 1)))
        transport.write(b"".join(_chunk(event) for event in close) + b"0\r\n\r\n")
        self.task = None


async def serve(port: int, chunks: int, delay: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: StampProtocol(chunks, delay), HOST, port, reuse_address=True, backlog=1024
    )
    print(f"stamp upstream listening on http://{HOST}:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--delay", type=float, default=0.002, help="seconds between events")
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        runner = asyncio.Runner()
    else:
        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    with contextlib.suppress(KeyboardInterrupt), runner:
        runner.run(serve(args.port, args.chunks, args.delay))


if __name__ == "__main__":
    main()
