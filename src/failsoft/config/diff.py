"""What a reloaded config changes, and which of its changes need a restart.

A reload applies most of the file in place (providers, models, policies, health,
webhooks, log, ...). A few keys are bound into what a process set up once at start (the
listening socket, the store's connection): a change to one of those is reported and the
old value kept, and everything else still applies.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from failsoft.config.schema import Config

RESTART_ONLY = ("server", "store", "state", "tracing", "transport")
"""Sections a reload cannot change in place: `server.*` (the socket, the body limit wired
into each endpoint), `store.*` (the open history store and its queue), `state.*` (the
shared state's connection, when that section exists), `tracing.*` (the tracer provider
and its exporter thread), `transport.*` (the client whose connections are open).
Worker count is a command-line flag, so a reload never sees it."""

RESTART_ONLY_KEYS = (("log", "format"),)
"""Single keys of sections that otherwise reload: `log.format` (the formatter installed
on every handler at start-up)."""

_IGNORED = frozenset({"source", "names"})
"""Config fields that are not settings (where it was read from, derived lookups)."""


def restart_only(old: Config, new: Config) -> list[str]:
    """The dotted keys of `RESTART_ONLY` sections whose value differs, in field order
    (`server.port`, `store.url`); a whole section when it is not a dataclass."""
    found: list[str] = []
    for section in RESTART_ONLY:
        if not hasattr(old, section) or not hasattr(new, section):
            continue
        before, after = getattr(old, section), getattr(new, section)
        if before == after:
            continue
        if dataclasses.is_dataclass(before) and type(before) is type(after):
            found += [
                f"{section}.{f.name}"
                for f in dataclasses.fields(before)
                if getattr(before, f.name) != getattr(after, f.name)
            ]
        else:
            found.append(section)
    for section, key in RESTART_ONLY_KEYS:
        before, after = getattr(old, section), getattr(new, section)
        if getattr(before, key) != getattr(after, key):
            found.append(f"{section}.{key}")
    return found


def keep_restart_only(old: Config, new: Config) -> Config:
    """`new` with the `RESTART_ONLY` sections of `old` (what this process still runs on)."""
    kept = {s: getattr(old, s) for s in RESTART_ONLY if hasattr(old, s) and hasattr(new, s)}
    for section, key in RESTART_ONLY_KEYS:
        value = getattr(old, section)
        kept[section] = dataclasses.replace(getattr(new, section), **{key: getattr(value, key)})
    return dataclasses.replace(new, **kept)


def changes(old: Config, new: Config) -> list[str]:
    """What differs, for people: `models: added fast, changed smart`, `breaker`,
    `webhooks`... (restart-only sections included; the caller says which were kept)."""
    out: list[str] = []
    for f in dataclasses.fields(Config):
        if f.name in _IGNORED:
            continue
        before, after = getattr(old, f.name), getattr(new, f.name)
        if before == after:
            continue
        if isinstance(before, dict) and isinstance(after, dict):
            out.append(f"{f.name}: {_named(before, after)}")
        else:
            out.append(f.name)
    return out


def _named(before: dict[str, Any], after: dict[str, Any]) -> str:
    parts = []
    added = [k for k in after if k not in before]
    removed = [k for k in before if k not in after]
    changed = [k for k in after if k in before and before[k] != after[k]]
    for verb, names in (("added", added), ("removed", removed), ("changed", changed)):
        if names:
            parts.append(f"{verb} {', '.join(names)}")
    return "; ".join(parts)
