"""The router: virtual model → ordered targets → the fallback loop.

    for target in plan.targets:
        if the target cannot serve the caller's dialect: skip it
        if the request's deadline is spent: stop
        try one attempt (until the first content event, or the whole answer)
        success           → answer (streams: commit and relay)
        caller's fault    → relay the refusal, stop (every target would refuse it)
        context too long  → next target (a later one may have a larger window)
        anything else     → next target
    every target failed   → AllTargetsFailed (503 / 529, Retry-After, each attempt named)

The same object serves the HTTP server and library mode (`failsoft.Gateway`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from failsoft.clock import SYSTEM_CLOCK, Clock
from failsoft.config import Config, VirtualModel
from failsoft.dialects import WIRES
from failsoft.errors import (
    AllTargetsFailed,
    NoCompatibleTarget,
    UnknownModel,
    UpstreamClientFault,
    UpstreamError,
    UpstreamStatusError,
)
from failsoft.events import AttemptFinished, EventHub, RequestFinished
from failsoft.policy.classify import Verdict, classify
from failsoft.policy.deadline import Deadline
from failsoft.providers import Provider
from failsoft.router.attempt import Attempt
from failsoft.router.logs import SampledLog
from failsoft.router.streaming import CommittedStream
from failsoft.transport import Transport
from failsoft.types import AttemptRecord, ChatRequest, Target

log = logging.getLogger("failsoft.router")

T = TypeVar("T")

# The longest Retry-After failsoft passes on: the openai SDK refuses to retry above 60-120 s,
# and an anthropic SDK sleeps whatever it is told.
MAX_RETRY_AFTER = 60.0
DEFAULT_RETRY_AFTER = 1.0
CLIENT_CLOSED = 499
"""RequestFinished.status when the caller went away first (nginx's convention)."""


@dataclass(slots=True)
class Answer:
    """A whole non-streaming answer, ready to send."""

    body: bytes
    target: Target
    attempts: list[AttemptRecord]
    upstream_request_id: str | None


class Router:
    def __init__(
        self,
        config: Config,
        providers: dict[str, Provider],
        transport: Transport,
        *,
        clock: Clock = SYSTEM_CLOCK,
        hub: EventHub | None = None,
    ) -> None:
        self.config = config
        self.providers = providers
        self.transport = transport
        self.clock = clock
        self.hub = hub or EventHub()
        self._sampled = SampledLog(log, clock)

    def resolve(self, model: str) -> VirtualModel:
        plan = self.config.resolve(model)
        if plan is None:
            raise UnknownModel(
                f"model {model!r} is neither a virtual model of this gateway nor "
                f"'<provider>/<model>' for a configured provider (see GET /v1/models)",
                param="model",
            )
        return plan

    async def complete(self, request: ChatRequest) -> Answer:
        """Answer a non-streaming request, failing over until a target answers."""

        async def once(attempt: Attempt, attempts: list[AttemptRecord]) -> Answer:
            body, upstream = await attempt.complete()
            rid = upstream.headers.get(attempt.provider.wire.request_id_header)
            return Answer(body, attempt.target, attempts, rid)

        started = self.clock.monotonic()
        answer = await self._fallback(request, once, started)
        self._request_finished(request, started, answer.target, None, attempts=answer.attempts)
        return answer

    async def stream(self, request: ChatRequest) -> CommittedStream:
        """Open a stream on the first target that produces content; the caller relays it."""
        started = self.clock.monotonic()
        caller_wire = WIRES[request.dialect]

        def ended(stream: CommittedStream) -> None:
            self._request_finished(
                request,
                started,
                stream.target,
                None,
                attempts=stream.attempts,
                broken=stream.error is not None,
            )

        async def once(attempt: Attempt, attempts: list[AttemptRecord]) -> CommittedStream:
            opened = await attempt.open_stream()
            return CommittedStream(attempt, opened, attempts, caller_wire, ended)

        return await self._fallback(request, once, started)

    async def _fallback(
        self,
        request: ChatRequest,
        once: Callable[[Attempt, list[AttemptRecord]], Awaitable[T]],
        started: float,
    ) -> T:
        """The loop below, plus the RequestFinished event for every way it can fail."""
        try:
            return await self._try_targets(request, once)
        except asyncio.CancelledError:
            self._request_finished(request, started, None, None, cancelled=True)
            raise
        except Exception as exc:
            self._request_finished(request, started, None, exc)
            raise

    async def _try_targets(
        self,
        request: ChatRequest,
        once: Callable[[Attempt, list[AttemptRecord]], Awaitable[T]],
    ) -> T:
        plan = self.resolve(request.model)
        limits = plan.deadlines
        total = limits.total if request.timeout is None else min(limits.total, request.timeout)
        deadline = Deadline(self.clock, total)
        attempts: list[AttemptRecord] = []
        refusal: UpstreamStatusError | None = None
        for index, target in enumerate(plan.targets):
            provider = self.providers[target.provider]
            if provider.dialect != request.dialect:
                attempts.append(
                    AttemptRecord(
                        target,
                        "skipped",
                        f"speaks {provider.dialect}; cross-dialect translation is not available",
                        transient=False,
                    )
                )
                continue
            if deadline.expired:
                attempts.append(
                    AttemptRecord(target, "deadline", "the request's deadline ran out first")
                )
                break
            attempt = Attempt(
                target, provider, request, deadline, limits, self.clock, self.transport
            )
            try:
                result = await once(attempt, attempts)
            except UpstreamError as error:
                verdict = classify(error, provider.wire)
                record = self._failed(attempt, error, verdict)
                attempts.append(record)
                self._log_failure(request, record, plan.targets[index + 1 :])
                if verdict is Verdict.CLIENT_FAULT and isinstance(error, UpstreamStatusError):
                    raise UpstreamClientFault(error, attempts) from None
                if verdict is Verdict.NEXT_TARGET and isinstance(error, UpstreamStatusError):
                    refusal = error
                continue
            attempts.append(
                AttemptRecord(target, "200", duration=self.clock.monotonic() - attempt.started)
            )
            self._attempt_finished(request, attempt, "200", True)
            return result
        if not any(a.outcome != "skipped" for a in attempts):
            raise NoCompatibleTarget(
                f"model {plan.name!r} has no target speaking the {request.dialect} dialect "
                f"(targets: {', '.join(t.label for t in plan.targets)}); cross-dialect "
                "translation is not available yet",
                param="model",
            )
        if refusal is not None and not any(a.transient for a in attempts):
            # Every target that was tried refused the request as too long: that is the
            # caller's fault, so relay the last refusal rather than claim an outage.
            raise UpstreamClientFault(refusal, attempts)
        exhausted = AllTargetsFailed(plan.name, attempts, self._retry_after(attempts))
        self._sampled(
            logging.WARNING, f"exhausted:{plan.name}", "%s: %s", request.request_id, exhausted
        )
        raise exhausted

    def _failed(self, attempt: Attempt, error: UpstreamError, verdict: Verdict) -> AttemptRecord:
        self._attempt_finished(attempt.request, attempt, error.outcome, False)
        return AttemptRecord(
            attempt.target,
            error.outcome,
            attempt.provider.scrub_text(error.detail),
            transient=verdict is Verdict.FAILOVER,
            duration=self.clock.monotonic() - attempt.started,
            retry_after=getattr(error, "retry_after", None),
        )

    @staticmethod
    def _retry_after(attempts: list[AttemptRecord]) -> float:
        """What to tell the caller: the longest upstream hint (capped), else a short pause."""
        hints = [a.retry_after for a in attempts if a.retry_after is not None]
        if not hints:
            return DEFAULT_RETRY_AFTER
        return min(max(hints), MAX_RETRY_AFTER)

    def _log_failure(
        self, request: ChatRequest, record: AttemptRecord, rest: tuple[Target, ...]
    ) -> None:
        then = f"; trying {rest[0].label}" if rest else ""
        self._sampled(
            logging.INFO,
            f"{record.target.label}:{record.outcome}",
            "%s %s: %s failed after %.0f ms: %s%s",
            request.request_id,
            request.model,
            record.target.label,
            record.duration * 1000,
            record.detail or record.outcome,
            then,
        )

    def _attempt_finished(
        self, request: ChatRequest, attempt: Attempt, outcome: str, ok: bool
    ) -> None:
        if not self.hub.active:
            return
        self.hub.emit(
            AttemptFinished(
                request.request_id,
                request.model,
                attempt.target,
                outcome,
                ok,
                self.clock.monotonic() - attempt.started,
                attempt.first_token,
            )
        )

    def _request_finished(
        self,
        request: ChatRequest,
        started: float,
        target: Target | None,
        error: BaseException | None,
        *,
        attempts: list[AttemptRecord] | None = None,
        broken: bool = False,
        cancelled: bool = False,
    ) -> None:
        if not self.hub.active:
            return
        if attempts is None:
            attempts = getattr(error, "attempts", None) or []
        if cancelled:
            status = CLIENT_CLOSED
        else:
            status = 200 if error is None else _status_of(error, request)
        self.hub.emit(
            RequestFinished(
                request.request_id,
                request.model,
                request.dialect,
                request.stream,
                error is None and not broken and not cancelled,
                status,
                target,
                sum(1 for a in attempts if a.outcome not in ("skipped", "deadline")),
                self.clock.monotonic() - started,
                broken,
            )
        )


def _status_of(error: BaseException, request: ChatRequest) -> int:
    if isinstance(error, AllTargetsFailed):
        return WIRES[request.dialect].exhausted_status
    if isinstance(error, UpstreamClientFault):
        return error.error.status
    status = getattr(error, "status", 500)
    return status if isinstance(status, int) else 500
