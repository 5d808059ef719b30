"""Creating, listing, rotating and revoking the keys kept in the store: the one
implementation behind `/admin/keys` (server/admin_keys.py) and `failsoft keys` (keys_cli.py).

A new or rotated secret is returned once, to be shown once; the store keeps its SHA-256
digest only. Input is validated like the config (the same checks as `auth.keys[]`) and
bounded: the name, the grants, the metadata, the number of keys.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from failsoft.auth.stored import digest, new_id, new_secret
from failsoft.config import Config
from failsoft.config.auth import AuthKey, KeyLimits, _instant, _models
from failsoft.config.loader import Document
from failsoft.config.validate import build, check
from failsoft.store import QueuedStore, Store
from failsoft.store.keys import MAX_KEYS, KeyConflict, StoredKey

__all__ = ["MAX_KEYS", "KeyAdmin", "KeyConflict", "KeyInputError", "KeyNotFound", "KeySpec"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@:+-]{0,63}")
MAX_MODELS = 100
MAX_METADATA = 32
MAX_METADATA_BYTES = 4096
MAX_GRACE = 7 * 86400.0


class KeyInputError(ValueError):
    """The request is wrong (400): the message says what to change."""


class KeyNotFound(LookupError):
    """No key with this id or live name (404)."""


def _name(value: str) -> str | None:
    if _NAME.fullmatch(value):
        return None
    return (
        "must be 1 to 64 characters: letters, digits and . _ @ : + - "
        "(starting with a letter or digit)"
    )


def _grants(value: tuple[str, ...]) -> str | None:
    if len(value) > MAX_MODELS or any(len(m) > 200 or not m for m in value):
        return f"at most {MAX_MODELS} models or patterns, each 1 to 200 characters"
    return _models(value)


def _metadata(value: dict[str, str]) -> str | None:
    if len(value) > MAX_METADATA or len(orjson.dumps(value)) > MAX_METADATA_BYTES:
        return f"at most {MAX_METADATA} labels and {MAX_METADATA_BYTES} bytes"
    return None


@dataclass(frozen=True, slots=True)
class KeySpec:
    """What a new key may be given (the fields of `auth.keys[]`, less the secret)."""

    name: str = check(_name)
    expires: str | None = check(_instant, None)
    models: tuple[str, ...] | None = check(_grants, None)
    limits: KeyLimits | None = None
    metadata: dict[str, str] = check(_metadata, default_factory=dict)  # noqa: RUF009 (a field())

    @property
    def expires_at(self) -> float | None:
        return None if self.expires is None else datetime.fromisoformat(self.expires).timestamp()


def parse_spec(body: dict[str, Any]) -> KeySpec:
    """A `KeySpec` from JSON, or `KeyInputError` naming every problem."""
    doc = Document("request")
    spec = build(KeySpec, body, (), doc)
    if doc.problems or spec is None:
        raise KeyInputError("; ".join(doc.sorted_problems()) or "invalid key")
    return spec


def iso(at: float | None) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, UTC).isoformat()


def _status(expires_at: float | None, revoked_at: float | None, now: float) -> str:
    if revoked_at is not None:
        return "revoked"
    if expires_at is not None and now >= expires_at:
        return "expired"
    return "active"


def stored_json(key: StoredKey, now: float) -> dict[str, Any]:
    """A stored key for people: no secret, no digest."""
    grace = key.previous_until if key.previous is not None else None
    return {
        "id": key.id,
        "name": key.name,
        "source": "store",
        "status": _status(key.expires_at, key.revoked_at, now),
        "created": iso(key.created_at),
        "expires": iso(key.expires_at),
        "rotated": iso(key.rotated_at),
        "revoked": iso(key.revoked_at),
        "previous_valid_until": iso(grace) if grace is not None and grace > now else None,
        "models": None if key.models is None else list(key.models),
        "limits": key.limits or None,
        "metadata": key.metadata,
    }


def config_json(key: AuthKey, now: float) -> dict[str, Any]:
    """A key declared in the config (read-only here: change it in the file)."""
    limits = None if key.limits is None else _limits_dict(key.limits)
    return {
        "id": None,
        "name": key.name,
        "source": "config",
        "status": _status(key.expires_at, None, now),
        "created": None,
        "expires": iso(key.expires_at),
        "rotated": None,
        "revoked": None,
        "previous_valid_until": None,
        "models": None if key.models is None else list(key.models),
        "limits": limits,
        "metadata": dict(key.metadata),
    }


def _limits_dict(limits: KeyLimits) -> dict[str, Any]:
    """The limits that are set (the budget's period only with a budget)."""
    out = {k: v for k, v in dataclasses.asdict(limits).items() if v is not None}
    if limits.budget is None:
        out.pop("budget_period", None)
    return out


class KeyAdmin:
    """The key lifecycle against one store (a gateway's queued store, or the CLI's)."""

    def __init__(
        self,
        store: QueuedStore | Store,
        config: Config,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.config = config
        self.now = now

    def _config_names(self) -> set[str]:
        auth = self.config.auth
        return set() if auth is None else {k.name for k in auth.keys}

    async def create(self, spec: KeySpec) -> tuple[dict[str, Any], str]:
        """A new key: (its description, the secret, to be shown once)."""
        if self.config.auth is None:
            raise KeyInputError(
                "this config has no `auth` section, so the gateway asks callers for no key: "
                "add `auth: {}` to it first"
            )
        if spec.name in self._config_names():
            raise KeyConflict(f"the config already declares a key named {spec.name!r}")
        now = self.now()
        if spec.expires_at is not None and spec.expires_at <= now:
            raise KeyInputError("expires: already in the past")
        secret = new_secret()
        key = StoredKey(
            id=new_id(),
            name=spec.name,
            digest=digest(secret.encode()).hex(),
            created_at=now,
            expires_at=spec.expires_at,
            models=spec.models,
            limits={} if spec.limits is None else _limits_dict(spec.limits),
            metadata=dict(spec.metadata),
        )
        await self.store.add_key(key)
        return stored_json(key, now), secret

    async def listing(self) -> list[dict[str, Any]]:
        """The config's keys, then the store's (revoked ones too)."""
        now = self.now()
        auth = self.config.auth
        declared = [] if auth is None else [config_json(k, now) for k in auth.keys]
        return declared + [stored_json(k, now) for k in await self.store.stored_keys()]

    async def get(self, ident: str) -> dict[str, Any]:
        key = await self.store.stored_key(ident)
        if key is not None:
            return stored_json(key, self.now())
        auth = self.config.auth
        for declared in auth.keys if auth is not None else ():
            if declared.name == ident:
                return config_json(declared, self.now())
        raise KeyNotFound(f"no key {ident!r}")

    async def _live(self, ident: str) -> StoredKey:
        key = await self.store.stored_key(ident)
        if key is None:
            if ident in self._config_names():
                raise KeyConflict(
                    f"the key {ident!r} is declared in the config: rotate or remove it there"
                )
            raise KeyNotFound(f"no key {ident!r}")
        if key.revoked_at is not None:
            raise KeyConflict(f"the key {ident!r} is revoked")
        return key

    async def rotate(self, ident: str, grace: float = 0.0) -> tuple[dict[str, Any], str]:
        """A new secret for the same key (name, grants, limits kept); the old one is refused
        at once, or after `grace` seconds."""
        if not 0 <= grace <= MAX_GRACE:
            raise KeyInputError(f"grace: seconds from 0 to {MAX_GRACE:g}")
        key = await self._live(ident)
        now = self.now()
        secret = new_secret()
        new = digest(secret.encode()).hex()
        previous, until = (key.digest, now + grace) if grace > 0 else (None, None)
        if not await self.store.rotate_key(key.id, new, now, previous, until):
            raise KeyNotFound(f"no key {ident!r}")  # revoked meanwhile
        rotated = dataclasses.replace(
            key, digest=new, rotated_at=now, previous=previous, previous_until=until
        )
        return stored_json(rotated, now), secret

    async def revoke(self, ident: str) -> dict[str, Any]:
        key = await self._live(ident)
        now = self.now()
        if not await self.store.revoke_key(key.id, now):
            raise KeyNotFound(f"no key {ident!r}")
        return stored_json(dataclasses.replace(key, revoked_at=now), now)
