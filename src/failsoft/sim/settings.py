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
    "max_output_tokens",
    "on_continue",
    "prefill",
    "repeat_sentences",
    "resume_overlap",
    "tool_arguments",
    "tool_calls",
    "tool_name",
    "tool_preface",
    "ttft",
)
PREFILL_MODES = ("auto", "continue", "reject", "ignore")
"""What a model does with a conversation that ends with an assistant turn (a prefill)."""
CONTINUE_MODES = ("continue", "restart", "sentence", "fresh")
"""What a model does when asked to continue an answer it gave before."""


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
    prefill: str = "auto"
    """A trailing assistant turn: `auto` continues it where the real API does (Anthropic,
    Gemini, OpenAI with vLLM's `continue_final_message`), `continue` always, `ignore` never,
    `reject` answers 400 as models without prefill support do."""
    on_continue: str = "continue"
    """Asked to continue: `continue` picks up after the partial answer, `restart` starts over,
    `sentence` repeats its last sentences first (as asked), `fresh` says something unrelated;
    real models do all four, and a gateway stitching a resumed answer together has to cope
    with each."""
    repeat_sentences: int = 2
    """With `on_continue: sentence`: how many of the partial answer's last sentences are
    repeated (the last one may be unfinished), as failsoft's continue prompt asks."""
    tool_calls: int = 1
    """Calls in a tool-call answer; 2+ are parallel calls (to the first N tools, cycling)."""
    max_output_tokens: int | None = None
    """The most this model writes: a request asking for more (`max_tokens`,
    `max_completion_tokens`, `max_output_tokens`, `maxOutputTokens`) is refused with a 400,
    as the real APIs refuse it; None: no limit."""
    tool_preface: str | None = None
    """Text said before the tool calls (OpenAI `content`, an Anthropic text block, a Gemini
    text part): mixed text + calls is where translations tend to slip."""
    tool_name: str | None = None
    """The tool to call when the request declares it (else the declared tools in order):
    a coding agent declares a dozen tools, and a test wants its shell tool called."""
    tool_arguments: Mapping[str, Any] | None = None
    """The arguments of every call, as they are, instead of ones derived from the schema and
    the user text (e.g. `{command: "echo hi"}` for a shell tool a coding agent then runs)."""

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
        elif key == "repeat_sentences":
            result[key] = spec.integer(item, path, minimum=1, maximum=100)
        elif key == "max_output_tokens" and item is not None:
            result[key] = spec.integer(item, path, minimum=1, maximum=10_000_000)
        elif key == "tool_calls":
            result[key] = spec.integer(item, path, minimum=1, maximum=64)
        elif key == "prefill":
            result[key] = spec.one_of(item, PREFILL_MODES, path, "prefill mode")
        elif key == "on_continue":
            result[key] = spec.one_of(item, CONTINUE_MODES, path, "on_continue mode")
        elif item is None:
            result[key] = None
        elif key == "tool_arguments":
            result[key] = dict(spec.mapping(item, path))
        else:
            result[key] = spec.text(item, path)
    return result
