"""Standard Webhooks signatures (https://www.standardwebhooks.com), both ways.

A receiver authenticates a delivery by recomputing
`v1,base64(HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}"))`; the timestamp is
signed too, so a captured request cannot be replayed later than the receiver's tolerance.

Secrets are written `whsec_<base64>` (the HMAC key is the decoded bytes, as every Standard
Webhooks library expects). A secret without that prefix is used as its own UTF-8 bytes, so an
operator can pick any passphrase; a receiver using a reference library must then pass it as
bytes (`Webhook(secret.encode())`), since those libraries would base64-decode a plain string.

During a rotation an endpoint has several secrets: each delivery carries one signature per
secret, space separated, so the receiver can switch secrets at its own pace.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence

PREFIX = "whsec_"
VERSION = "v1"
TOLERANCE = 300.0
"""Seconds a timestamp may differ from the receiver's clock (the spec's five minutes)."""

Secrets = str | bytes | Sequence[str | bytes]
"""One secret, or several during a rotation."""


class SignatureError(Exception):
    """A delivery failed verification: missing headers, stale timestamp or no valid signature."""


def secret_key(secret: str | bytes) -> bytes:
    """The HMAC key of a secret: `whsec_` + base64 decoded, plain text as UTF-8, bytes as is."""
    if isinstance(secret, bytes):
        key = secret
    elif secret.startswith(PREFIX):
        encoded = secret[len(PREFIX) :]
        try:
            # Unpadded base64 is common in the wild; extra padding is ignored by the decoder.
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("a whsec_ secret must be base64 after the prefix") from None
    else:
        key = secret.encode()
    if not key:
        raise ValueError("a webhook secret may not be empty")
    return key


def _keys(secrets: Secrets) -> tuple[bytes, ...]:
    if isinstance(secrets, str | bytes):
        return (secret_key(secrets),)
    keys = tuple(secret_key(s) for s in secrets)
    if not keys:
        raise ValueError("at least one webhook secret is needed")
    return keys


def _digest(key: bytes, msg_id: str, timestamp: int, body: bytes) -> bytes:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return hmac.new(key, signed, hashlib.sha256).digest()


class Signer:
    """Signs with one or more secrets; keys are decoded once and never shown by `repr`."""

    __slots__ = ("_keys",)

    def __init__(self, secrets: Secrets) -> None:
        self._keys = _keys(secrets)

    def __repr__(self) -> str:
        return f"Signer({len(self._keys)} secret(s))"

    def signature(self, msg_id: str, timestamp: int, body: bytes) -> str:
        """The `webhook-signature` value: one `v1,<base64>` per secret, space separated."""
        return " ".join(
            f"{VERSION},{base64.b64encode(_digest(key, msg_id, timestamp, body)).decode()}"
            for key in self._keys
        )

    def headers(self, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
        """The three Standard Webhooks headers for one delivery attempt."""
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": self.signature(msg_id, timestamp, body),
        }

    def verify(
        self,
        headers: Mapping[str, str],
        body: bytes,
        *,
        now: float | None = None,
        tolerance: float = TOLERANCE,
    ) -> None:
        """Raise `SignatureError` unless a signature matches one of our secrets in time."""
        lowered = {k.lower(): v for k, v in headers.items()}
        msg_id = lowered.get("webhook-id")
        stamp = lowered.get("webhook-timestamp")
        signatures = lowered.get("webhook-signature")
        if not (msg_id and stamp and signatures):
            raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
        try:
            timestamp = int(stamp)
        except ValueError:
            raise SignatureError("webhook-timestamp is not an integer") from None
        now = time.time() if now is None else now
        if timestamp < now - tolerance:
            raise SignatureError("webhook-timestamp is too old")
        if timestamp > now + tolerance:
            raise SignatureError("webhook-timestamp is in the future")
        expected = [_digest(key, msg_id, timestamp, body) for key in self._keys]
        for item in signatures.split():
            version, _, encoded = item.partition(",")
            if version != VERSION:
                continue  # other schemes (e.g. v1a, asymmetric) are not ours to judge
            try:
                given = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                continue
            # Compare against every key, not stopping early, to leak nothing through timing.
            if any([hmac.compare_digest(given, digest) for digest in expected]):
                return
        raise SignatureError("no matching signature")


def sign(secrets: Secrets, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value for one delivery (see `Signer.signature`)."""
    return Signer(secrets).signature(msg_id, timestamp, body)


def verify(
    secrets: Secrets,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: float = TOLERANCE,
) -> None:
    """For receivers: raise `SignatureError` unless the delivery is authentic and fresh.

    `body` must be the raw bytes received, before any JSON parsing; `headers` may use any
    case. Any one signature matching any one of `secrets` passes, which is what makes a
    rotation painless on both sides.
    """
    Signer(secrets).verify(headers, body, now=now, tolerance=tolerance)
