"""The chat requests the benchmark sends, built once as raw bytes so that building them
costs nothing while measuring."""

from __future__ import annotations

from typing import Any

import orjson

from fsbench.loadgen.client import build_request
from fsbench.settings import API_KEY, MAX_TOKENS, REQUEST_BYTES


def chat_body(
    model: str,
    *,
    stream: bool,
    anthropic: bool = False,
    size: int = REQUEST_BYTES,
    include_usage: bool = False,
) -> bytes:
    """An OpenAI- or Anthropic-style chat request padded to about `size` bytes;
    `include_usage` adds OpenAI's `stream_options`, as the gateway does in always_stream
    mode (so the simulator also sends its usage chunk)."""
    system = (
        "You are a careful assistant for a logistics company. Answer briefly, cite the "
        "order number when one is given, and never invent tracking data."
    )

    def render(filler: str) -> bytes:
        user = (
            "Order 48213 left the Rotterdam depot on Tuesday. The customer asks when it will "
            "arrive in Lyon and whether the pallet count changed. Notes: " + filler
        )
        if anthropic:
            payload: dict[str, Any] = {
                "model": model,
                "max_tokens": MAX_TOKENS,
                "system": system,
                "messages": [{"role": "user", "content": user}],
                "temperature": 0.2,
            }
        else:
            payload = {
                "model": model,
                "messages": [
                    {"role": "system", "content": system},
                    {"role": "user", "content": user},
                ],
                "temperature": 0.2,
                "max_tokens": MAX_TOKENS,
            }
        if stream:
            payload["stream"] = True
            if include_usage:
                payload["stream_options"] = {"include_usage": True}
        return orjson.dumps(payload)

    words = "the pallet was scanned at the gate and checked against the manifest "
    base = len(render(""))
    filler = (words * (size // len(words) + 1))[: max(0, size - base)]
    return render(filler)


def openai_request(
    port: int, model: str, stream: bool = False, include_usage: bool = False
) -> bytes:
    return build_request(
        port,
        "/v1/chat/completions",
        chat_body(model, stream=stream, include_usage=include_usage),
        [("authorization", f"Bearer {API_KEY}")],
    )


def anthropic_request(port: int, model: str, stream: bool = True) -> bytes:
    return build_request(
        port,
        "/v1/messages",
        chat_body(model, stream=stream, anthropic=True),
        [("x-api-key", API_KEY), ("anthropic-version", "2023-06-01")],
    )
