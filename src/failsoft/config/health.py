"""Config sections for health, incidents, the status page, storage, webhooks and admin.

All optional: with none of them, failsoft still watches its own traffic, opens incidents
and serves a public status page, keeping history in memory (library mode) or in
`failsoft.db` next to where `failsoft serve` runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from failsoft.config.auth import MIN_KEY_LENGTH
from failsoft.config.validate import Secret, check, non_negative, positive


def _fraction(value: float) -> str | None:
    return None if 0 < value <= 1 else f"must be a fraction in (0, 1], got {value}"


def _store_url(value: str) -> str | None:
    if value.startswith(("sqlite://", "postgresql://", "postgres://", "memory://")):
        return None
    return f"must start with sqlite://, postgresql:// or memory://, got {value!r}"


def _webhook_url(value: str) -> str | None:
    if not value.startswith(("http://", "https://")):
        return f"must be an http:// or https:// URL, got {value!r}"
    return None


@dataclass(frozen=True, slots=True)
class ProbeConfig:
    """Active probes of one provider (off by default: probes of paid models cost money)."""

    enabled: bool = False
    interval: float = check(positive, 60.0)
    """Seconds between probes of one model (jittered by ±20 %)."""
    kind: Literal["models", "completion"] = "models"
    """`models`: `GET /models` proves the provider answers (free). `completion`: a
    `max_tokens: 1` request per model proves each model answers."""
    models: tuple[str, ...] = ()
    """Models to probe with `completion` (default: every model of this provider in a plan)."""
    quiet: int = check(non_negative, 3)
    """A probe is skipped while real traffic gave at least this many attempts to the model
    within the last interval: traffic already says how it is."""
    timeout: float = check(positive, 10.0)


@dataclass(frozen=True, slots=True)
class HealthConfig:
    """How observations become states, and states become incidents."""

    min_requests: int = check(positive, 5)
    """Attempts in a window before its error rate counts (fewer: the longer window is used)."""
    degraded: float = check(_fraction, 0.05)
    """Error rate (last minute) from which a model is `degraded_performance`..."""
    partial: float = check(_fraction, 0.25)
    """...`partial_outage`..."""
    major: float = check(_fraction, 0.6)
    """...and `major_outage`."""
    latency_p95_ms: float | None = None
    """A p95 latency above this (last 5 minutes) also makes a model `degraded_performance`."""
    recover_after: float = check(non_negative, 60.0)
    """Seconds a better state must last before a model is shown in it (no flapping)."""
    incident_at: Literal["degraded_performance", "partial_outage", "major_outage"] = (
        "partial_outage"
    )
    """The state from which an incident is opened."""
    open_after: float = check(non_negative, 20.0)
    """Seconds a model must stay at `incident_at` or worse before an incident opens."""
    resolve_after: float = check(non_negative, 300.0)
    """Seconds without trouble before an incident is resolved (it is `monitoring` meanwhile)."""
    evaluate_every: float = check(positive, 5.0)
    """How often states are recomputed."""
    demote_on_declared: bool = False
    """When a provider's own status page declares a major outage of a model's component,
    move that target behind the others in every plan until it is over."""
    status_poll_interval: float = check(positive, 60.0)
    """Seconds between polls of each provider's `status_page`."""
    max_direct_components: int = check(positive, 256)
    """Health components kept for targets no virtual model names (asked for directly as
    `provider/model`), the least recently seen forgotten first. Such a target becomes a
    component (on the status page, in the store) only once it answered successfully."""


@dataclass(frozen=True, slots=True)
class CallersConfig:
    """The callers' headline: the share of requests answered per virtual model, over the last
    `window` seconds, sets the page's indicator (see docs/health.md)."""

    none: float = check(_fraction, 0.995)
    """From this share answered, a model is operational (indicator `none`)..."""
    minor: float = check(_fraction, 0.95)
    """...from this, degraded (`minor`)..."""
    major: float = check(_fraction, 0.75)
    """...from this, a partial outage (`major`); below it, a major outage (`critical`)."""
    window: float = check(positive, 300.0)
    min_requests: int = check(positive, 5)
    """Fewer requests than this in the window say too little for the thresholds: the
    model is then degraded if any went unanswered, else operational."""


@dataclass(frozen=True, slots=True)
class StatusConfig:
    enabled: bool = True
    public: bool = True
    """Without `public`, the page and its JSON need the admin token."""
    title: str = "failsoft status"
    url: str | None = None
    """The page's public URL, for links in webhooks and `page.url` in the JSON (default:
    `http://<server.host>:<server.port>/status`)."""
    history_days: int = check(positive, 90)
    refresh: int = check(positive, 15)
    """Seconds between the page's live refreshes."""
    callers: CallersConfig = field(default_factory=CallersConfig)


@dataclass(frozen=True, slots=True)
class StoreConfig:
    url: str | None = check(_store_url, None)
    """`sqlite:///path/to/file.db` (a relative path is read from the config file's
    directory), `postgresql://user@host/db` or `memory://`. Unset:
    `failsoft serve` uses `sqlite:///failsoft.db`, library mode keeps history in memory."""
    timeout: float = check(positive, 5.0)
    """Seconds any store call may take (connecting, a read, a write); past it the store
    counts as away. Writes never wait for it: they are queued."""
    queue: int = check(positive, 10_000)
    """State changes, incident saves and dead letters kept at most while the store is away
    (past it the oldest are dropped, and the log and a metric say so)."""
    spool: str | None = None
    """Directory where writes waiting for the store are also kept on disk, so a restart
    during a store outage loses nothing. Default: `failsoft-spool` in the working
    directory for PostgreSQL; none for SQLite and memory (queued in memory only)."""
    retry_max: float = check(positive, 5.0)
    """Longest wait, in seconds, between attempts to reach a store that is away (full
    jitter, growing from 0.25 s)."""


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    url: str = check(_webhook_url)
    secret: Secret | None = None
    """`whsec_…` (Standard Webhooks); requests are signed when set."""
    events: tuple[
        Literal[
            "incident.opened",
            "incident.updated",
            "incident.resolved",
            "breaker.opened",
            "breaker.closed",
        ],
        ...,
    ] = ()
    """Which events to send (all when empty)."""
    format: Literal["standard", "slack"] = "standard"
    timeout: float = check(positive, 10.0)
    max_attempts: int = check(positive, 8)
    headers: dict[str, str] = field(default_factory=dict)


def _token(value: Secret) -> str | None:
    """Empty is allowed (off, with a warning at start); short is not: the token can
    reload the config, and so change every key."""
    n = len(value.reveal())
    if n == 0 or n >= MIN_KEY_LENGTH:
        return None
    return (
        f"must be at least {MIN_KEY_LENGTH} characters (got {n}); generate one with "
        "`openssl rand -hex 32` (an empty value turns it off)"
    )


@dataclass(frozen=True, slots=True)
class AdminConfig:
    token: Secret | None = check(_token, None)  # noqa: RUF009 (a field(), not a value)
    """Bearer token for `/admin/…` (and for a non-public status page and `/metrics`). At
    least 32 characters (`openssl rand -hex 32`), given from the environment
    (`token: ${FAILSOFT_ADMIN_TOKEN}`). Unset or empty: no admin API (empty also logs a
    warning at start, as it usually means a variable that was not set)."""
    metrics_token: Secret | None = check(_token, None)  # noqa: RUF009 (a field())
    """Bearer token that opens `/metrics` alone (for a Prometheus scraper), when
    `status.public` is false and `/metrics` therefore needs a token; the admin token works
    there too. At least 32 characters. Unset or empty: only the admin token opens it."""
