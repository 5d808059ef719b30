"""Per-token CPU of assembling streamed answers, and per-event cost of stream trackers.

In-process, best of N (timeit, CPU time of the process): how long `wire.assemble(body)`
takes for an N-token stream, divided by N, for the OpenAI (also with per-chunk
`obfuscation`) and Anthropic dialects; and `Tracker.feed` per event as the relay calls it.
Run: `python bench/assemble.py [--repeat 7]`.
"""

from __future__ import annotations

import argparse
import time
import timeit
from collections.abc import Callable
from typing import Any

import orjson

from failsoft.dialects import anthropic, openai
from failsoft.dialects.sse import SSEDecoder

WORDS = ("Hello", " world", ",", " this", " is", " a", " streamed", " answer", ".", "\n")


def openai_stream(tokens: int, obfuscation: bool = False) -> bytes:
    """A chat.completion.chunk stream shaped like OpenAI's (and failsoft's simulator); with
    `obfuscation`, every chunk ends with a random-length `obfuscation` string as OpenAI's
    own streams do."""
    head = (
        b'data: {"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk",'
        b'"created":1741569952,"model":"gpt-4o-2024-08-06","service_tier":"default",'
        b'"system_fingerprint":"fp_f9f4fb6dbf","choices":'
    )

    def chunk(delta: object, finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        end = b"}\n\n"
        if obfuscation:
            noise = b"Zk9xQ2hWcnRz"[: 1 + len(parts) % 12]
            end = b',"obfuscation":"' + noise + b'"' + end
        return head + orjson.dumps([choice]) + b',"usage":null' + end

    parts: list[bytes] = []

    parts.append(chunk({"role": "assistant", "content": "", "refusal": None}))
    for i in range(tokens):
        parts.append(chunk({"content": WORDS[i % len(WORDS)]}))
    parts.append(chunk({}, "stop"))
    usage = {"prompt_tokens": 12, "completion_tokens": tokens, "total_tokens": tokens + 12}
    parts.append(head + b'[],"usage":' + orjson.dumps(usage) + b"}\n\n")
    parts.append(b"data: [DONE]\n\n")
    return b"".join(parts)


def anthropic_stream(tokens: int) -> bytes:
    """A Messages stream shaped like Anthropic's (message_start ... message_stop)."""

    def event(name: str, data: object) -> bytes:
        return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"

    message = {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": "claude-sonnet-4-5",
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 1},
    }
    parts = [event("message_start", {"type": "message_start", "message": message})]
    block = {"type": "text", "text": ""}
    start = {"type": "content_block_start", "index": 0, "content_block": block}
    parts += [event("content_block_start", start), event("ping", {"type": "ping"})]
    for i in range(tokens):
        delta = {"type": "text_delta", "text": WORDS[i % len(WORDS)]}
        parts.append(
            event(
                "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
            )
        )
    parts.append(event("content_block_stop", {"type": "content_block_stop", "index": 0}))
    end = {"stop_reason": "end_turn", "stop_sequence": None}
    parts.append(
        event(
            "message_delta",
            {"type": "message_delta", "delta": end, "usage": {"output_tokens": tokens}},
        )
    )
    parts.append(event("message_stop", {"type": "message_stop"}))
    return b"".join(parts)


STREAMS: dict[str, tuple[Callable[[int], bytes], Any]] = {
    "openai": (openai_stream, openai),
    "openai+obf": (lambda tokens: openai_stream(tokens, obfuscation=True), openai),
    "anthropic": (anthropic_stream, anthropic),
}


def best(fn: Callable[[], object], repeat: int, number: int) -> float:
    """Best of `repeat` runs of `number` calls, in CPU seconds of this process per call
    (`process_time`: time spent waiting for a busy machine's cores is left out)."""
    runs = timeit.repeat(fn, repeat=repeat, number=number, timer=time.process_time)
    return min(runs) / number


def assembly(wire: Any, body: bytes) -> Callable[[], object]:
    return lambda: orjson.dumps(wire.assemble(body))


def relay(wire: Any, body: bytes) -> Callable[[], object]:
    def run() -> None:
        decoder = SSEDecoder()
        tracker = wire.tracker()
        decoder.push(body)
        for event in decoder.events():
            tracker.feed(event)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--tokens", type=int, nargs="*", default=[50, 500, 2000])
    args = parser.parse_args()
    print("assembly (wire.assemble + orjson.dumps of the answer), per answered token:")
    for name, (make, wire) in STREAMS.items():
        for tokens in args.tokens:
            took = best(assembly(wire, make(tokens)), args.repeat, max(1, 20000 // tokens))
            print(
                f"  {name:10} {tokens:5} tokens: {took * 1e6 / tokens:6.3f} µs/token"
                f"  ({took * 1e3:.3f} ms per answer)"
            )
    print("relay tracking (SSEDecoder.events + Tracker.feed), per event:")
    for name, (make, wire) in STREAMS.items():
        body = make(500)
        events = len(SSEDecoder().feed(body))
        took = best(relay(wire, body), args.repeat, 20)
        print(f"  {name:10} {took * 1e6 / events:6.3f} µs/event ({events} events)")


if __name__ == "__main__":
    main()
