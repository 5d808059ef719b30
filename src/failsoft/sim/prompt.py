"""A dialect-neutral view of a request: turns, images, tool results and callable tools.

Each dialect reads its own body into this shape, so the answer rules (tool calls, tool
results, image notes, continuations) are written once and a question asked through any
dialect gets the same answer: that is what lets a test see whether a gateway's translation
kept the meaning.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import orjson

IMAGE_TOKENS = 256
"""Input tokens counted per image, whatever its size."""


class Turn(NamedTuple):
    """One message. NamedTuples, not frozen dataclasses, because several are built per request
    and the simulator must stay much faster than the gateway it is used to benchmark."""

    role: str
    """"user", "assistant" or "system". OpenAI `tool` messages become user turns."""
    text: str = ""
    """The turn's text parts joined with newlines (no JSON of other parts)."""
    images: tuple[str, ...] = ()
    """One entry per image: its media type for inline data, "url" for a referenced image."""
    results: tuple[str, ...] | None = None
    """Tool results this turn carries, in order; None when it is not a tool-result turn."""
    chars: int = 0
    """Characters that count as input: text, tool results, tool call names and arguments."""


class ToolSpec(NamedTuple):
    name: str
    properties: tuple[tuple[str, Any], ...] = ()
    """The JSON schema `properties` of the parameters, in declaration order."""


class Prompt(NamedTuple):
    turns: tuple[Turn, ...]
    tools: tuple[ToolSpec, ...] = ()
    """Tools the model may call now: empty when none are declared or tool choice forbids them."""
    forced: str | None = None
    """The one tool the request forces, if any."""
    system_chars: int = 0
    continues: bool = False
    """Whether this dialect's API continues a trailing assistant turn (`prefill: auto`):
    Anthropic and Gemini do; OpenAI only with vLLM's `continue_final_message`."""
    schema: Mapping[str, Any] | None = None
    """The JSON schema the answer must follow (`{}`: any JSON), if the request asks for one."""

    @property
    def input_tokens(self) -> int:
        """About four characters per token, like the providers' own rule of thumb; at least 1."""
        chars = self.system_chars
        images = 0
        for turn in self.turns:
            chars += turn.chars
            images += len(turn.images)
        return max(1, -(-chars // 4)) + IMAGE_TOKENS * images


def user_turn(text: str, images: Sequence[str] = (), extra_chars: int = 0) -> Turn:
    return Turn("user", text, tuple(images), None, len(text) + extra_chars)


def result_turn(results: Sequence[str], text: str = "", images: Sequence[str] = ()) -> Turn:
    chars = len(text) + sum(len(result) for result in results)
    return Turn("user", text, tuple(images), tuple(results), chars)


def joined(texts: Iterable[str]) -> str:
    return "\n".join(texts)


def compact(value: object) -> str:
    """Sorted-key compact JSON: the text of a structured value, the same in every process."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def schema_properties(schema: object) -> tuple[tuple[str, Any], ...]:
    if not isinstance(schema, Mapping):
        return ()
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return ()
    return tuple((str(name), value) for name, value in properties.items())


def call_chars(name: object, arguments: object) -> int:
    text = arguments if isinstance(arguments, str) else compact(arguments)
    return len(name if isinstance(name, str) else "") + len(text)
