"""What one outage run observed, and the small readings of it that several parts of the
analysis share (times from t=0, trail outcomes, exact answers), kept in one place so that
the figures, the per-second timeline and the request rows agree on them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fsbench.outage.exchange import Exchange
from fsbench.outage.plan import PRIMARY, PROVIDER, Plan

PRIMARY_LABEL = f"{PROVIDER}/{PRIMARY}"
PHASES = ("before", "during", "after")
SKIPS = ("open", "budget", "busy", "skipped", "deadline")
"""Trail outcomes that record a target passed over without an upstream attempt."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One request the simulator logged."""

    t: float
    model: str
    outcome: str
    stream: bool
    continuation: bool
    """The conversation carries an assistant turn: the gateway asked for the rest of an
    answer (a resumed stream), not for a new one."""


@dataclass(frozen=True, slots=True)
class Observed:
    plan: Plan
    exchanges: list[Exchange]
    t0_ns: int
    wall0: float
    """Wall-clock seconds at t=0."""
    sim_records: list[dict[str, Any]]
    sim_stats: dict[str, Any]
    gateway_log: list[str]

    def attempts(self) -> list[Attempt]:
        return [
            Attempt(
                r["time"] - self.wall0,
                r["model"],
                r["outcome"],
                bool(r.get("stream")),
                _continuation(r.get("body")),
            )
            for r in self.sim_records
        ]


def _continuation(body: object) -> bool:
    if not isinstance(body, dict):
        return False
    messages = body.get("messages")
    if not isinstance(messages, list):
        return False
    return any(isinstance(m, dict) and m.get("role") == "assistant" for m in messages)


def seconds(ns: int, t0_ns: int) -> float:
    return (ns - t0_ns) / 1e9


def pct(part: int, whole: int) -> float | None:
    return 100.0 * part / whole if whole else None


def primary_failures(e: Exchange) -> list[str]:
    """The outcomes of this request's failed attempts on the primary, from its trail (not
    200 and not a skip): `529`, or whatever failsoft calls a silent or broken attempt."""
    return [
        outcome
        for target, outcome in e.trail
        if target == PRIMARY_LABEL and outcome != "200" and outcome not in SKIPS
    ]


def exact(e: Exchange, answer: str | None) -> bool:
    """The caller got the whole fixed answer, word for word, in a response it accepts (a
    stream ended with a finish_reason and `data: [DONE]`)."""
    return answer is not None and e.error is None and e.answer == answer


def inexact_reason(e: Exchange, answer: str) -> str:
    """Why a caller did not get the exact answer, in a few words."""
    if e.error is not None:
        return f"failed: {e.error}"
    text = e.answer or ""
    if not text:
        return "no text"
    if answer.startswith(text):
        return "a prefix of the answer (text missing at the end)"
    if text.startswith(answer):
        return "the answer, then more text"
    if len(text) > len(answer):
        return "longer than the answer (text repeated?)"
    return "different text"
