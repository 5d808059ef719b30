"""The router: virtual model → the request's run through its targets (see `run.py`).

It owns what lives across requests (`RouterState`: breakers, budgets, latency, in-flight
limits), admits or sheds each request, and reports how every request ended. The same
object serves the HTTP server and library mode (`failsoft.Gateway`).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NoReturn, TypeVar

from failsoft.clock import SYSTEM_CLOCK, Clock
from failsoft.config import Config, VirtualModel
from failsoft.dialects import WIRES, Wire
from failsoft.errors import AllTargetsFailed, Overloaded, UnknownModel, UpstreamClientFault
from failsoft.events import EventHub, RequestFinished
from failsoft.logfmt import value
from failsoft.policy.classify import Verdict
from failsoft.providers import Provider
from failsoft.router.attempt import Attempt
from failsoft.router.logs import SampledLog
from failsoft.router.outcome import Answer
from failsoft.router.resume import Resumption
from failsoft.router.run import COMPLETE, Run
from failsoft.router.state import RouterState
from failsoft.router.streaming import CommittedStream
from failsoft.transport import Transport
from failsoft.types import AttemptRecord, ChatRequest, Target
from failsoft.validate.common import check_gemini_model

log = logging.getLogger("failsoft.router")

T = TypeVar("T")

CLIENT_CLOSED = 499
"""RequestFinished.status when the caller went away first (nginx's convention)."""


class Router:
    def __init__(
        self,
        config: Config,
        providers: dict[str, Provider],
        transport: Transport,
        *,
        clock: Clock = SYSTEM_CLOCK,
        hub: EventHub | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.providers = providers
        self.transport = transport
        self.clock = clock
        self.hub = hub or EventHub()
        self.state = RouterState(config, clock, self.hub, rng)
        self._sampled = SampledLog(log, clock)
        self._skipped = SampledLog(logging.getLogger("failsoft.refusal"), clock)
        """A target passed over without an attempt (breaker open, budget spent, request
        untranslatable for it, ...): failsoft's own refusal, keyed by target and reason."""

    def reconfigure(self, config: Config, providers: dict[str, Provider]) -> None:
        """Serve new requests from `config` (a reload). A request already running keeps the
        plan and providers it resolved at its start; the state (`RouterState`) is kept."""
        self.config = config
        self.providers = providers
        self.state.reconfigure(config)

    def resolve(self, model: str) -> VirtualModel:
        plan = self.config.resolve(model)
        if plan is None:
            raise UnknownModel(
                f"model {model!r} is neither a virtual model of this gateway nor a "
                f"'<provider>/<model>' it serves directly (a target of a virtual model, or "
                f"listed in the provider's `direct`; see GET /v1/models)",
                param="model",
            )
        if "/" in model:
            direct_gemini_name(plan, model, self.providers)
        return plan

    async def complete(self, request: ChatRequest) -> Answer:
        """Answer a non-streaming request, failing over until a target answers.

        `_fallback` for an answer, written out: the caller's await reaches the run with
        one coroutine fewer, and the run makes each attempt's `Answer` itself (`COMPLETE`)."""
        started = self.clock.monotonic()
        limits = self.state.limits
        if not limits.enter():
            self._shed(request, started)
        try:
            plan = self.resolve(request.model)
            run: Run[Answer] = Run(
                self.state, self.providers, self.transport, plan, request, COMPLETE,
                self._log_failure,
            )  # fmt: skip
            answer = await run.run()
        except asyncio.CancelledError:
            self._request_finished(request, started, None, None, cancelled=True)
            raise
        except Exception as exc:
            self._unanswered(request, started, exc)
            raise
        finally:
            limits.leave()
        self._request_finished(request, started, answer.target, None, attempts=answer.attempts)
        return answer

    async def stream(self, request: ChatRequest) -> CommittedStream:
        """Open a stream on the first target that produces content; the caller relays it."""
        started = self.clock.monotonic()
        caller_wire = WIRES[request.dialect]

        def ended(stream: CommittedStream) -> None:
            self._stream_ended(stream)
            self._request_finished(
                request,
                started,
                stream.target,
                None,
                attempts=stream.attempts,
                broken=stream.broken is not None,
                resumed=stream.resumed,
                failed=stream.error is not None,
            )

        # The config this request started on, whatever a reload brings meanwhile.
        config, providers = self.config, self.providers
        stream = await self._fallback(request, self._opener(caller_wire, ended), started)
        plan = config.resolve(request.model)
        # Resume rebuilds the answer in the caller's dialect: not yet for Gemini callers.
        resumable = request.dialect != "gemini"
        if plan is not None and plan.policies.resume.enabled and resumable:

            async def go_on(request: ChatRequest, plan: VirtualModel) -> CommittedStream:
                return await self._continuation(request, plan, providers)

            host = _Pinned(self.state, providers)
            resumption = Resumption(plan.policies.resume, plan, host, go_on)
            resumption.attach(stream)
            stream.resumer = resumption
        return stream

    async def _continuation(
        self, request: ChatRequest, plan: VirtualModel, providers: dict[str, Provider]
    ) -> CommittedStream:
        """A stream for the rest of a broken answer (part of an already admitted request)."""
        once = self._opener(WIRES[request.dialect], self._stream_ended)
        run = Run(self.state, providers, self.transport, plan, request, once, self._log_failure)
        return await run.run()

    def _opener(
        self, caller_wire: Wire, ended: Callable[[CommittedStream], None]
    ) -> Callable[[Attempt, list[AttemptRecord]], Awaitable[CommittedStream]]:
        """One attempt of a stream: open it up to its first content, then relay it."""

        async def once(attempt: Attempt, attempts: list[AttemptRecord]) -> CommittedStream:
            opened = await attempt.open_stream()
            stream = CommittedStream(attempt, opened, attempts, caller_wire, ended)
            stream.on_break = self._stream_broke
            return stream

        return once

    def _stream_broke(self, stream: CommittedStream) -> None:
        """A committed stream's upstream broke after it started: a failure of that target,
        whatever the caller gets next (told at once, before any resume)."""
        attempt = stream.attempt
        duration = self.clock.monotonic() - attempt.started
        retry_after = getattr(stream.broken, "retry_after", None)
        self.state.failed(
            stream.target,
            False,
            Verdict.FAILOVER,
            retry_after,
            duration,
            attempt.started,
            attempt.probe_settled,
        )

    def _stream_ended(self, stream: CommittedStream) -> None:
        """A committed stream's verdict on its target, once it is known: complete, or
        broken after it started (reported when it broke), or neither (the caller left
        first)."""
        state = self.state
        attempt = stream.attempt
        target = stream.target
        settled = attempt.probe_settled
        if stream.broken is None:  # (a break was reported when it happened)
            if stream.complete:
                state.succeeded(target, False, None, attempt.started, settled)
            else:
                if settled:
                    state.breakers[target].end_probation(True)
                state.released(target, False, attempt.started)
        state.counters.add("dropped_events", target, attempt.dropped)
        state.counters.add("supplied_end", target, int(stream.supplied_end))

    async def _fallback(
        self,
        request: ChatRequest,
        once: Callable[[Attempt, list[AttemptRecord]], Awaitable[T]],
        started: float,
    ) -> T:
        """Admission, the per-request run, and the RequestFinished event for every failure."""
        limits = self.state.limits
        if not limits.enter():
            self._shed(request, started)
        held = False
        try:
            plan = self.resolve(request.model)
            run = Run(
                self.state, self.providers, self.transport, plan, request, once, self._log_failure
            )
            result = await run.run()
            if isinstance(result, CommittedStream):
                # A relayed stream is still work in flight: its slot goes when it ends.
                result.on_close.append(limits.leave)
                held = True
            return result
        except asyncio.CancelledError:
            self._request_finished(request, started, None, None, cancelled=True)
            raise
        except Exception as exc:
            self._unanswered(request, started, exc)
            raise
        finally:
            if not held:
                limits.leave()

    def _shed(self, request: ChatRequest, started: float) -> NoReturn:
        """Admission refused the request: failsoft's own overload."""
        error = Overloaded(self.config.admission.max_in_flight, self.state.limits.retry_after)
        self._request_finished(request, started, None, error, shed=True)
        raise error

    def _unanswered(self, request: ChatRequest, started: float, exc: Exception) -> None:
        """A request's run raised `exc`: logged (sampled) when every target failed, and
        reported."""
        if isinstance(exc, AllTargetsFailed):
            self._sampled(
                logging.WARNING,
                f"exhausted:{exc.virtual_model}",
                "%s: %s",
                request.request_id,
                exc,
            )
        self._request_finished(request, started, None, exc)

    def _log_failure(self, request: ChatRequest, record: AttemptRecord, then: str | None) -> None:
        if not record.made:
            self._skipped(
                logging.INFO,
                f"{record.target.label}:{record.outcome}",
                "skipped=%s rid=%s target=%s reason=%s",
                record.outcome,
                request.request_id,
                _Value(record.target.label),  # escaped only if the line is written: a flood
                _Value(record.detail or record.outcome),  # of skips writes few of them
            )
            return
        self._sampled(
            logging.INFO,
            f"{record.target.label}:{record.outcome}",
            "%s %s: %s failed after %.0f ms: %s",
            request.request_id,
            request.model,
            record.target.label,
            record.duration * 1000,
            record.detail or record.outcome,
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
        shed: bool = False,
        resumed: bool = False,
        failed: bool = False,
    ) -> None:
        if not self.hub.requests:
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
                error is None and not failed and not cancelled,
                status,
                target,
                (1 if attempts[0].made else 0) if len(attempts) == 1 else _made(attempts),
                self.clock.monotonic() - started,
                broken,
                shed,
                resumed,
            )
        )


@dataclass(slots=True)
class _Pinned:
    """What a resumption needs of the router, with the providers its request started on."""

    state: RouterState
    providers: dict[str, Provider]


class _Value:
    """A logfmt value escaped when the line is formatted (most sampled lines never are)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return value(self.text)


def _made(attempts: list[AttemptRecord]) -> int:
    """How many of `attempts` went upstream (`_request_finished` counts the usual one
    itself)."""
    return sum(1 for a in attempts if a.made)


def _status_of(error: BaseException, request: ChatRequest) -> int:
    if isinstance(error, AllTargetsFailed | Overloaded):
        return WIRES[request.dialect].exhausted_status
    if isinstance(error, UpstreamClientFault):
        return error.error.status
    status = getattr(error, "status", 500)
    return status if isinstance(status, int) else 500


def direct_gemini_name(plan: VirtualModel, model: str, providers: dict[str, Provider]) -> None:
    """A caller's `provider/model` for a Gemini provider puts the model into a URL path:
    names that would leave their path segment are a 400 (`check_gemini_model`)."""
    if len(plan.targets) != 1:
        return
    target = plan.targets[0]
    provider = providers.get(target.provider)
    direct = model == f"{target.provider}/{target.model}"
    if direct and provider is not None and provider.dialect == "gemini":
        check_gemini_model(target.model.removeprefix("models/"))
