"""One request's meter: the usage of every upstream attempt that was billed.

An attempt is billed once its upstream answered 200: from then the provider counts its
tokens, whether the answer was finished, cut, or abandoned (a hedge that lost the race).
Usage is taken from the upstream's own fields (`extract.py`); what the upstream never
reported is estimated (input from the request's size, output from the text received, about
four characters a token) and the attempt marked `estimated`.

The router feeds the meter only when the request carries one (`ChatRequest.meter`, set
when `auth` is configured): without it, the cost is one `is None` test per attempt.
"""

from __future__ import annotations

import math
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from failsoft.usage.extract import Counts, answer_counts, event_counts, event_text

CHARS_PER_TOKEN = 4
METER = "failsoft.meter"
"""The scope entry holding the request's `Meter` (set by the chat endpoint with `auth`)."""


@dataclass(frozen=True, slots=True)
class Usage:
    """What one billed attempt consumed."""

    provider: str
    model: str
    input: int
    """Input tokens, cached reads included."""
    output: int
    cached: int = 0
    """The part of `input` read from the provider's prompt cache."""
    estimated: bool = False
    """Some count is failsoft's estimate: the upstream reported none (a cut stream, a hedge
    that lost, a continuation that broke)."""


class AttemptMeter:
    """Counts for one attempt, as its events pass."""

    __slots__ = ("cached", "chars", "deltas", "dialect", "input", "model", "output", "provider")

    def __init__(self, provider: str, model: str, dialect: str) -> None:
        self.provider = provider
        self.model = model
        self.dialect = dialect
        self.input: int | None = None
        self.output: int | None = None
        self.cached = 0
        self.chars = 0
        self.deltas = 0

    def event(self, obj: Any) -> None:
        """One parsed stream event of this attempt's upstream."""
        dialect = self.dialect
        n = event_text(dialect, obj)
        if n:
            self.chars += n
            self.deltas += 1
        counts = event_counts(dialect, obj)
        if counts is not None:
            self._take(counts)

    def answer(self, obj: Any) -> None:
        """A whole answer (in this attempt's upstream dialect)."""
        counts = answer_counts(self.dialect, obj)
        if counts is not None:
            self._take(counts)

    def _take(self, counts: Counts) -> None:
        if counts.input is not None:
            self.input = counts.input
            self.cached = counts.cached
        if counts.output is not None:
            self.output = counts.output

    def usage(self, prompt_tokens: int) -> Usage:
        estimated = self.input is None or self.output is None
        output = self.output
        if output is None:
            output = max(self.deltas, math.ceil(self.chars / CHARS_PER_TOKEN))
        given = self.input if self.input is not None else prompt_tokens
        return Usage(self.provider, self.model, given, output, self.cached, estimated)


class Meter:
    """A request's attempts' usage (one per billed attempt, in order)."""

    __slots__ = ("attempts", "key", "prompt_chars")

    def __init__(self, key: str, prompt_chars: int) -> None:
        self.key = key
        """The caller key's name the spend is charged to."""
        self.prompt_chars = prompt_chars
        """The request body's size: the input estimate when an upstream reports none."""
        self.attempts: list[AttemptMeter] = []

    def begin(self, provider: str, model: str, dialect: str) -> AttemptMeter:
        """An attempt's upstream answered 200: it is billed from here."""
        meter = AttemptMeter(provider, model, dialect)
        self.attempts.append(meter)
        return meter

    def drop(self, attempt: AttemptMeter) -> None:
        """An attempt that turned out not to be billed (it failed before any content)."""
        if attempt in self.attempts:
            self.attempts.remove(attempt)

    def settle(self) -> list[Usage]:
        """Every billed attempt's usage, estimated where it was not reported."""
        prompt = math.ceil(self.prompt_chars / CHARS_PER_TOKEN)
        return [a.usage(prompt) for a in self.attempts]

    def tokens(self) -> int | None:
        """Input plus output tokens of the request so far (estimates included), or None
        when no attempt was billed: what a tokens-per-minute limit charges."""
        if not self.attempts:
            return None
        return sum(u.input + u.output for u in self.settle())


def request_tokens(scope: MutableMapping[str, Any]) -> int | None:
    """Input plus output tokens the request's upstreams billed so far (reported, else
    estimated), or None when it is not metered or nothing was billed: what a
    tokens-per-minute limit charges when the request ends (auth/limits.py)."""
    meter: Meter | None = scope.get(METER)
    return None if meter is None else meter.tokens()
