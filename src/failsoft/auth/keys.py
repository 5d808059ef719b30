"""The key ring: caller keys as digests, looked up by the digest of what a caller sends.

Two kinds of keys, one ring. The config's keys (`auth.keys`) are kept as HMAC-SHA256
digests under a per-process random secret, never the keys: a memory dump or a stray repr
shows nothing usable, and the digests are worthless to another process (a config key may be
chosen by a person, so it is not assumed random). Keys made by failsoft and kept in the
store (`failsoft keys`, `/admin/keys`; auth/stored.py) are random by construction and kept
as plain SHA-256 digests, the same in every process, refreshed in the background.

Fast hashes rather than a slow password hash because keys are long and should be random
(≥ 128 bits): there is little to brute-force, and a slow hash would cost every request. A
dict lookup of a digest needs no constant-time compare: the stored digest never meets the
raw key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from failsoft.config.auth import KeyLimits

if TYPE_CHECKING:
    from failsoft.auth.stored import StoredKeys
    from failsoft.config import Config
    from failsoft.config.auth import AuthConfig


@dataclass(frozen=True, slots=True)
class Caller:
    """A key's holder as the gateway sees it after the key matched: no secret in here."""

    name: str
    expires_at: float | None = None
    models: tuple[str, ...] | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    limits: KeyLimits = field(default_factory=KeyLimits)
    """What the key may consume (its own limits, else `auth.limits`)."""

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def allows(self, model: str, config: Config) -> bool:
        """Whether this key may ask for `model`: any virtual model when the key names none;
        else the name or its virtual model must match a grant. A provider's model named
        directly (`openai/gpt-4o`) only when a grant matches that name itself."""
        grants = self.models
        if grants is not None and any(fnmatchcase(model, g) for g in grants):
            return True
        if _direct(model, config):
            return False
        if grants is None:
            return True
        plan = config.resolve(model)
        return plan is not None and any(fnmatchcase(plan.name, g) for g in grants)


def _direct(model: str, config: Config) -> bool:
    if model in config.models or model in config.names.aliases:
        return False
    provider, sep, rest = model.partition("/")
    return bool(sep and rest) and provider in config.providers


class KeyRing:
    """Digest → Caller for the configured keys, then the store's (`stored`)."""

    __slots__ = ("_by_digest", "_secret", "stored")

    def __init__(
        self, auth: AuthConfig, secret: bytes | None = None, stored: StoredKeys | None = None
    ) -> None:
        self.stored = stored
        """The store's keys, as last loaded (None: the config's only)."""
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self._by_digest: dict[bytes, Caller] = {}
        for k in auth.keys:
            limits = k.limits if k.limits is not None else auth.limits
            caller = Caller(k.name, k.expires_at, k.models, dict(k.metadata), limits)
            self._by_digest[self.digest(k.key.reveal().encode())] = caller

    def digest(self, raw: bytes) -> bytes:
        return hmac.new(self._secret, raw, hashlib.sha256).digest()

    def find(self, raw: bytes) -> Caller | None:
        if not raw:
            return None
        found = self._by_digest.get(self.digest(raw)) if self._by_digest else None
        if found is None and self.stored is not None:
            return self.stored.find(raw)
        return found

    def __len__(self) -> int:
        return len(self._by_digest) + (0 if self.stored is None else len(self.stored))
