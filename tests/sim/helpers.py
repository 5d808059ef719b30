"""Constants and small helpers shared by the simulator tests."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx2

MODEL = "claude-opus-4-7"
GPT = "gpt-4o"
KEY = "sk-test"


# What the anthropic SDK raises when a stream's connection breaks: older releases let the
# transport error through from the iterator, newer ones wrap it in APIConnectionError. Tests
# assert that the SDK raises a connection error, not which of the two shapes this release has.
ANTHROPIC_STREAM_BROKEN: tuple[type[BaseException], ...] = (
    anthropic.APIConnectionError,
    httpx2.TransportError,
)


def user(text: str = "Say hello") -> list[Any]:
    return [{"role": "user", "content": text}]


def sse_events(raw: bytes) -> list[tuple[str | None, str]]:
    """(event name, data) for each SSE frame, as a spec-following client would split them."""
    events = []
    for frame in raw.decode().split("\n\n"):
        if not frame:
            continue
        name = None
        data = []
        for line in frame.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data.append(line[len("data: ") :])
        events.append((name, "\n".join(data)))
    return events


GEMINI = "gemini-2.5-flash"
GEMINI3 = "gemini-3-pro-preview"


def gemini_body(text: str = "Say hello", **extra: Any) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}], **extra}


def gemini_path(model: str = GEMINI, *, stream: bool = False, sse: bool = True) -> str:
    if not stream:
        return f"/v1beta/models/{model}:generateContent"
    return f"/v1beta/models/{model}:streamGenerateContent" + ("?alt=sse" if sse else "")


def gemini_frames(raw: bytes) -> list[Any]:
    """The JSON of each `data:` frame, checking Google's framing: CRLF, no event names."""
    text = raw.decode()
    assert text.endswith("\r\n\r\n")
    frames = text.split("\r\n\r\n")[:-1]
    assert all(frame.startswith("data: ") and "\n" not in frame for frame in frames)
    return [json.loads(frame[len("data: ") :]) for frame in frames]


def gemini_text(response: dict[str, Any]) -> str:
    parts = response["candidates"][0]["content"]["parts"]
    return "".join(part.get("text", "") for part in parts)
