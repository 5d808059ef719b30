"""Per-token CPU of assembling Gemini and Responses streams: generic path vs fast path.

In-process, interleaved rounds (generic, fast, generic, fast, …), each round the best of
a few timeit repeats; reports the median and range over rounds of µs per answered token
for `wire.assemble_generic(body)` and `wire.assemble(body)` (plus `orjson.dumps` of the
answer, as the gateway does). Run: `python bench/assemble_formats.py [--rounds 7]`.

Instructions (repeatable on a busy machine): run `--only gemini --tokens 2000 --run fast
--count N` under `valgrind --tool=callgrind` for two counts; the difference of the totals
over the difference of counts is one assembly.
"""

from __future__ import annotations

import argparse
import statistics
import timeit
from collections.abc import Callable
from typing import Any

import orjson

from failsoft.dialects import gemini, responses

WORDS = ("Hello", " world", ",", " this", " is", " a", " streamed", " answer", ".", "\n")


def gemini_stream(tokens: int, *, thoughts: bool = False) -> bytes:
    """A `streamGenerateContent?alt=sse` body shaped like Google's: CRLF framing, every
    chunk with its usage, model version and response id; the last with finishReason."""
    prompt = {"promptTokenCount": 12, "totalTokenCount": 12}
    details = [{"modality": "TEXT", "tokenCount": 12}]

    def chunk(parts: list[Any], done: int | None = None) -> bytes:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
        usage: dict[str, Any] = dict(prompt)
        if done is not None:
            candidate["finishReason"] = "STOP"
            usage = {
                "promptTokenCount": 12,
                "candidatesTokenCount": done,
                "totalTokenCount": 12 + done,
            }
        candidate["index"] = 0
        usage["promptTokensDetails"] = details
        obj = {
            "candidates": [candidate],
            "usageMetadata": usage,
            "modelVersion": "gemini-2.5-flash",
            "responseId": "2LyVaPHMHtqJ1MkP-9XO8QU",
        }
        return b"data: " + orjson.dumps(obj) + b"\r\n\r\n"

    out = []
    if thoughts:
        out += [chunk([{"text": w, "thought": True}]) for w in WORDS]
    out += [chunk([{"text": WORDS[i % len(WORDS)]}]) for i in range(tokens - 1)]
    out.append(chunk([{"text": "."}], tokens))
    return b"".join(out)


def responses_stream(tokens: int) -> bytes:
    """A Responses stream shaped like OpenAI's: created, in_progress, the message item's
    added and part added, a delta per token, the dones, and response.completed."""
    sequence = iter(range(1_000_000))
    frames: list[bytes] = []

    def event(kind: str, **fields: Any) -> None:
        obj = {"type": kind, "sequence_number": next(sequence), **fields}
        frames.append(b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(obj) + b"\n\n")

    item_id = "msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654"
    response: dict[str, Any] = {
        "id": "resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654",
        "object": "response",
        "created_at": 1741290958,
        "status": "in_progress",
        "model": "gpt-4.1-2025-04-14",
        "output": [],
        "usage": None,
    }
    event("response.created", response=response)
    event("response.in_progress", response=response)
    item = {"id": item_id, "type": "message", "status": "in_progress", "role": "assistant"}
    event("response.output_item.added", output_index=0, item={**item, "content": []})
    part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
    where = {"item_id": item_id, "output_index": 0, "content_index": 0}
    event("response.content_part.added", **where, part=part)
    text = []
    for i in range(tokens):
        word = WORDS[i % len(WORDS)]
        text.append(word)
        event("response.output_text.delta", **where, delta=word, logprobs=[], obfuscation="x1")
    whole = "".join(text)
    event("response.output_text.done", **where, text=whole, logprobs=[])
    done_part = {**part, "text": whole}
    event("response.content_part.done", **where, part=done_part)
    done_item = {**item, "status": "completed", "content": [done_part]}
    event("response.output_item.done", output_index=0, item=done_item)
    usage = {"input_tokens": 12, "output_tokens": tokens, "total_tokens": tokens + 12}
    final = {**response, "status": "completed", "output": [done_item], "usage": usage}
    event("response.completed", response=final)
    return b"".join(frames)


STREAMS: dict[str, tuple[Callable[[int], bytes], Any]] = {
    "gemini": (gemini_stream, gemini),
    "gemini-thinking": (lambda n: gemini_stream(n, thoughts=True), gemini),
    "responses": (responses_stream, responses),
}


def timed(fn: Callable[[bytes], Any], body: bytes, number: int) -> float:
    return min(timeit.repeat(lambda: orjson.dumps(fn(body)), repeat=3, number=number)) / number


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--tokens", type=int, nargs="*", default=[50, 500, 2000])
    parser.add_argument("--only", choices=sorted(STREAMS))
    parser.add_argument(
        "--run",
        choices=["generic", "fast"],
        help="only run --count assemblies of the --only stream (for callgrind: the "
        "difference of two counts' totals over the difference of counts)",
    )
    parser.add_argument("--count", type=int, default=10)
    args = parser.parse_args()
    if args.run:
        make, wire = STREAMS[args.only or "gemini"]
        fn = wire.assemble if args.run == "fast" else wire.assemble_generic
        body = make(args.tokens[0])
        for _ in range(args.count):
            orjson.dumps(fn(body))
        return
    print("µs per answered token (assemble + orjson.dumps), median [min-max] over rounds:")
    for name, (make, wire) in STREAMS.items():
        if args.only and name != args.only:
            continue
        for tokens in args.tokens:
            body = make(tokens)
            assert orjson.dumps(wire.assemble(body)) == orjson.dumps(wire.assemble_generic(body))
            number = max(1, 10000 // tokens)
            rounds: dict[str, list[float]] = {"generic": [], "fast": []}
            for _ in range(args.rounds):
                rounds["generic"].append(timed(wire.assemble_generic, body, number))
                rounds["fast"].append(timed(wire.assemble, body, number))
            cells = []
            for label, values in rounds.items():
                per = sorted(v * 1e6 / tokens for v in values)
                cells.append(f"{label} {statistics.median(per):6.3f} [{per[0]:.3f}-{per[-1]:.3f}]")
            ratio = statistics.median(rounds["generic"]) / statistics.median(rounds["fast"])
            print(f"  {name:15} {tokens:5} tokens: " + "  ".join(cells) + f"  ×{ratio:.2f}")


if __name__ == "__main__":
    main()
