"""Which failures fail over, which stop, which skip to the next target."""

from __future__ import annotations

import pytest

from failsoft.dialects import Wire, anthropic, gemini, openai
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


@pytest.mark.parametrize("status", [400, 404, 413, 422])
def test_client_faults_stop(status: int) -> None:
    assert classify(UpstreamStatusError(status, b""), anthropic) is Verdict.CLIENT_FAULT


@pytest.mark.parametrize(("status", "verdict"), [
    (400, Verdict.NEXT_TARGET), (422, Verdict.NEXT_TARGET), (404, Verdict.CLIENT_FAULT),
    (413, Verdict.CLIENT_FAULT),
])  # fmt: skip
def test_a_translated_targets_bad_request_moves_on(status: int, verdict: Verdict) -> None:
    """It may refuse failsoft's translation rather than the caller's request."""
    err = UpstreamStatusError(status, b"")
    assert classify(err, anthropic, translated=True) is verdict
    assert not verdict.target_failed


OPENAI_KEY = UpstreamStatusError(
    401, b"", error_type="invalid_request_error", error_code="invalid_api_key"
)
ANTHROPIC_KEY = UpstreamStatusError(401, b"", error_type="authentication_error")
GEMINI_KEY = UpstreamStatusError(
    400, b"", error_type="INVALID_ARGUMENT", error_code="API_KEY_INVALID",
    error_message="API key not valid. Please pass a valid API key.",
)  # fmt: skip
GEMINI_OAUTH = UpstreamStatusError(401, b"", error_type="UNAUTHENTICATED")


@pytest.mark.parametrize(("error", "wire"), [
    (OPENAI_KEY, openai), (ANTHROPIC_KEY, anthropic), (GEMINI_KEY, gemini),
    (GEMINI_OAUTH, gemini), (UpstreamStatusError(401, b""), openai),
    (UpstreamStatusError(403, b"", error_code="API_KEY_INVALID"), gemini),
])  # fmt: skip
@pytest.mark.parametrize("translated", [False, True])
def test_a_refused_key_is_failsofts_not_the_callers(
    error: UpstreamStatusError, wire: Wire, translated: bool
) -> None:
    """failsoft sends its own key, never the caller's: a refusal is the operator's to fix.
    The next target answers; the target counts as failed (its breaker opens for long)."""
    verdict = classify(error, wire, translated=translated)
    assert verdict is Verdict.CREDENTIALS
    assert verdict.target_failed and verdict.moves_on


@pytest.mark.parametrize(("error", "wire"), [
    (UpstreamStatusError(403, b"", error_type="permission_error"), anthropic),
    (UpstreamStatusError(403, b"", error_message="Country, region, or territory not supported",
                         error_code="unsupported_country_region_territory"), openai),
    (UpstreamStatusError(403, b"", error_type="PERMISSION_DENIED",
                         error_code="SERVICE_DISABLED"), gemini),
])  # fmt: skip
@pytest.mark.parametrize("translated", [False, True])
def test_a_403_is_an_ordinary_failure_of_the_target(
    error: UpstreamStatusError, wire: Wire, translated: bool
) -> None:
    """A region, a model or feature not enabled for failsoft's account: another target may
    serve the caller; no credentials were refused."""
    assert classify(error, wire, translated=translated) is Verdict.FAILOVER


def test_a_gemini_400_without_the_key_reason_is_the_callers() -> None:
    plain = UpstreamStatusError(400, b"", error_type="INVALID_ARGUMENT", error_message="bad")
    assert classify(plain, gemini) is Verdict.CLIENT_FAULT


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
