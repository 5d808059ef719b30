"""What one failed attempt means for the rest of the request.

One source of truth for "move on or stop":

* FAILOVER: the target failed (connection trouble, timeouts, 408/409/429/5xx/529, broken
  streams). The next target may answer; the retry policy decides whether the same target
  deserves a second try first. Counts against the target's breaker.
* QUOTA: the provider refuses for billing reasons (OpenAI `insufficient_quota`, an
  Anthropic spend cap, 402). No wait fixes it: the breaker opens for a long time and the
  next target answers.
* CREDENTIALS: the provider rejected failsoft's own key (401; Gemini's 400/403 with
  `API_KEY_INVALID`). failsoft never forwards a caller's key, so this is the operator's
  fault, never the caller's: relaying it would make the caller's SDK blame the caller's
  key. The next target answers and the breaker opens for long, as for QUOTA: no wait
  fixes a revoked key, only a person does.
* NEXT_TARGET: the request is too long for this model's context window; a later target
  may have a larger one. The target itself is fine.
* CLIENT_FAULT: the caller's own fault (400/404/413/422, content policy). Every target
  would refuse it, so trying them only multiplies load: stop and relay. A 403 is not one:
  it refuses failsoft's account (a region, a model or feature not enabled for it), so it
  is an ordinary failure of that target (FAILOVER).
  Except a 400/422 from a target that got a translation: the refusal may be of what
  failsoft wrote, not of what the caller sent, so the next target (which may speak the
  caller's dialect) gets its chance; with none left, the refusal is relayed.
"""

from __future__ import annotations

import enum

from failsoft.dialects.base import ErrorInfo, Wire
from failsoft.errors import UpstreamError, UpstreamStatusError

RETRYABLE_STATUSES = frozenset({408, 409, 429})


class Verdict(enum.Enum):
    FAILOVER = "failover"
    QUOTA = "quota"
    CREDENTIALS = "credentials"
    NEXT_TARGET = "next_target"
    CLIENT_FAULT = "client_fault"

    @property
    def target_failed(self) -> bool:
        """Whether this outcome says the target is unwell (breakers count these)."""
        return self in _TARGET_FAILED

    @property
    def moves_on(self) -> bool:
        return self is not Verdict.CLIENT_FAULT


_TARGET_FAILED = frozenset({Verdict.FAILOVER, Verdict.QUOTA, Verdict.CREDENTIALS})


def classify(error: UpstreamError, wire: Wire, *, translated: bool = False) -> Verdict:
    if not isinstance(error, UpstreamStatusError):
        return Verdict.FAILOVER
    status = error.status
    info = ErrorInfo(error.error_type, error.error_code, error.error_message)
    if status == 401 or (status in (400, 403) and wire.is_credentials(info)):
        return Verdict.CREDENTIALS
    if status == 402 or (status == 429 and wire.is_quota(info)):
        return Verdict.QUOTA
    if status in RETRYABLE_STATUSES or status >= 500 or status == 403:
        return Verdict.FAILOVER
    if 400 <= status < 500:
        if status == 400 and wire.is_context_length(info):
            return Verdict.NEXT_TARGET
        if translated and status in (400, 422):
            return Verdict.NEXT_TARGET
        return Verdict.CLIENT_FAULT
    # 1xx/2xx-other/3xx: not an answer failsoft can relay; another target may do better.
    return Verdict.FAILOVER
