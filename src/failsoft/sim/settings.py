"""Per-model behaviour of a healthy simulated model: answer length and latency.

Settings come in layers (constructor defaults, scenario `defaults`, scenario `models`,
runtime `set_model`), so overrides are kept as partial mappings and only resolved into
a complete `ModelSettings` when a request needs them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from failsoft.sim import spec

SETTING_NAMES = (
    "answer",
    "answer_words",
    "chunk_delay",
    "resume_overlap",
    "tool_calls",
    "tool_preface",
    "ttft",
)


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """How a model answers when no fault applies.

    Latencies default to zero because tests and benchmarks want speed; a demo sets them.
    """

    ttft: float = 0.0
    """Seconds before the first content event (non-streaming: added to the response time)."""
    chunk_delay: float = 0.0
    """Seconds between content events (non-streaming: one per piece after the first)."""
    answer_words: int = 12
    """Generated words after the "Simulated answer from MODEL:" prefix."""
    answer: str | None = None
    """A fixed answer text instead of the generated one."""
    resume_overlap: int = 0
    """When asked to continue an answer, first repeat this many of its last words (real
    models often do), so that a gateway's overlap removal can be tested."""
    tool_calls: int = 1
    """Calls in a tool-call answer; 2+ are parallel calls (to the first N tools, cycling)."""
    tool_preface: str | None = None
    """Text said before the tool calls (OpenAI `content`, an Anthropic text block, a Gemini
    text part): mixed text + calls is where translations tend to slip."""

    def with_overrides(self, overrides: Mapping[str, Any]) -> ModelSettings:
        return dataclasses.replace(self, **overrides) if overrides else self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def parse_overrides(value: object, where: str) -> dict[str, Any]:
    """Validate a partial settings mapping such as `{ttft: 0.05, chunk_delay: 0.01}`."""
    if value is None:
        return {}
    raw = spec.mapping(value, where)
    spec.known_keys(raw, SETTING_NAMES, where, "model setting")
    result: dict[str, Any] = {}
    for key, item in raw.items():
        path = spec.join(where, key)
        if key in ("ttft", "chunk_delay"):
            result[key] = spec.number(item, path, maximum=3600.0)
        elif key == "answer_words":
            result[key] = spec.integer(item, path, minimum=1, maximum=100_000)
        elif key == "resume_overlap":
            result[key] = spec.integer(item, path, minimum=0, maximum=1000)
        elif key == "tool_calls":
            result[key] = spec.integer(item, path, minimum=1, maximum=64)
        elif item is None:
            result[key] = None
        else:
            result[key] = spec.text(item, path)
    return result
