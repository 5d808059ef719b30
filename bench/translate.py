"""What cross-dialect translation costs per stream event, per request and per answer.

    python bench/translate.py [--events 400] [--repeat 7] [--out bench/results/NAME.json]

In-process and CPU-only (no sockets): the same work the gateway does per event when a
target speaks another dialect than the caller, against the same-dialect baseline (the
stream tracker alone, which the relay runs anyway). Each figure is the best of `--repeat`
runs, in microseconds; run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from failsoft.dialects import WIRES
from failsoft.dialects.base import TERMINAL
from failsoft.dialects.sse import SSEDecoder, SSEEvent
from failsoft.translate import TargetOptions, translate
from failsoft.translate.bridge import Translation
from failsoft.types import ChatRequest

WORDS = [" amber", " beacon", " cedar", " delta", " ember", " fjord", " glacier", " harbor"]


def openai_stream(n: int) -> bytes:
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt"}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return b"data: " + orjson.dumps({**head, "choices": [choice]}) + b"\n\n"

    parts = [chunk({"role": "assistant", "content": ""})]
    parts += [chunk({"content": WORDS[i % len(WORDS)]}) for i in range(n)]
    parts.append(chunk({}, "stop"))
    usage = {"prompt_tokens": 9, "completion_tokens": n, "total_tokens": 9 + n}
    parts.append(b"data: " + orjson.dumps({**head, "choices": [], "usage": usage}) + b"\n\n")
    return b"".join(parts) + b"data: [DONE]\n\n"


def anthropic_stream(n: int) -> bytes:
    def event(obj: dict[str, Any]) -> bytes:
        return b"event: " + obj["type"].encode() + b"\ndata: " + orjson.dumps(obj) + b"\n\n"

    message = {"id": "msg_1", "type": "message", "role": "assistant", "content": [],
               "model": "claude", "usage": {"input_tokens": 9, "output_tokens": 1}}  # fmt: skip
    parts = [event({"type": "message_start", "message": message})]
    parts.append(event({"type": "content_block_start", "index": 0,
                        "content_block": {"type": "text", "text": ""}}))  # fmt: skip
    parts += [
        event({"type": "content_block_delta", "index": 0,
               "delta": {"type": "text_delta", "text": WORDS[i % len(WORDS)]}})
        for i in range(n)
    ]  # fmt: skip
    parts.append(event({"type": "content_block_stop", "index": 0}))
    parts.append(event({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                        "usage": {"output_tokens": n}}))  # fmt: skip
    parts.append(event({"type": "message_stop"}))
    return b"".join(parts)


def gemini_stream(n: int) -> bytes:
    def chunk(obj: dict[str, Any]) -> bytes:
        return b"data: " + orjson.dumps(obj) + b"\r\n\r\n"

    tail = {"modelVersion": "gemini", "responseId": "r1"}
    parts = [
        chunk({"candidates": [{"content": {"role": "model",
               "parts": [{"text": WORDS[i % len(WORDS)]}]}, "index": 0}], **tail})
        for i in range(n)
    ]  # fmt: skip
    last = {
        "content": {"role": "model", "parts": [{"text": ""}]},
        "finishReason": "STOP",
        "index": 0,
    }
    usage = {"promptTokenCount": 9, "candidatesTokenCount": n}
    parts.append(chunk({"candidates": [last], "usageMetadata": usage, **tail}))
    return b"".join(parts)


STREAMS = {"openai": openai_stream, "anthropic": anthropic_stream, "gemini": gemini_stream}


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def stream_cost(target: str, caller: str | None, events: list[SSEEvent]) -> None:
    """The relay's per-event work over one whole stream (timed by the caller)."""
    wire = WIRES[target]

    def passthrough() -> None:
        tracker = wire.tracker()
        for event in events:
            if tracker.feed(event) == TERMINAL:
                break

    def translated() -> None:
        assert caller is not None
        converter = Translation(caller, target, {}, ()).converter(True)
        tracker = wire.tracker()
        for event in events:
            kind = tracker.feed(event)
            converter.feed(kind, tracker.last, [])
            if kind == TERMINAL:
                break

    if caller:
        translated()
    else:
        passthrough()


def request_bodies() -> dict[str, dict[str, Any]]:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]  # fmt: skip
    history = []
    for i in range(10):
        history.append({"role": "user", "content": f"Question {i}: what about city {i}?"})
        history.append({"role": "assistant", "content": f"An answer about city {i}. " * 8})
    return {
        "openai": {
            "model": "m",
            "messages": [{"role": "system", "content": "Be terse."}, *history],
            "tools": tools,
            "max_tokens": 512,
            "temperature": 0.2,
        },
        "anthropic": {
            "model": "m",
            "system": "Be terse.",
            "messages": history,
            "max_tokens": 512,
            "tools": [{"name": "get_weather", "input_schema": tools[0]["function"]["parameters"]}],
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=400, help="text deltas per stream")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    n = args.events
    results: dict[str, Any] = {"events": n, "python": platform.python_version(), "streams": {}}
    print(f"per-event cost over a {n}-delta stream (best of {args.repeat}), µs per event")
    print(f"{'upstream':<10} {'caller':<10} {'tracker only':>13} {'translated':>11} {'added':>8}")
    for target, build in STREAMS.items():
        events = list(SSEDecoder().feed(build(n)))
        base = best(lambda: stream_cost(target, None, events), args.repeat)  # noqa: B023
        for caller in ("openai", "anthropic"):
            if caller == target:
                continue
            total = best(lambda: stream_cost(target, caller, events), args.repeat)  # noqa: B023
            per = len(events)
            row = {
                "tracker_us": base / per * 1e6,
                "translated_us": total / per * 1e6,
                "added_us": (total - base) / per * 1e6,
            }
            results["streams"][f"{target}->{caller}"] = row
            print(
                f"{target:<10} {caller:<10} {row['tracker_us']:>13.2f} "
                f"{row['translated_us']:>11.2f} {row['added_us']:>8.2f}"
            )
    print("\nper request: parse the caller's body and write it for the target (20-turn chat), µs")
    results["requests"] = {}
    for caller, payload in request_bodies().items():
        body = orjson.dumps(payload)
        for target in ("openai", "anthropic", "gemini"):
            if target == caller:
                continue

            def once(caller: str = caller, target: str = target, body: bytes = body) -> None:
                request = ChatRequest(caller, "m", True, orjson.loads(body), body)  # type: ignore[arg-type]
                translate(request, TargetOptions(target)).body("model", True)

            seconds = best(lambda: [once() for _ in range(200)], args.repeat) / 200
            results["requests"][f"{caller}->{target}"] = seconds * 1e6
            print(f"  {caller:<10} -> {target:<10} {seconds * 1e6:8.1f}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
