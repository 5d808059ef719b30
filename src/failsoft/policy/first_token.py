"""How long to wait for a target's first token before racing the next target.

A fixed limit is wrong for almost everyone: 45 s lets a stuck provider cost a caller 45 s,
while 5 s abandons a reasoning model that always thinks for 30 s. So the limit is learnt
per target from the times to first token it has shown, normalised by the request's input
size (prefill time grows with the prompt, so a 100k-token prompt is allowed longer than a
20-token one):

    scale  = 1 + input_tokens / tokens_per_step
    warm   (≥ min_samples answers seen):  factor × q(quantile) of the normalised samples,
                                          at least `floor`
    cold   (fewer):  max(cold, factor × slowest answer seen, 2 × longest wait lost)
    limit  = min(base × scale, ceiling)

While cold, a race the target lost at its limit (it had answered with headers, so it is
alive, merely slow) doubles its next limit: a model whose first token always takes 30 s
is raced at 10 s, then 20 s, then waited for at 40 s, and from its first answers on its
limit follows what it really does. Once warm, lost races teach nothing: a target that
turned slow (a fault) keeps the limit its healthy answers earned, and is raced at it.

The limit is when the race starts, not when the target is abandoned (`router/race.py`):
the first answer of the two wins.
"""

from __future__ import annotations

from collections import deque

from failsoft.config import AdaptiveFirstToken
from failsoft.types import Target

BYTES_PER_TOKEN = 4
"""Input size is estimated from the request body: about four bytes per token."""


_REFRESH = 8
"""Observations between recomputing a warm target's quantile (sorting 64 samples on every
request would cost more than the rest of this module together)."""


class _Samples:
    __slots__ = ("fresh", "lost", "quantile", "recent")

    def __init__(self, size: int) -> None:
        self.recent: deque[float] = deque(maxlen=size)
        self.lost = 0.0
        """The longest normalised wait a cold target lost a race after."""
        self.quantile = 0.0
        self.fresh = _REFRESH
        """Observations since `quantile` was computed (it is stale from `_REFRESH` on, and
        always recomputed while there are only a few samples)."""


MAX_TARGETS = 4096
"""Targets remembered at most (a caller can name `provider/<any model>`): the oldest go."""


def scale(config: AdaptiveFirstToken, body_bytes: int) -> float:
    return 1.0 + body_bytes / BYTES_PER_TOKEN / config.tokens_per_step


class FirstTokenLimits:
    """Per-target times to first token, and the limit they imply for a request (the
    settings come with each call: virtual models sharing a target may differ)."""

    def __init__(self, window: int = 64) -> None:
        self._window = window
        self._targets: dict[Target, _Samples] = {}

    def limit(self, config: AdaptiveFirstToken, target: Target, body_bytes: int) -> float:
        """Seconds from sending to the first content before the next target is raced."""
        found = self._targets.get(target)
        if found is None:
            base = config.cold
        elif len(found.recent) >= config.min_samples:
            if found.fresh >= _REFRESH or len(found.recent) <= _REFRESH:
                ordered = sorted(found.recent)
                found.quantile = ordered[min(len(ordered) - 1, int(config.quantile * len(ordered)))]
                found.fresh = 0
            base = max(config.floor, config.factor * found.quantile)
        else:
            slowest = max(found.recent, default=0.0)
            base = max(config.cold, config.factor * slowest, 2.0 * found.lost)
        # (`scale`, written out: asked on every request)
        return min(
            base * (1.0 + body_bytes / BYTES_PER_TOKEN / config.tokens_per_step), config.ceiling
        )

    def samples(self, target: Target) -> int:
        found = self._targets.get(target)
        return 0 if found is None else len(found.recent)

    def observe(
        self, config: AdaptiveFirstToken, target: Target, first_token: float, body_bytes: int
    ) -> None:
        """A first token arrived after `first_token` seconds."""
        samples = self._targets.get(target) or self._get(target)
        # (`scale`, written out: told on every request)
        samples.recent.append(
            first_token / (1.0 + body_bytes / BYTES_PER_TOKEN / config.tokens_per_step)
        )
        samples.fresh += 1

    def lost(
        self, config: AdaptiveFirstToken, target: Target, waited: float, body_bytes: int
    ) -> None:
        """A race was lost after `waited` seconds without a first token, although the
        target had answered with headers. Only a cold target learns from it."""
        samples = self._get(target)
        if len(samples.recent) < config.min_samples:
            samples.lost = max(samples.lost, waited / scale(config, body_bytes))

    def forget(self) -> None:
        self._targets.clear()

    def _get(self, target: Target) -> _Samples:
        found = self._targets.get(target)
        if found is None:
            if len(self._targets) >= MAX_TARGETS:
                del self._targets[next(iter(self._targets))]
            found = self._targets[target] = _Samples(self._window)
        return found
