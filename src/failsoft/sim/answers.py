"""Deterministic answers: text, tool calls, tool-result replies, and token counts.

Tests and the benchmark compare answers across attempts, fallbacks, caches, processes
and dialects, so the words depend only on the model name and the newest user text
(through blake2b, never the per-process salted `hash()`).
"""

from __future__ import annotations

import functools
import hashlib
import random
from collections.abc import Sequence
from typing import NamedTuple

from failsoft.sim.prompt import Prompt, Turn
from failsoft.sim.settings import ModelSettings
from failsoft.sim.tools import ToolCall, plan_calls

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


class Answer(NamedTuple):
    """What one simulated completion says, already cut into streamable pieces."""

    pieces: tuple[str, ...]
    """One word per piece, each but the first with its leading space; one piece = one token.
    With tool calls: the preface said before them (usually none)."""
    input_tokens: int
    truncated: bool
    """True when `max_tokens` cut the answer short (finish "length" / stop "max_tokens")."""
    calls: tuple[ToolCall, ...] = ()
    """Tool calls instead of (or after a preface of) text."""

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def output_tokens(self) -> int:
        return len(self.pieces) + sum(len(call.fragments) for call in self.calls)


def build_answer(
    model: str, prompt: Prompt, settings: ModelSettings, max_tokens: int | None
) -> Answer:
    """Tool results get a reply quoting them; a fresh user turn with callable tools gets
    tool calls; anything else gets text (or the rest of an answer asked to continue)."""
    turns = prompt.turns
    last = turns[-1] if turns else None
    pieces: tuple[str, ...] | None = None
    if last is not None and last.role == "user":
        if last.results is not None:
            said = "; ".join(last.results)
            pieces = _split(
                settings.answer or f"Simulated answer from {model}: the tool said {said}."
            )
        elif prompt.tools:
            calls = plan_calls(prompt.tools, prompt.forced, settings.tool_calls, last.text)
            preface = _split(settings.tool_preface) if settings.tool_preface else ()
            return Answer(preface, prompt.input_tokens, False, calls)
    if pieces is None:
        pieces = _continuation(model, turns, settings)
    if pieces is None:
        pieces = _full(model, newest_user(turns), settings)
    truncated = max_tokens is not None and max_tokens < len(pieces)
    if truncated and max_tokens is not None:
        pieces = pieces[:max_tokens]
    return Answer(pieces=pieces, input_tokens=prompt.input_tokens, truncated=truncated)


def _full(model: str, turn: Turn | None, settings: ModelSettings) -> tuple[str, ...]:
    text, images = (turn.text, turn.images) if turn is not None else ("", ())
    return _pieces(model, text, images, settings.answer_words, settings.answer)


@functools.lru_cache(maxsize=4096)
def _pieces(
    model: str, prompt: str, images: tuple[str, ...], words: int, fixed: str | None
) -> tuple[str, ...]:
    if fixed is not None:
        return _split(fixed)
    digest = hashlib.blake2b(prompt.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    rng = random.Random(int.from_bytes(digest, "big"))
    generated = " ".join(rng.choice(_WORDS) for _ in range(words))
    return _split(f"Simulated answer from {model}: {generated}.{image_note(images)}")


def image_note(images: Sequence[str]) -> str:
    """` (saw 2 images: image/png, url)`: shows a test which images crossed a translation."""
    if not images:
        return ""
    noun = "image" if len(images) == 1 else "images"
    return f" (saw {len(images)} {noun}: {', '.join(images)})"


def _split(text: str) -> tuple[str, ...]:
    words = text.split(" ")
    return (words[0], *(" " + word for word in words[1:]))


def _continuation(
    model: str, turns: Sequence[Turn], settings: ModelSettings
) -> tuple[str, ...] | None:
    """The rest of an earlier answer, when asked to continue it.

    A conversation ending `…, user Q, assistant A, user "continue"` where A begins the
    answer this model gives to Q is a request to finish it: the simulated model answers
    with what follows A (after repeating `resume_overlap` words of A, as real models
    sometimes do). Anything else is an ordinary question.
    """
    if len(turns) < 3:
        return None
    *earlier, said, ask = turns
    if said.role != "assistant" or ask.role != "user" or ask.results is not None:
        return None
    partial = said.text
    full = _full(model, newest_user(earlier), settings)
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


def newest_user(turns: Sequence[Turn]) -> Turn | None:
    """The turn the answer is derived from: the newest user turn, whatever its shape."""
    for turn in reversed(turns):
        if turn.role == "user":
            return turn
    return None
