"""Which failures fail over, which stop, which skip to the next target."""

from __future__ import annotations

import pytest

from failsoft.dialects import anthropic, openai
from failsoft.errors import (
    ConnectError,
    ConnectionLost,
    FirstTokenTimeout,
    MalformedEvent,
    UpstreamStatusError,
    UpstreamStreamError,
)
from failsoft.policy.classify import Verdict, classify


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_transient_statuses_fail_over(status: int) -> None:
    assert classify(UpstreamStatusError(status, b""), openai) is Verdict.FAILOVER


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_client_faults_stop(status: int) -> None:
    assert classify(UpstreamStatusError(status, b""), anthropic) is Verdict.CLIENT_FAULT


@pytest.mark.parametrize(("status", "verdict"), [
    (400, Verdict.NEXT_TARGET), (422, Verdict.NEXT_TARGET), (401, Verdict.CLIENT_FAULT),
    (403, Verdict.CLIENT_FAULT), (404, Verdict.CLIENT_FAULT), (413, Verdict.CLIENT_FAULT),
])  # fmt: skip
def test_a_translated_targets_bad_request_moves_on(status: int, verdict: Verdict) -> None:
    """It may refuse failsoft's translation rather than the caller's request."""
    err = UpstreamStatusError(status, b"")
    assert classify(err, anthropic, translated=True) is verdict
    assert not verdict.target_failed


def test_context_length_moves_on() -> None:
    err = UpstreamStatusError(400, b"", error_code="context_length_exceeded")
    assert classify(err, openai) is Verdict.NEXT_TARGET
    err = UpstreamStatusError(
        400,
        b"",
        error_type="invalid_request_error",
        error_message="prompt is too long: 9 tokens > 8 maximum",
    )
    assert classify(err, anthropic) is Verdict.NEXT_TARGET


@pytest.mark.parametrize(
    "error",
    [
        ConnectError("x"),
        ConnectionLost("x"),
        FirstTokenTimeout("x"),
        MalformedEvent("x"),
        UpstreamStreamError("overloaded_error", "x", b""),
        UpstreamStatusError(302, b""),
    ],
)
def test_everything_else_fails_over(error: Exception) -> None:
    assert classify(error, openai) is Verdict.FAILOVER  # type: ignore[arg-type]


def test_quota_exhaustion_is_its_own_verdict() -> None:
    openai_quota = UpstreamStatusError(
        429, b"", error_type="insufficient_quota", error_code="insufficient_quota"
    )
    assert classify(openai_quota, openai) is Verdict.QUOTA
    spend = UpstreamStatusError(
        429, b"", error_type="rate_limit_error", error_code="enforced_spend_limit_reached"
    )
    assert classify(spend, anthropic) is Verdict.QUOTA
    assert classify(UpstreamStatusError(402, b""), anthropic) is Verdict.QUOTA
    plain_429 = UpstreamStatusError(429, b"", error_type="rate_limit_error")
    assert classify(plain_429, anthropic) is Verdict.FAILOVER
    assert Verdict.QUOTA.target_failed and Verdict.FAILOVER.target_failed
    assert not Verdict.NEXT_TARGET.target_failed and not Verdict.CLIENT_FAULT.target_failed
