"""Standard Webhooks signatures, checked against the reference implementation both ways."""

from __future__ import annotations

import base64
import os
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from failsoft.notify.signing import SignatureError, Signer, secret_key, sign, verify

BODY = b'{"type":"incident.opened","timestamp":"2024-05-01T12:00:00.000Z","data":{"id":"x"}}'
MSG = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


def headers_for(secrets: str | list[str], timestamp: int, body: bytes = BODY) -> dict[str, str]:
    return Signer(secrets).headers(MSG, timestamp, body)


def test_matches_the_specs_test_vector() -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert (
        sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_reference_verifies_our_signature() -> None:
    secret = new_secret()
    headers = headers_for(secret, int(time.time()))
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert Webhook(secret).verify(BODY, headers)["data"] == {"id": "x"}


def test_we_verify_the_references_signature() -> None:
    secret = new_secret()
    now = int(time.time())
    signature = Webhook(secret).sign(MSG, datetime.fromtimestamp(now, UTC), BODY.decode())
    headers = {"Webhook-Id": MSG, "Webhook-Timestamp": str(now), "Webhook-Signature": signature}
    verify(secret, headers, BODY)  # any header case


def test_rotation_signs_with_every_secret() -> None:
    old, new = new_secret(), new_secret()
    headers = headers_for([old, new], int(time.time()))
    assert len(headers["webhook-signature"].split(" ")) == 2
    # A receiver still on the old secret and one already on the new both accept it.
    Webhook(old).verify(BODY, headers)
    Webhook(new).verify(BODY, headers)
    verify(old, headers, BODY)
    verify(new, headers, BODY)


def test_our_verify_accepts_any_of_several_secrets() -> None:
    old, new = new_secret(), new_secret()
    now = int(time.time())
    signature = Webhook(new).sign(MSG, datetime.fromtimestamp(now, UTC), BODY.decode())
    headers = {"webhook-id": MSG, "webhook-timestamp": str(now), "webhook-signature": signature}
    verify([old, new], headers, BODY)
    with pytest.raises(SignatureError):
        verify(old, headers, BODY)


def test_wrong_secret_and_tampering_are_rejected() -> None:
    secret, other = new_secret(), new_secret()
    headers = headers_for(secret, int(time.time()))
    with pytest.raises(SignatureError, match="no matching signature"):
        verify(other, headers, BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(BODY, headers)
    with pytest.raises(SignatureError):
        verify(secret, headers, BODY.replace(b"x", b"y"))
    with pytest.raises(SignatureError):
        verify(secret, {**headers, "webhook-id": "msg_other"}, BODY)


def test_stale_and_future_timestamps_are_rejected() -> None:
    secret = new_secret()
    now = time.time()
    old = headers_for(secret, int(now) - 301)
    with pytest.raises(SignatureError, match="too old"):
        verify(secret, old, BODY)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(BODY, old)
    with pytest.raises(SignatureError, match="future"):
        verify(secret, headers_for(secret, int(now) + 400), BODY)
    verify(secret, old, BODY, tolerance=600)
    verify(secret, old, BODY, now=now - 100)


def test_missing_or_malformed_headers() -> None:
    secret = new_secret()
    headers = headers_for(secret, int(time.time()))
    for name in headers:
        with pytest.raises(SignatureError, match="missing"):
            verify(secret, {k: v for k, v in headers.items() if k != name}, BODY)
    with pytest.raises(SignatureError, match="integer"):
        verify(secret, {**headers, "webhook-timestamp": "soon"}, BODY)
    garbage = {**headers, "webhook-signature": "v1,%%% nonsense v2"}
    with pytest.raises(SignatureError):
        verify(secret, garbage, BODY)


def test_other_signature_versions_are_skipped() -> None:
    secret = new_secret()
    headers = headers_for(secret, int(time.time()))
    headers["webhook-signature"] = "v1a,AAAA " + headers["webhook-signature"]
    verify(secret, headers, BODY)


def test_plain_secrets_are_their_utf8_bytes() -> None:
    secret = "correct horse battery staple"
    assert secret_key(secret) == secret.encode()
    headers = headers_for(secret, int(time.time()))
    # The reference library base64-decodes strings: receivers pass a plain secret as bytes.
    Webhook(secret.encode()).verify(BODY, headers)
    verify(secret, headers, BODY)


def test_secret_forms() -> None:
    raw = os.urandom(32)
    encoded = base64.b64encode(raw).decode()
    assert secret_key("whsec_" + encoded) == raw
    assert secret_key("whsec_" + encoded.rstrip("=")) == raw  # unpadded
    assert secret_key(raw) == raw
    with pytest.raises(ValueError, match="base64"):
        secret_key("whsec_not base64!")
    with pytest.raises(ValueError, match="empty"):
        secret_key("")
    with pytest.raises(ValueError, match="at least one"):
        Signer([])


def test_repr_shows_no_secret() -> None:
    secret = new_secret()
    assert secret not in repr(Signer(secret))
    assert repr(Signer([secret, new_secret()])) == "Signer(2 secret(s))"
