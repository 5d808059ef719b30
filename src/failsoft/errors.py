"""failsoft's error tree.

Every failure has one class here, so the router decides what to do by type, not by
parsing strings, and the server renders each in the caller's dialect::

    FailsoftError
    ├── ConfigError                 the config file is invalid (all problems listed at once)
    ├── RequestError                the caller's request cannot be served as sent (4xx)
    │   ├── InvalidRequest              400: malformed JSON, missing/ill-typed fields
    │   ├── UnknownModel                404: neither a virtual model nor provider/model
    │   ├── PayloadTooLarge             413: body above server.max_body_bytes
    │   ├── UnsupportedMediaType        415: not JSON
    │   └── Untranslatable              400: no target's dialect can carry the request
    ├── UpstreamError               one attempt against one target failed
    │   ├── UpstreamStatusError         the upstream answered with an HTTP error status
    │   ├── UpstreamStreamError         the upstream sent an in-band error event
    │   ├── TransportError              no usable HTTP exchange
    │   │   ├── ConnectError                could not connect (refused, DNS, TLS)
    │   │   └── ConnectionLost              reset or closed while we waited or read
    │   ├── UpstreamTimeout (TimeoutError)
    │   │   ├── ConnectTimeout              deadlines.connect
    │   │   ├── FirstByteTimeout            deadlines.first_byte
    │   │   ├── FirstTokenTimeout           deadlines.first_token
    │   │   ├── IdleTimeout                 deadlines.idle
    │   │   └── DeadlineExceeded            deadlines.total (the whole request's budget)
    │   └── ProtocolError               the upstream broke the wire format
    │       ├── MalformedEvent              an SSE event whose data is not valid JSON
    │       ├── TruncatedStream             the stream ended without its terminal event
    │       ├── BadResponse                 wrong content type or unreadable body
    │       └── AnswerTooLarge              an answer (or one event) above server.max_answer_bytes
    ├── AllTargetsFailed            every target of the plan failed (503 / 529 to the caller)
    ├── Overloaded                  failsoft's own in-flight limit (503 / 529, at once)
    ├── PoolBusy                    no free upstream connection slot in time: the target is
    │                               skipped as `busy`, never counted as its failure
    ├── UpstreamClientFault         a target refused the request as the caller's fault (4xx relayed)
    └── StreamInterrupted           a committed stream broke (library mode; the server sends an
                                    in-band error event instead)

Each `UpstreamError` carries `outcome`, the short token used in `x-failsoft-trail`
(`529`, `reset`, `first_token_timeout`, ...). Messages never contain API keys: they are
built from status codes, error types and upstream messages only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from failsoft.types import AttemptRecord


class FailsoftError(Exception):
    """Base class of every error failsoft raises on purpose."""


# --------------------------------------------------------------------------- config


class ConfigError(FailsoftError):
    """The configuration is invalid; `problems` lists every problem found, not just the first."""

    def __init__(self, problems: Sequence[str], source: str = "<config>") -> None:
        self.problems = list(problems)
        self.source = source
        lines = "\n".join(f"  - {p}" for p in self.problems)
        noun = "problem" if len(self.problems) == 1 else "problems"
        super().__init__(f"{source}: {len(self.problems)} {noun}:\n{lines}")


# --------------------------------------------------------------------------- caller faults


class RequestError(FailsoftError):
    """The caller's request cannot be served as sent; rendered as a 4xx in the caller's dialect."""

    status = 400
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class InvalidRequest(RequestError):
    pass


class UnknownModel(RequestError):
    status = 404
    anthropic_type = "not_found_error"
    code = "model_not_found"


class Unauthenticated(RequestError):
    """`auth` is on and the request carries no key, an unknown one or an expired one."""

    status = 401
    anthropic_type = "authentication_error"
    code = "invalid_api_key"


class BudgetExceeded(RequestError):
    """The caller's key spent its budget for the period (usage/budget.py): 429, with
    `x-should-retry: false` and a `Retry-After` of the time until the period resets."""

    status = 429
    openai_type = "insufficient_quota"
    anthropic_type = "rate_limit_error"
    code = "budget_exceeded"


class ForbiddenModel(RequestError):
    """The caller's key does not grant the model it asked for."""

    status = 403
    openai_type = "permission_denied"
    anthropic_type = "permission_error"
    code = "model_not_permitted"


class PayloadTooLarge(RequestError):
    status = 413
    anthropic_type = "request_too_large"
    code = "request_too_large"


class UnsupportedMediaType(RequestError):
    status = 415
    code = "unsupported_media_type"


class Untranslatable(RequestError):
    """The request uses something another dialect cannot express without changing its
    meaning (e.g. `n: 2` for Anthropic). Per target it is a skip; when no target is left,
    the caller gets this 400."""

    code = "untranslatable_request"


# --------------------------------------------------------------------------- one attempt


class UpstreamError(FailsoftError):
    """One attempt against one target failed."""

    outcome = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def detail(self) -> str:
        """The message without what the trail token already says (for attempt listings)."""
        return self.message


class UpstreamStatusError(UpstreamError):
    """The upstream answered with an HTTP error status; the body is kept to relay or classify."""

    def __init__(
        self,
        status: int,
        body: bytes,
        *,
        error_type: str | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
        retry_after: float | None = None,
        headers: dict[str, str] | None = None,
        dialect: str = "",
    ) -> None:
        detail = error_type or "error"
        if error_message:
            detail = f"{detail}: {_excerpt(error_message)}"
        super().__init__(f"HTTP {status} {detail}")
        self._detail = detail
        self.status = status
        self.body = body
        self.error_type = error_type
        self.error_code = error_code
        self.error_message = error_message
        self.retry_after = retry_after
        self.headers = headers or {}
        self.dialect = dialect
        """The dialect of the body (the target's), which may differ from the caller's."""
        self.outcome = str(status)

    @property
    def detail(self) -> str:
        return self._detail


class UpstreamStreamError(UpstreamError):
    """The upstream sent an in-band error event (`event: error` / `data: {"error": ...}`)."""

    outcome = "stream_error"

    def __init__(self, error_type: str | None, error_message: str | None, raw: bytes) -> None:
        detail = error_type or "error"
        if error_message:
            detail = f"{detail}: {_excerpt(error_message)}"
        super().__init__(f"in-band error event {detail}")
        self.error_type = error_type
        self.error_message = error_message
        self.raw = raw


class TransportError(UpstreamError):
    outcome = "transport"


class ConnectError(TransportError):
    outcome = "connect"


class ConnectionLost(TransportError):
    outcome = "reset"


class UpstreamTimeout(UpstreamError, TimeoutError):
    outcome = "timeout"


class ConnectTimeout(UpstreamTimeout):
    outcome = "connect_timeout"


class FirstByteTimeout(UpstreamTimeout):
    outcome = "first_byte_timeout"


class FirstTokenTimeout(UpstreamTimeout):
    outcome = "first_token_timeout"


class IdleTimeout(UpstreamTimeout):
    outcome = "idle_timeout"


class DeadlineExceeded(UpstreamTimeout):
    outcome = "deadline"


class ProtocolError(UpstreamError):
    outcome = "protocol"


class MalformedEvent(ProtocolError):
    outcome = "malformed"


class TruncatedStream(ProtocolError):
    outcome = "truncated"


class BadResponse(ProtocolError):
    outcome = "bad_response"


class AnswerTooLarge(ProtocolError):
    """The upstream's answer grew past `server.max_answer_bytes` (or one SSE event did):
    an endless answer must not grow the gateway's memory. Before the commit the router
    fails over (`too_large` in the trail); after it the caller's stream ends with the
    in-band error. A failure of the target (its breaker counts it): it is misbehaving."""

    outcome = "too_large"

    def __init__(self, limit: int, what: str = "the answer") -> None:
        super().__init__(f"{what} exceeded {limit} bytes (server.max_answer_bytes)")
        self.limit = limit


# --------------------------------------------------------------------------- whole request


class AllTargetsFailed(FailsoftError):
    """Every target of the plan failed; `attempts` keeps each one's record."""

    def __init__(
        self,
        virtual_model: str,
        attempts: Sequence[AttemptRecord],
        retry_after: float | None,
        should_retry: bool | None = None,
    ) -> None:
        self.virtual_model = virtual_model
        self.attempts = list(attempts)
        self.retry_after = retry_after
        self._should_retry = should_retry
        tried = "; ".join(a.describe() for a in self.attempts) or "no target was attempted"
        n = len({a.target for a in self.attempts})  # a retried target is still one target
        super().__init__(
            f"failsoft: all {n} target{'s' if n != 1 else ''} failed for model "
            f"{virtual_model!r}: {tried}"
        )

    @property
    def should_retry(self) -> bool:
        """True when a later retry by the caller can help (some failure was transient)."""
        if self._should_retry is not None:
            return self._should_retry
        return any(a.transient for a in self.attempts)


class Overloaded(FailsoftError):
    """failsoft itself is at its in-flight limit: refused at once, not queued (503 / 529)."""

    def __init__(self, limit: int, retry_after: float) -> None:
        super().__init__(
            f"failsoft: the gateway is at its limit of {limit} requests in flight; "
            f"retry in {retry_after:g}s"
        )
        self.retry_after = retry_after


class PoolBusy(FailsoftError):
    """Every connection of a provider's pool stayed in use for the whole short wait.

    Deliberately not an `UpstreamError`: nothing was sent, so nothing is known about the
    upstream, and no breaker, budget or health window may hear of it. The router skips the
    target (`busy` in the trail) as it does one at its `admission.per_target` cap.
    """

    outcome = "busy"

    def __init__(self, provider: str, limit: int, waited: float) -> None:
        super().__init__(
            f"all {limit} connections of provider {provider!r} were in use for "
            f"{waited:g}s (providers.{provider}.max_connections, admission.pool_wait)"
        )
        self.provider = provider
        self.detail = (
            f"all {limit} connections of providers.{provider}.max_connections in use for "
            f"{waited:g}s: failsoft's own limit, nothing was sent"
        )


class UpstreamClientFault(FailsoftError):
    """A target refused the request as the caller's fault; relayed without failover."""

    def __init__(self, error: UpstreamStatusError, attempts: Sequence[AttemptRecord]) -> None:
        super().__init__(error.message)
        self.error = error
        self.attempts = list(attempts)


class StreamInterrupted(FailsoftError):
    """A stream broke after it was committed to the caller (library mode)."""

    def __init__(self, error: UpstreamError, label: str, events: int) -> None:
        super().__init__(
            f"failsoft: the stream from {label} broke after {events} events: {error.message}"
        )
        self.error = error


def _excerpt(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
