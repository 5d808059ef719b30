"""Running totals of the router's rarer repairs, per target, for `/metrics`.

Resumed answers, supplied end markers, dropped broken events, silent targets: each says
a provider misbehaved and failsoft covered for it, which an operator wants to see even
when no caller noticed. Nothing here is on the common path; a request that goes well
counts nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric

from failsoft.types import Target

MAX_KEYS = 8192
"""Keys kept at most (a caller can name `provider/<any model>`): the oldest go first."""

HELP = {
    "resumed": "Broken streams finished by a verified continuation.",
    "resume_failed": "Broken streams that could not be finished (the caller got an error).",
    "resume_unverified": "Continuations that neither restarted nor overlapped the answer.",
    "resume_prompt_tokens": "Input tokens of the continuations' own prompts (billed too).",
    "prefill_refused": "Continuations whose assistant prefill was refused (sent again without).",
    "dropped_events": "Broken stream events dropped because they carried no content.",
    "supplied_end": "Complete streams that ended without their end marker ([DONE], message_stop).",
    "silent": "Times a target was declared silent (requests waiting on it were raced).",
    "retry_after_waited": "Retries that waited out a provider's Retry-After on the same target.",
}


class Counters:
    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts: dict[tuple[str, Target], int] = {}

    def add(self, name: str, target: Target, count: int = 1) -> None:
        if not count:
            return  # nothing happened: no key for it either
        key = (name, target)
        counts = self._counts
        if key not in counts and len(counts) >= MAX_KEYS:
            del counts[next(iter(counts))]
        counts[key] = counts.get(key, 0) + count

    def get(self, name: str, target: Target) -> int:
        return self._counts.get((name, target), 0)

    def items(self) -> list[tuple[str, Target, int]]:
        return [(name, target, count) for (name, target), count in self._counts.items()]

    def clear(self) -> None:
        self._counts.clear()


def counter_metrics(counters: Counters) -> Iterator[Metric]:
    """One `failsoft_<name>` counter family per kind, labelled by provider and model."""
    families: dict[str, CounterMetricFamily] = {}
    for name, help_text in HELP.items():
        families[name] = CounterMetricFamily(
            f"failsoft_{name}", help_text, labels=["provider", "model"]
        )
    for name, target, count in counters.items():
        family = families.get(name)
        if family is not None:
            family.add_metric([target.provider, target.model], count)
    yield from families.values()
