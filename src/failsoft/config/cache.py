"""The `cache` section (top level, overridable per virtual model) and `degrade`.

Caching is off unless a `cache:` section is present (top level or in a model): answers are
cached only where someone asked for it. With the section, `enabled` defaults to true.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from failsoft.config.validate import check, non_negative, positive


def _similarity(value: float) -> str | None:
    return None if 0.0 < value <= 1.0 else f"must be in (0, 1], got {value}"


@dataclass(frozen=True, slots=True)
class SemanticCache:
    enabled: bool = False
    threshold: float = check(_similarity, 0.92)
    """Cosine similarity of the last user turns above which a stored answer is reused."""
    fresh: bool = True
    """Serve semantic hits as fresh answers; false: only as a last resort when every target
    failed (stale-if-error)."""
    max_entries: int = check(positive, 50_000)
    """Questions remembered in all (one index per process, shared by the models that use it:
    the largest setting wins); the oldest go first."""


@dataclass(frozen=True, slots=True)
class CacheConfig:
    enabled: bool = False
    backend: Literal["memory", "sqlite", "redis"] = "memory"
    url: str | None = None
    """`sqlite:///path/cache.db` or `redis://host:6379/0` for those backends."""
    ttl: float = check(positive, 600.0)
    """Seconds an answer is served as fresh (`x-failsoft-cache: HIT`)."""
    stale_if_error: float = check(non_negative, 0.0)
    """Seconds past `ttl` an answer is kept to be served (`STALE`) when every target fails."""
    max_bytes: int = check(positive, 64 * 1024 * 1024)
    """Byte budget of the memory backend (least recently used answers go first)."""
    timeout: float = check(positive, 0.05)
    """Seconds a Redis cache call (or connecting) may take before the lookup is a miss and
    Redis is left alone for a while: tens of milliseconds, so a frozen Redis costs little
    more than a miss (a local Redis answers in well under a millisecond)."""
    per_key: bool = True
    """Keep each caller API key's answers apart (one tenant never gets another's)."""
    semantic: SemanticCache = field(default_factory=SemanticCache)


@dataclass(frozen=True, slots=True)
class Degrade:
    """The last rungs of a model's ladder, after its targets (and the cache) failed."""

    lighter: tuple[str, ...] = ()
    """Cheaper or lighter targets (`provider/model`) tried after the plan's own targets."""
    static: str | None = None
    """A fixed answer (plain text) given as the assistant's reply when nothing else works,
    instead of an error. Off by default: a canned answer is not right for every app."""
