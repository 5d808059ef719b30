"""Constants and small helpers shared by the simulator tests."""

from __future__ import annotations

from typing import Any

MODEL = "claude-opus-4-7"
GPT = "gpt-4o"
KEY = "sk-test"


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
