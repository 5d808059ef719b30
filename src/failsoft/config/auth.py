"""The `auth` section: the keys callers must present (docs/security.md).

Absent: failsoft serves anyone who reaches its port, as it always has. Present: every
proxy route asks for one of these keys, and each key may use only the models it grants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from failsoft.config.validate import Secret, check, positive

MIN_KEY_LENGTH = 32


def _long_enough(value: Secret) -> str | None:
    n = len(value.reveal())
    if n >= MIN_KEY_LENGTH:
        return None
    hint = "generate one with `openssl rand -hex 32`"
    return f"must be at least {MIN_KEY_LENGTH} characters (got {n}); {hint}"


def _instant(value: str) -> str | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return f"expected an ISO 8601 date-time such as 2027-01-31T00:00:00Z, got {value!r}"
    if parsed.tzinfo is None:
        return f"needs a time zone (e.g. {value}Z or {value}+00:00), got {value!r}"
    return None


def _models(value: tuple[str, ...]) -> str | None:
    return (
        "must name at least one model or pattern (omit it for all virtual models)"
        if not value
        else None
    )


@dataclass(frozen=True, slots=True)
class KeyLimits:
    """What one key may consume. Every field unset means no limit of that kind."""

    rpm: int | None = check(positive, None)
    """Requests per minute (a sliding minute, at one-second resolution); a refused request
    does not count. Over it: 429 with `Retry-After`."""
    tpm: int | None = check(positive, None)
    """Tokens (input + output) per minute, charged from each answer's usage after it ends
    (not reserved from `max_tokens`: one answer may overshoot; the key is then refused
    until the minute lets enough of it go)."""
    concurrency: int | None = check(positive, None)
    """Requests in flight at once, streams included until their last event; a caller that
    disconnects gives its slot back. With `state.url` every limit is counted once for the
    whole fleet (Redis); without it each of N workers enforces 1/N of it."""
    budget: float | None = check(positive, None)
    """Spend allowed per `budget_period`, in US dollars (priced from usage)."""
    budget_period: Literal["day", "month"] = "day"
    """The budget's period, in UTC."""


@dataclass(frozen=True, slots=True)
class AuthKey:
    name: str
    """Who holds the key: shown in the access log and used as the answer cache's namespace,
    so a key replaced under the same name keeps its cache."""
    key: Secret = check(_long_enough, repr=False)  # noqa: RUF009 (a field(), not a value)
    """The secret the caller sends. At least 32 characters; make it random with at least
    128 bits of entropy (`openssl rand -hex 32`), and give it from the environment
    (`key: ${TEAM_A_KEY}`) rather than inline. failsoft keeps only its digest in memory."""
    expires: str | None = check(_instant, None)
    """ISO 8601 date-time with a time zone after which the key is refused (401)."""
    models: tuple[str, ...] | None = check(_models, None)
    """Virtual model names, aliases or glob patterns the key may use. Default: every
    virtual model. Naming a provider's model directly (`openai/gpt-4o`) is refused unless
    a pattern here grants it explicitly (`openai/*`)."""
    metadata: dict[str, str] = field(default_factory=dict)
    """Free-form labels (team, owner) kept with the key; never sent upstream."""
    limits: KeyLimits | None = None
    """This key's limits; unset: `auth.limits` (the default for every key)."""

    @property
    def expires_at(self) -> float | None:
        """`expires` as a Unix time (validated at load)."""
        return None if self.expires is None else datetime.fromisoformat(self.expires).timestamp()


@dataclass(frozen=True, slots=True)
class AuthConfig:
    keys: tuple[AuthKey, ...] = ()
    """The keys callers may present. With the section present and no key, every proxy
    request is refused (401)."""
    limits: KeyLimits = field(default_factory=KeyLimits)
    """The limits of every key that sets none of its own (default: none)."""
    refresh: float = check(positive, 0.5)
    """Seconds between checks of the store for keys created, rotated or revoked with
    `failsoft keys` or `/admin/keys` (one small query; the keys are read only when they
    changed). With `state.url` set a change is also announced through Redis and applies at
    once. A store that is away keeps the keys last loaded working."""

    def problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Duplicate names or keys: (path under `auth`, message)."""
        out: list[tuple[tuple[str | int, ...], str]] = []
        names: dict[str, int] = {}
        secrets: dict[str, int] = {}
        for i, k in enumerate(self.keys):
            if k.name in names:
                out.append(
                    (
                        ("keys", i, "name"),
                        f"duplicate key name {k.name!r} (also keys[{names[k.name]}])",
                    )
                )
            names.setdefault(k.name, i)
            raw = k.key.reveal()
            if raw in secrets:
                out.append(
                    (
                        ("keys", i, "key"),
                        f"the same key as keys[{secrets[raw]}]: each caller needs its own",
                    )
                )
            secrets.setdefault(raw, i)
        return out
