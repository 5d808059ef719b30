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
from failsoft.sim.structured import json_answer
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
_SENTENCE_ENDS = (". ", "! ", "? ", "\n")


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


PREFILL_REJECTED = (
    "This model does not support assistant message prefill. The conversation must end with "
    "a user message."
)
"""What Anthropic's Claude 4.6+ models answer to a prefill; `prefill: reject` says it too."""


def build_answer(
    model: str, prompt: Prompt, settings: ModelSettings, max_tokens: int | None
) -> Answer:
    """Tool results get a reply quoting them; a fresh user turn with callable tools gets
    tool calls; a trailing assistant turn gets continued or ignored (`prefill`); anything
    else gets text (or the rest of an answer asked to continue), as JSON when the request
    asks for a schema (see `structured.py`)."""
    turns = _spoken(prompt.turns)
    last = turns[-1] if turns else None
    if last is not None and last.role == "assistant":
        pieces = _prefilled(model, turns, prompt.continues, settings)
    elif last is not None and last.role == "user" and last.results is None and prompt.tools:
        calls = plan_calls(
            prompt.tools,
            prompt.forced,
            settings.tool_calls,
            last.text,
            settings.tool_name,
            settings.tool_arguments,
        )
        preface = _split(settings.tool_preface) if settings.tool_preface else ()
        return Answer(preface, prompt.input_tokens, False, calls)
    else:
        pieces = _reply(model, turns, settings)
        if prompt.schema is not None:
            pieces = _split(json_answer(prompt.schema, "".join(pieces)))
    truncated = max_tokens is not None and max_tokens < len(pieces)
    if truncated and max_tokens is not None:
        pieces = pieces[:max_tokens]
    return Answer(pieces=pieces, input_tokens=prompt.input_tokens, truncated=truncated)


def _spoken(turns: tuple[Turn, ...]) -> tuple[Turn, ...]:
    """The turns up to the newest user or assistant one: a system message after it (Claude
    Code appends one to its first request) instructs the model, it is not a turn to answer."""
    end = len(turns)
    while end and turns[end - 1].role == "system":
        end -= 1
    return turns[:end] if end < len(turns) else turns


def has_prefill(prompt: Prompt) -> bool:
    turns = _spoken(prompt.turns)
    return bool(turns) and turns[-1].role == "assistant"


def rejects_prefill(prompt: Prompt, settings: ModelSettings) -> bool:
    """Checked before any fault, as the real API validates before it generates."""
    return settings.prefill == "reject" and has_prefill(prompt)


def _reply(model: str, turns: Sequence[Turn], settings: ModelSettings) -> tuple[str, ...]:
    """The text answer to a conversation whose newest turn is not the model's own."""
    last = turns[-1] if turns else None
    if last is not None and last.role == "user" and last.results is not None:
        said = "; ".join(last.results)
        return _split(settings.answer or f"Simulated answer from {model}: the tool said {said}.")
    continued = _continuation(model, turns, settings)
    return continued if continued is not None else _full(model, newest_user(turns), settings)


def _prefilled(
    model: str, turns: Sequence[Turn], continues: bool, settings: ModelSettings
) -> tuple[str, ...]:
    """The answer F to the conversation before the prefill P, or only what follows P in F.

    The real APIs never repeat a prefill in the response, so a continued answer starts
    right after it; when P is not how F begins, the model answers F whole, as a model led
    somewhere it would not have gone does. (`reject` is refused earlier; here it ignores.)
    """
    *earlier, prefill = turns
    full = _reply(model, earlier, settings)
    mode = settings.prefill
    if mode == "auto":
        mode = "continue" if continues else "ignore"
    if mode != "continue" or not "".join(full).startswith(prefill.text):
        return full
    return _from(full, len(prefill.text))


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
    """The answer to a request to continue an earlier answer, shaped by `on_continue`.

    A conversation ending `…, user Q, assistant A, user "continue"` where A begins the
    answer F this model gives to Q is a request to finish it: the simulated model answers
    with what follows A (after repeating `resume_overlap` words of A, as real models
    sometimes do). The rule is structural (the last user text is not read), so `restart`
    and `fresh` treat every such conversation with a non-empty A as a request to continue;
    otherwise anything else is an ordinary question.
    """
    if len(turns) < 3:
        return None
    *earlier, said, ask = turns
    if said.role != "assistant" or ask.role != "user" or ask.results is not None:
        return None
    partial = said.text
    if not partial:
        return None
    mode = settings.on_continue
    if mode == "fresh":
        return _fresh(ask.text, partial, settings.answer_words)
    full = _full(model, newest_user(earlier), settings)
    if mode == "restart":
        return full
    text = "".join(full)
    if not text.startswith(partial):
        return None
    if mode == "sentence":
        return _from(full, _last_sentences(partial, settings.repeat_sentences))
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


def _from(pieces: tuple[str, ...], offset: int) -> tuple[str, ...]:
    """The pieces of `"".join(pieces)[offset:]`: a cut piece's tail, then the whole pieces
    after it, so a continuation streams word by word like any answer."""
    rest: list[str] = []
    position = 0
    for piece in pieces:
        end = position + len(piece)
        if end > offset:
            rest.append(piece[max(0, offset - position) :])
        position = end
    return tuple(rest)


def _last_sentences(text: str, count: int) -> int:
    """Where the last `count` sentences of `text` start (the last may be unfinished):
    models asked to resume tend to restate them first."""
    starts = sorted({at + len(mark) for mark in _SENTENCE_ENDS for at in _find_all(text, mark)})
    return starts[-count] if len(starts) >= count else 0


def _find_all(text: str, mark: str) -> list[int]:
    found = []
    at = text.find(mark)
    while at >= 0:
        found.append(at)
        at = text.find(mark, at + 1)
    return found


def _fresh(ask: str, partial: str, words: int) -> tuple[str, ...]:
    """Words that neither repeat the partial answer nor restart it (no "Simulated answer"
    prefix), so a gateway cannot mistake them for either; `answer` is ignored on purpose."""
    digest = hashlib.blake2b(b"fresh\0" + ask.encode("utf-8", "surrogatepass"), digest_size=16)
    rng = random.Random(int.from_bytes(digest.digest(), "big"))
    chosen = [rng.choice(_WORDS) for _ in range(words)]
    first = partial.split(maxsplit=1)[:1]
    avoid = "".join(char for char in "".join(first) if char.isalnum()).lower()
    if chosen[0] == avoid:
        chosen[0] = _WORDS[(_WORDS.index(avoid) + 1) % len(_WORDS)]
    text = " ".join(chosen)
    return _split(f"{text[0].upper()}{text[1:]}.")


def newest_user(turns: Sequence[Turn]) -> Turn | None:
    """The turn the answer is derived from: the newest user turn, whatever its shape."""
    for turn in reversed(turns):
        if turn.role == "user":
            return turn
    return None
