"""What the soak sends: a few kinds of request through the gateway's default config, mixed
in fixed proportions. The kinds are those the memory of a long run could depend on: the
default non-streaming path (always_stream assembles every answer), the `always_stream:
false` provider, and streams relayed event by event (both dialects)."""

from __future__ import annotations

from dataclasses import dataclass

from fsbench.loadgen import ANTHROPIC_SSE, OPENAI_SSE, Sse
from fsbench.payloads import anthropic_request, openai_request
from fsbench.settings import ANSWER_TOKENS, STREAM_CHUNKS


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    model: str
    """The gateway's model (bench/fsbench/testbed.py's generated config)."""
    sse: Sse | None
    """How to read the answer when it is a stream (and check that it ended properly)."""
    events: int
    """Content events a complete answer has (for streams: what the check expects)."""
    note: str

    def request(self, port: int) -> bytes:
        if self.sse is ANTHROPIC_SSE:
            return anthropic_request(port, self.model)
        return openai_request(port, self.model, stream=self.sse is not None)


KINDS = {
    kind.name: kind
    for kind in (
        Kind(
            "plain",
            "gpt",
            None,
            ANSWER_TOKENS,
            "non-streaming, always_stream: true (default): answer assembled from the "
            f"upstream's stream, {ANSWER_TOKENS} tokens",
        ),
        Kind(
            "ns",
            "gpt-ns",
            None,
            ANSWER_TOKENS,
            f"non-streaming, always_stream: false: forwarded as is, {ANSWER_TOKENS} tokens",
        ),
        Kind(
            "stream",
            "gpt-stream",
            OPENAI_SSE,
            STREAM_CHUNKS,
            f"OpenAI stream relayed, {STREAM_CHUNKS} content events 2 ms apart",
        ),
        Kind(
            "anthropic",
            "claude-stream",
            ANTHROPIC_SSE,
            STREAM_CHUNKS,
            f"Anthropic stream relayed, {STREAM_CHUNKS} content events 2 ms apart",
        ),
    )
}
DEFAULT_MIX = "plain=0.8,ns=0.1,stream=0.1"
"""Mostly issue 18's case (default config, non-streaming, 50 tokens), with the other two
paths a long-running gateway serves alongside it."""


def parse_mix(text: str) -> dict[str, float]:
    """`plain=0.8,ns=0.1,stream=0.1` -> shares that add up to 1 (weights are normalised, so
    `plain=8,ns=1,stream=1` is the same mix). Raises ValueError on anything else."""
    weights: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep or name not in KINDS:
            raise ValueError(f"{part.strip()!r}: expected KIND=WEIGHT, KIND one of {list(KINDS)}")
        if name in weights:
            raise ValueError(f"{name} given twice")
        try:
            weight = float(value)
        except ValueError:
            raise ValueError(f"{part.strip()!r}: the weight is not a number") from None
        if not weight >= 0 or weight == float("inf"):
            raise ValueError(f"{part.strip()!r}: the weight must be a finite number >= 0")
        if weight > 0:
            weights[name] = weight
    total = sum(weights.values())
    if not weights or total <= 0:
        raise ValueError("the mix needs at least one kind with a weight above 0")
    return {name: weight / total for name, weight in weights.items()}


class Picker:
    """The kind of each scheduled request: smooth weighted round-robin, so the kinds are
    spread evenly over time (no bursts of one kind) and every window of N requests holds
    each kind's share to within one request. Deterministic: two runs send the same order."""

    def __init__(self, shares: dict[str, float]) -> None:
        self.names = list(shares)
        self.shares = [shares[name] for name in self.names]
        self.current = [0.0] * len(self.names)

    def next(self) -> int:
        """The index (into `names`) of the next request's kind."""
        current = self.current
        best = 0
        for i, share in enumerate(self.shares):
            current[i] += share
            if current[i] > current[best]:
                best = i
        current[best] -= 1.0
        return best
