"""Deterministic answer text and token counts.

Tests and the benchmark compare answers across attempts, fallbacks, caches and
processes, so the text depends only on the model name and the last user message
(through blake2b, never the per-process salted `hash()`).
"""

from __future__ import annotations

import functools
import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from failsoft.sim.settings import ModelSettings

_WORDS = (
    "amber", "anchor", "atlas", "beacon", "birch", "breeze", "canyon", "cedar",
    "cinder", "clover", "comet", "coral", "delta", "dune", "ember", "fable",
    "falcon", "fern", "fjord", "garnet", "glacier", "harbor", "hazel", "horizon",
    "indigo", "island", "jasper", "juniper", "kestrel", "lagoon", "lantern", "lichen",
    "maple", "meadow", "meteor", "mosaic", "nebula", "nectar", "oasis", "onyx",
    "orchid", "pebble", "pine", "prairie", "quartz", "quill", "raven", "reef",
    "ripple", "saffron", "sierra", "summit", "tundra", "thistle", "umber", "valley",
    "velvet", "willow", "wren", "yarrow", "zephyr", "zenith", "quietly", "gently",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Answer:
    """What one simulated completion says, already cut into streamable pieces."""

    pieces: tuple[str, ...]
    """One word per piece, each but the first with its leading space; one piece = one token."""
    input_tokens: int
    truncated: bool
    """True when `max_tokens` cut the answer short (finish "length" / stop "max_tokens")."""

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def output_tokens(self) -> int:
        return len(self.pieces)


def build_answer(
    model: str,
    messages: Sequence[Any],
    system: object,
    settings: ModelSettings,
    max_tokens: int | None,
) -> Answer:
    pieces = _continuation(model, messages, settings)
    if pieces is None:
        pieces = _pieces(model, last_user_text(messages), settings.answer_words, settings.answer)
    truncated = max_tokens is not None and max_tokens < len(pieces)
    if truncated and max_tokens is not None:
        pieces = pieces[:max_tokens]
    return Answer(pieces=pieces, input_tokens=input_tokens(messages, system), truncated=truncated)


@functools.lru_cache(maxsize=4096)
def _pieces(model: str, prompt: str, words: int, fixed: str | None) -> tuple[str, ...]:
    if fixed is not None:
        text = fixed
    else:
        digest = hashlib.blake2b(prompt.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        rng = random.Random(int.from_bytes(digest, "big"))
        generated = " ".join(rng.choice(_WORDS) for _ in range(words))
        text = f"Simulated answer from {model}: {generated}."
    words_ = text.split(" ")
    return (words_[0], *(" " + word for word in words_[1:]))


def _continuation(
    model: str, messages: Sequence[Any], settings: ModelSettings
) -> tuple[str, ...] | None:
    """The rest of an earlier answer, when asked to continue it.

    A conversation ending `…, user Q, assistant A, user "continue"` where A begins the
    answer this model gives to Q is a request to finish it: the simulated model answers
    with what follows A (after repeating `resume_overlap` words of A, as real models
    sometimes do). Anything else is an ordinary question.
    """
    if len(messages) < 3:
        return None
    *earlier, said, _ask = messages
    if not (
        isinstance(said, dict)
        and said.get("role") == "assistant"
        and isinstance(_ask, dict)
        and _ask.get("role") == "user"
    ):
        return None
    partial = content_text(said.get("content"))
    full = _pieces(model, last_user_text(earlier), settings.answer_words, settings.answer)
    text = "".join(full)
    if not partial or not text.startswith(partial):
        return None
    if partial == text:
        return ()  # the answer was already complete: nothing to add
    given = 0
    while given < len(full) and len("".join(full[: given + 1])) <= len(partial):
        given += 1
    if len("".join(full[:given])) != len(partial):
        rest = text[len(partial) :]
        return (rest,)  # cut inside a word: the rest in one piece
    start = max(0, given - settings.resume_overlap)
    return full[start:]


def last_user_text(messages: Sequence[Any]) -> str:
    """The text the answer is derived from: the newest user turn, whatever its shape."""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def content_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        ]
        if texts:
            return "\n".join(texts)
    if content is None:
        return ""
    return orjson.dumps(content, option=orjson.OPT_SORT_KEYS).decode()


def input_tokens(messages: Sequence[Any], system: object) -> int:
    """About four characters per token, like the providers' own rule of thumb; at least 1."""
    chars = len(content_text(system)) if system is not None else 0
    for message in messages:
        if isinstance(message, dict):
            chars += len(content_text(message.get("content")))
    return max(1, -(-chars // 4))
