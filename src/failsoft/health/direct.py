"""What callers may grow in the health side, kept bounded: components for targets no plan
names (asked for directly as `provider/model`), and the model label requests are counted
under for /metrics. Callers choose these names; an attacker choosing 5,000 of them once
took a gateway to 3 GB and its /metrics to 34 s (docs/security.md#limits)."""

from __future__ import annotations

from collections import OrderedDict

from failsoft.config import Config
from failsoft.types import Target

MAX_REQUEST_SERIES = 4096
"""(virtual model, status) pairs counted for /metrics; later pairs, and names that are no
model (a caller's 404), are counted under OTHER_MODELS."""
OTHER_MODELS = "(other)"
DIRECT_MODELS = "(direct)"


def series_label(config: Config, name: str, series: int) -> str:
    """The model label a request for `name` is counted under, with `series` pairs counted
    so far: a virtual model or alias as named, a name a pattern matched under its virtual
    model, a direct `provider/model` under DIRECT_MODELS (its target's own series say
    more), anything else and any series past MAX_REQUEST_SERIES under OTHER_MODELS."""
    if series >= MAX_REQUEST_SERIES:
        return OTHER_MODELS
    if name in config.models or name in config.names.aliases:
        return name
    plan = config.resolve(name)
    if plan is None:
        return OTHER_MODELS
    return plan.name if plan.name in config.models else DIRECT_MODELS


class DirectComponents:
    """Targets no plan names that became components (they answered), least recently seen
    first."""

    __slots__ = ("order",)

    def __init__(self) -> None:
        self.order: OrderedDict[Target, None] = OrderedDict()
        """Least recently seen first (read-only outside: the monitor's hot path looks
        into it only when it holds anything)."""

    def __contains__(self, target: object) -> bool:
        return target in self.order

    def __len__(self) -> int:
        return len(self.order)

    def seen(self, target: Target) -> None:
        """An attempt reached it (hot path: one dict operation)."""
        self.order.move_to_end(target)

    def admit(self, target: Target, limit: int) -> list[Target]:
        """Keep `target`; the targets forgotten to stay within `limit`."""
        evicted = []
        while self.order and len(self.order) >= limit:
            evicted.append(self.order.popitem(last=False)[0])
        self.order[target] = None
        return evicted

    def keep_only(self, labels: set[str]) -> list[Target]:
        """Forget (and return) those whose label is not in `labels`."""
        gone = [t for t in self.order if t.label not in labels]
        for target in gone:
            del self.order[target]
        return gone

    def discard(self, target: Target) -> None:
        self.order.pop(target, None)

    def clear(self) -> list[Target]:
        gone = list(self.order)
        self.order.clear()
        return gone
