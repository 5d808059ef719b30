"""Small value types shared by every layer (no imports from failsoft)."""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from typing import Any, Literal, final

Dialect = Literal["openai", "anthropic", "gemini", "responses"]
DIALECTS: tuple[Dialect, ...] = ("openai", "anthropic", "gemini", "responses")
"""The dialects providers speak (`responses`: an OpenAI provider with `api: responses`)."""
CALLER_DIALECTS: tuple[Dialect, ...] = ("openai", "anthropic", "responses", "gemini")
"""The dialects failsoft serves to callers, each passed through as is to a target of the
same dialect."""


_TARGETS: weakref.WeakValueDictionary[tuple[str, str], Target] = weakref.WeakValueDictionary()
"""The one live `Target` per (provider, model): weak, so it holds no more targets than the
policies' own (bounded) tables and the config do."""
_MAKING = threading.Lock()
"""Taken only to register a new target, so that two threads making the same one at once
cannot both register theirs."""


@final
@dataclass(frozen=True, slots=True, eq=False, init=False, weakref_slot=True)
class Target:
    """One upstream model at one provider: the unit the router tries.

    Every policy keeps its state per target in a dict, so a request looks targets up a
    dozen times. Targets are interned, one object per (provider, model) while any is alive,
    so that equality by value is identity and the hash is the object's: both are the C slots
    `object` has, where a Python `__hash__` or a dataclass `__eq__` is a Python call on
    every lookup. Every way of making one (a call, `dataclasses.replace`, pickle and copy
    through `__reduce__`) goes through `__new__`, which returns the registered object."""

    provider: str
    model: str

    def __new__(cls, provider: str, model: str) -> Target:
        key = (provider, model)
        found = _TARGETS.get(key)
        if found is not None:
            return found
        made = object.__new__(cls)
        object.__setattr__(made, "provider", provider)
        object.__setattr__(made, "model", model)
        with _MAKING:
            # No finalizer makes targets, so nothing re-enters while the lock is held.
            return _TARGETS.setdefault(key, made)

    def __reduce__(self) -> tuple[type[Target], tuple[str, str]]:
        # Unpickled (or copied) through `__new__`: the receiving process's own object.
        return (Target, (self.provider, self.model))

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}"


SKIPPED = frozenset({"skipped", "open", "budget", "busy", "deadline", "untranslatable"})
"""Trail outcomes of targets passed over without sending anything upstream (`deadline`
is also what an attempt cut short by the request's deadline says: `AttemptRecord.made`
tells the two apart, a trail read back from the header cannot)."""


@dataclass(frozen=True, slots=True, init=False)
class AttemptRecord:
    """What one attempt did; the trail header and exhaustion messages are built from these.

    Frozen, but not through the `__init__` a frozen dataclass generates: that one sets each
    field with `object.__setattr__` (~1,200 instructions a field, ~14,000 a record, made for
    every attempt); this one calls each slot's own setter, with the same signature and
    defaults (`tests/test_types.py` holds them to the fields')."""

    target: Target
    outcome: str
    """Trail token: an HTTP status (`529`), `200`, or a word (`reset`, `first_token_timeout`)."""
    detail: str = ""
    transient: bool = True
    """Whether a later retry could succeed (false for client faults and skipped targets)."""
    duration: float = 0.0
    retry_after: float | None = None
    """The upstream's Retry-After hint, if it gave one."""
    kind: str = "first"
    """See `events.AttemptFinished.kind`; skipped targets keep `first`."""
    made: bool = True
    """Whether a request went upstream (false for a target skipped: breaker open, budget
    spent, at its cap, untranslatable, the deadline gone); `x-failsoft-attempts` counts
    these."""

    def __init__(
        self,
        target: Target,
        outcome: str,
        detail: str = "",
        transient: bool = True,
        duration: float = 0.0,
        retry_after: float | None = None,
        kind: str = "first",
        made: bool = True,
    ) -> None:
        _set_target(self, target)
        _set_outcome(self, outcome)
        _set_detail(self, detail)
        _set_transient(self, transient)
        _set_duration(self, duration)
        _set_retry_after(self, retry_after)
        _set_kind(self, kind)
        _set_made(self, made)

    def describe(self) -> str:
        text = f"{self.target.label} → {self.outcome}"
        return f"{text} ({self.detail})" if self.detail else text


(
    _set_target,
    _set_outcome,
    _set_detail,
    _set_transient,
    _set_duration,
    _set_retry_after,
    _set_kind,
    _set_made,
) = (
    AttemptRecord.__dict__[name].__set__
    for name in (
        "target", "outcome", "detail", "transient", "duration", "retry_after", "kind", "made"
    )
)  # fmt: skip


def trail(attempts: list[AttemptRecord] | tuple[AttemptRecord, ...]) -> str:
    """The `x-failsoft-trail` value: `provider/model:outcome,...` (commas in names escaped)."""
    return ",".join(f"{a.target.label.replace(',', '%2C')}:{a.outcome}" for a in attempts)


@dataclass(slots=True)
class ChatRequest:
    """A caller's chat request as the router sees it: parsed enough to route, raw kept."""

    dialect: Dialect
    model: str
    stream: bool
    payload: dict[str, Any]
    body: bytes
    """The exact bytes received, forwarded (model renamed) to same-dialect targets."""
    forwarded: dict[str, str] = field(default_factory=dict)
    """Caller headers that same-dialect upstreams should see (e.g. `anthropic-version`)."""
    timeout: float | None = None
    """The caller's `x-failsoft-timeout`, which can only shorten `deadlines.total`."""
    request_id: str = ""
    client_retries: int = 0
    """The SDK's `x-stainless-retry-count`: a retry of an earlier failed call counts
    against the retry budget of the first target, like failsoft's own retries."""
    ir: Any = None
    """The request in failsoft's internal form, parsed on first need (translate.ir.Request)."""
    upstream_extra: dict[str, Any] = field(default_factory=dict)
    """Fields added to the body for OpenAI-dialect targets (a resume's
    `continue_final_message` for vLLM-style servers); empty for callers' requests."""
    translations: dict[Any, Any] = field(default_factory=dict)
    """Per target options: the request written for that target, or why it cannot be (and
    under "native" the same-dialect body, when its tool ids had to be shortened)."""
    trace: Any = None
    """The request's span (tracing.otel.RequestTrace) when the gateway traces, else None:
    the router starts each attempt's span under it."""
    meter: Any = None
    """The request's usage meter (usage.meter.Meter) when spend is recorded (`auth`),
    else None: each billed attempt's usage goes in it."""
