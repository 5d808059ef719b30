"""What one failed attempt means for the rest of the request.

One source of truth for "fail over or stop": transient failures (connection trouble,
timeouts, 408/409/429/5xx/529, broken streams) move on to the next target; the caller's
own faults (400/401/403/404/413/422, content policy) stop at once, because every target
would refuse the same request and trying them only multiplies load. A context-length
400 is the exception: a later target may have a larger window.
"""

from __future__ import annotations

import enum

from failsoft.dialects.base import ErrorInfo, Wire
from failsoft.errors import UpstreamError, UpstreamStatusError

RETRYABLE_STATUSES = frozenset({408, 409, 429})


class Verdict(enum.Enum):
    FAILOVER = "failover"
    """Try the next target; a later retry of the same target may also succeed."""
    NEXT_TARGET = "next_target"
    """Try the next target, but this one will refuse the request every time (context length)."""
    CLIENT_FAULT = "client_fault"
    """Stop and relay the refusal: no target will accept this request."""


def classify(error: UpstreamError, wire: Wire) -> Verdict:
    if not isinstance(error, UpstreamStatusError):
        return Verdict.FAILOVER
    status = error.status
    if status in RETRYABLE_STATUSES or status >= 500:
        return Verdict.FAILOVER
    if 400 <= status < 500:
        info = ErrorInfo(error.error_type, error.error_code, error.error_message)
        if status == 400 and wire.is_context_length(info):
            return Verdict.NEXT_TARGET
        return Verdict.CLIENT_FAULT
    # 1xx/2xx-other/3xx: not an answer failsoft can relay; another target may do better.
    return Verdict.FAILOVER
