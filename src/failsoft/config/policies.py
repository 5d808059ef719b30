"""Config sections for the resilience policies, with the defaults failsoft ships.

Sections a virtual model may override (`deadlines`, `retry`, `hedge`, `balance`, `resume`)
merge key by key over the top-level ones. `breaker` and `admission` are top level only:
breakers and in-flight caps belong to a target, which several virtual models may share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from failsoft.config.cache import CacheConfig, Degrade
from failsoft.config.validate import check, non_negative, positive


def _fraction(value: float) -> str | None:
    return None if 0.0 <= value <= 1.0 else f"must be between 0 and 1, got {value}"


def _at_least_one(value: int) -> str | None:
    return None if value >= 1 else f"must be 1 or more, got {value}"


OUTCOMES = (
    "408",
    "409",
    "429",
    "500",
    "502",
    "503",
    "504",
    "529",
    "reset",
    "connect",
    "connect_timeout",
    "first_byte_timeout",
    "first_token_timeout",
    "idle_timeout",
    "stream_error",
    "malformed",
    "truncated",
    "bad_response",
    "too_large",
)
"""Trail outcomes a `retry.retry_on` list may name."""


def _outcomes(value: tuple[str, ...]) -> str | None:
    unknown = [v for v in value if v not in OUTCOMES]
    if unknown:
        return f"unknown outcome {unknown[0]!r} (known: {', '.join(OUTCOMES)})"
    return None


def _positive_or_auto(value: float | str) -> str | None:
    return None if value == "auto" else positive(value)


@dataclass(frozen=True, slots=True)
class AdaptiveFirstToken:
    """How `first_token: auto` learns each target's limit (see policy/first_token.py)."""

    cold: float = check(positive, 10.0)
    """Seconds, for a target with too few answers seen (doubled after each race it lost
    while still answering with headers)."""
    floor: float = check(positive, 4.0)
    """The least a target with enough answers seen gets, however fast it usually is."""
    factor: float = check(positive, 4.0)
    """Limit = factor × the `quantile` of its observed times to first token..."""
    quantile: float = check(_fraction, 0.9)
    min_samples: int = check(_at_least_one, 5)
    """...once it has this many (fewer: cold)."""
    ceiling: float = check(positive, 300.0)
    """Never more than this, whatever the prompt's size."""
    tokens_per_step: float = check(positive, 32000.0)
    """Limits grow by 1× per this many input tokens (about 4 bytes each): a 96k-token
    prompt gets four times the limit of a short one."""


@dataclass(frozen=True, slots=True)
class Deadlines:
    """Seconds. `first_byte`: sending → the response headers; `first_token`: sending → the
    first content event, after which the next target is raced (`auto`: learnt per target);
    `idle`: the longest gap between events after it; `total`: the whole request, every
    attempt included (a caller may shorten it with `x-failsoft-timeout`)."""

    connect: float = check(positive, 5.0)
    first_byte: float = check(positive, 15.0)
    first_token: float | Literal["auto"] = check(_positive_or_auto, "auto")
    idle: float = check(positive, 30.0)
    total: float = check(positive, 600.0)
    adaptive: AdaptiveFirstToken = field(default_factory=AdaptiveFirstToken)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Full jitter: wait a uniform random time in [0, min(cap, base × 2^(retry−1))]."""

    base: float = check(positive, 0.25)
    cap: float = check(positive, 4.0)


@dataclass(frozen=True, slots=True)
class Budget:
    """Retries and hedges into a target may add at most `ratio` of its successful answers
    over the last `window` seconds, plus `min_per_second` (so a quiet target can still be
    retried)."""

    ratio: float = check(non_negative, 0.1)
    min_per_second: float = check(non_negative, 1.0)
    window: float = check(positive, 10.0)
    fallbacks: bool = False
    """Also charge fallbacks (a request's first try at a later target, after an earlier
    one failed). Off by default: the breakers already bound them, and charging them
    refuses exactly the requests the backups are there for (measured: with 1-second
    answers, 40 of the 50 requests sent while the primary's breaker was still counting
    failures got 503, against none without)."""


@dataclass(frozen=True, slots=True)
class Retry:
    max_attempts: int = check(_at_least_one, 2)
    """Attempts on one target before moving on (1 = never retry the same target)."""
    retry_on: tuple[str, ...] = check(
        _outcomes, ("408", "409", "429", "500", "502", "503", "504", "reset", "connect")
    )
    """Outcomes worth a second try on the same target. Not 529 (overloaded for everyone),
    not timeouts (a silent target stays silent): those move on at once."""
    max_wait: float = check(non_negative, 5.0)
    """The longest failsoft waits to retry the same target while another target could
    answer now; a longer wait (a `Retry-After: 30`) moves on instead. A short
    Retry-After (429, 503) is waited out on the preferred target rather than giving the
    caller a less preferred model at once."""
    max_waiting: int = check(_at_least_one, 8)
    """Requests that may wait out a Retry-After on one target at once; the rest move on."""
    backoff: Backoff = field(default_factory=Backoff)
    budget: Budget = field(default_factory=Budget)


@dataclass(frozen=True, slots=True)
class Silence:
    """When a target that accepts requests but sends nothing back counts as silent (see
    policy/silence.py): its breaker opens and the requests waiting on it are raced."""

    enabled: bool = True
    waiting: int = check(_at_least_one, 3)
    """Requests waiting past the threshold at once..."""
    factor: float = check(positive, 4.0)
    """...where the threshold is this × the target's 95th-percentile time to headers,"""
    floor: float = check(positive, 1.0)
    """at least this many seconds,"""
    cold: float = check(positive, 3.0)
    """or this many before the target's usual time to headers is known."""


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    failures: int = check(_at_least_one, 5)
    """Failures in a row (in the order the attempts began) that open a target's breaker..."""
    error_rate: float = check(_fraction, 0.5)
    """...or this share of failures over `window` seconds,"""
    min_requests: int = check(_at_least_one, 20)
    """once at least this many attempts were seen there."""
    window: float = check(positive, 10.0)
    open_for: float = check(positive, 2.0)
    """First open period; doubled after each failed probe, up to `max_open_for`."""
    max_open_for: float = check(positive, 10.0)
    quota_open_for: float = check(positive, 600.0)
    """Open period when the provider says a quota or spend cap is exhausted."""
    silence: Silence = field(default_factory=Silence)


@dataclass(frozen=True, slots=True)
class Hedge:
    enabled: bool = False
    delay: float | Literal["p95"] = 2.0
    """Seconds without a first token before the next target is started in parallel, or
    `p95`: the target's observed 95th-percentile time to first token."""
    min_delay: float = check(positive, 0.25)
    """Lower bound for a `p95` delay (few samples must not make hedging eager)."""
    max_hedges: int = check(_at_least_one, 1)


@dataclass(frozen=True, slots=True)
class Balance:
    strategy: Literal["ordered", "weighted", "least_latency"] = "ordered"
    """`ordered`: targets in the listed order. `weighted`: the first target drawn by
    `weight`. `least_latency`: power of two choices on observed time to first token."""


@dataclass(frozen=True, slots=True)
class Admission:
    """failsoft's own limits (docs/resilience.md, "Limits"). None of them is ever counted
    against a target: a request they turn away gets 503/529 with Retry-After, and a
    target they skip shows as `busy` in the trail. Each provider's connection pool is
    `providers.<name>.max_connections`."""

    max_in_flight: int = check(_at_least_one, 4096)
    """Requests the gateway works on at once; more are refused at once, not queued."""
    per_target: int = check(_at_least_one, 1024)
    """Attempts in flight to one target; beyond it the target is skipped for the request."""
    retry_after: float = check(positive, 1.0)
    pool_wait: float = check(non_negative, 0.5)
    """Seconds a request may wait for a free connection of its provider's pool (all
    `max_connections` in use); then the target is skipped as `busy`, like one at its
    `per_target` cap. 0: skip at once. Never part of `deadlines.connect`."""


RESUME_PROMPT = (
    "Your previous reply was cut off. Continue it from exactly where it stopped. Begin by "
    "repeating, word for word, the last two sentences you wrote (the last one may be "
    "unfinished), then go on. Do not add anything before them."
)


@dataclass(frozen=True, slots=True)
class Resume:
    enabled: bool = True
    """Finish a plain-text stream that broke after it started, from another target (or
    the same one), verified so that the caller never gets a spliced guess."""
    max_resumes: int = check(_at_least_one, 2)
    """Continuations per request (a continuation that breaks can be continued too)."""
    prefill: Literal["auto", "on", "off"] = "auto"
    """Continue with the text so far as a final assistant message where the target
    supports it (`auto`: the provider's `prefill` setting decides), else with a user turn
    (`prompt`) whose answer must verifiably restart or overlap what was said."""
    prompt: str = RESUME_PROMPT
    max_chars: int = check(_at_least_one, 200_000)
    """An answer longer than this is not kept for resuming (its break is an error)."""


@dataclass(frozen=True, slots=True)
class Policies:
    """The per-model policy sections, resolved (top level merged with the model's own)."""

    deadlines: Deadlines = field(default_factory=Deadlines)
    retry: Retry = field(default_factory=Retry)
    hedge: Hedge = field(default_factory=Hedge)
    balance: Balance = field(default_factory=Balance)
    resume: Resume = field(default_factory=Resume)
    cache: CacheConfig = field(default_factory=CacheConfig)
    degrade: Degrade = field(default_factory=Degrade)


MODEL_SECTIONS = ("deadlines", "retry", "hedge", "balance", "resume", "cache", "degrade")
