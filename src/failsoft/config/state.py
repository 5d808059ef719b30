"""The `state` section: breakers and retry budgets shared by every gateway process through
Redis (docs/fleet.md). Unset `url`: each process decides alone, as without the section."""

from __future__ import annotations

from dataclasses import dataclass

from failsoft.config.validate import check, positive


def _redis_url(value: str) -> str | None:
    if value.startswith(("redis://", "rediss://", "unix://")):
        return None
    if value.startswith(("redis+sentinel://", "sentinel://")):
        return "Redis Sentinel is not supported: give the master's redis:// or rediss:// URL"
    return f"must start with redis://, rediss:// or unix://, got {value!r}"


@dataclass(frozen=True, slots=True)
class StateConfig:
    url: str | None = check(_redis_url, None, repr=False)
    """`redis://[user:password@]host:6379/0`, `rediss://…` (TLS) or `unix:///path.sock`. Every
    process (worker or instance) given the same URL and `prefix` shares breaker states,
    failure counts, half-open probes and retry budgets. Unset: each process decides alone.
    The password is never logged."""
    prefix: str = "failsoft:state:"
    """Key and channel prefix; fleets that must not share state use different prefixes."""
    publish_every: float = check(positive, 0.05)
    """Seconds between batches of what this process saw (failures, successes, extra
    attempts); a breaker that opens or closes is sent at the next batch too, so the fleet
    follows within about twice this."""
    timeout: float = check(positive, 0.25)
    """Seconds any Redis call may take; past it Redis counts as away. No request ever waits
    for one: every call is made in the background."""
    retry_max: float = check(positive, 5.0)
    """Longest wait, in seconds, between attempts to reach Redis while it is away (full
    jitter, growing from 0.1 s)."""
    heartbeat: float = check(positive, 1.0)
    """Seconds without anything to send after which Redis is pinged, so that a frozen
    server is noticed while traffic is quiet."""
    probe_ttl: float = check(positive, 30.0)
    """Seconds a half-open probe claimed by one process keeps the others from probing if it
    never tells how the probe ended (it stopped); longer than a probe can take."""
