"""What a request that no target answered ends with, when a caller's retry could help, and
what it says of a key the provider refused."""

from __future__ import annotations

import math

from failsoft.errors import (
    AllTargetsFailed,
    Untranslatable,
    UpstreamClientFault,
    UpstreamError,
    UpstreamStatusError,
)
from failsoft.router.state import RouterState
from failsoft.types import AttemptRecord

# The longest Retry-After failsoft passes on: the openai SDK refuses to retry above 60-120 s,
# and an anthropic SDK sleeps whatever it is told.
MAX_RETRY_AFTER = 60.0
DEFAULT_RETRY_AFTER = 1.0


def exhausted(
    model: str,
    attempts: list[AttemptRecord],
    state: RouterState,
    untranslatable: bool,
    made: int,
    refusal: UpstreamStatusError | None,
) -> Exception:
    """The error for a request every target failed: the caller must change it (no dialect
    can carry it), or every target refused it (relay the last refusal), or an outage."""
    transient = any(a.transient for a in attempts)
    if untranslatable and not made and not transient:
        reasons = "; ".join(a.describe() for a in attempts if a.outcome == "untranslatable")
        return Untranslatable(
            f"failsoft: no target of model {model!r} can take this request: {reasons}"
        )
    if refusal is not None and not transient:
        # Every target that was tried refused the request (as too long, or as written for
        # its dialect): relay the last refusal rather than claim an outage.
        return UpstreamClientFault(refusal, attempts)
    retry_after, should_retry = when_to_retry(attempts, state)
    return AllTargetsFailed(model, attempts, retry_after, should_retry)


def when_to_retry(attempts: list[AttemptRecord], state: RouterState) -> tuple[float, bool]:
    """When a caller's retry could find a target willing, and whether that is worth it.

    The soonest a breaker reopens or a provider said to come back; a short pause when
    targets merely failed just now, or `admission.retry_after` when they were busy. Beyond
    `MAX_RETRY_AFTER` a retry is not advised: the gateway already spent the useful
    attempts, and SDK retries would only add load.
    """
    if not any(a.transient for a in attempts):
        return DEFAULT_RETRY_AFTER, False
    # A busy target (failsoft's own limit: admission.per_target, a full pool) is worth a
    # retry after the same pause as a request refused at admission.max_in_flight.
    busy = {a.target for a in attempts if a.outcome == "busy"}
    pause = state.limits.retry_after
    waits = [
        max(state.breakers[t].reopens_in(), pause if t in busy else 0.0)
        for t in {a.target for a in attempts if a.transient}
    ]
    hints = [a.retry_after for a in attempts if a.retry_after is not None]
    soonest = min(waits) if waits else 0.0
    if hints:
        soonest = max(soonest, min(hints))
    if soonest > MAX_RETRY_AFTER:
        return MAX_RETRY_AFTER, False
    return max(DEFAULT_RETRY_AFTER, math.ceil(soonest * 10) / 10), True


def credentials_rejected(provider: str, error: UpstreamError) -> str:
    """What a caller, the log and the trail's reader learn of a refused key: whose key, and
    that it is the gateway's to fix; never the key, nor the caller's (which no provider saw)."""
    upstream = "refused"
    if isinstance(error, UpstreamStatusError):
        said = error.error_code or error.error_type
        upstream = f"HTTP {error.status} {said}" if said else f"HTTP {error.status}"
    return (
        f"the upstream rejected failsoft's credentials for provider {provider!r}, {upstream}: "
        f"the gateway's operator must fix providers.{provider}.api_key"
    )
