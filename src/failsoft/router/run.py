"""One request's way through its targets: breakers, budgets, retries, hedges, fallbacks.

    for target in balance.order(plan.targets):           # ordered / weighted / least latency
        skip it if the request cannot be translated to its dialect, its breaker is open,
        or it is at its cap
        an extra attempt (retry, fallback, hedge, a client's retry) must fit its budget
        attempt it (hedged by the next target if it is slow to its first token)
            success       → answer
            caller's fault→ relay the refusal, stop (a translated target's 400 moves on)
            otherwise     → retry the same target if the retry policy says it can help,
                            else move on
    nothing left          → AllTargetsFailed, with when a retry could help

Every attempt reports to `RouterState`, which feeds the breakers, budgets and latency.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from failsoft.config import Policies, VirtualModel
from failsoft.errors import (
    AllTargetsFailed,
    Untranslatable,
    UpstreamClientFault,
    UpstreamError,
    UpstreamStatusError,
)
from failsoft.events import AttemptFinished
from failsoft.policy import balance
from failsoft.policy.breaker import Admit
from failsoft.policy.classify import Verdict, classify
from failsoft.policy.deadline import Deadline
from failsoft.policy.hedge import hedge_delay
from failsoft.policy.retry import retry_delay
from failsoft.providers import Provider
from failsoft.router.attempt import Attempt
from failsoft.router.state import RouterState
from failsoft.router.streaming import CommittedStream
from failsoft.translate import Translation, translate
from failsoft.transport import Transport
from failsoft.types import AttemptRecord, ChatRequest, Target

T = TypeVar("T")
Once = Callable[[Attempt, list[AttemptRecord]], Awaitable[T]]

# The longest Retry-After failsoft passes on: the openai SDK refuses to retry above 60-120 s,
# and an anthropic SDK sleeps whatever it is told.
MAX_RETRY_AFTER = 60.0
DEFAULT_RETRY_AFTER = 1.0


class Outcome(Generic[T]):
    """How one attempt ended: a result, or an error and what it means."""

    __slots__ = ("attempt", "error", "result", "verdict")

    def __init__(
        self,
        attempt: Attempt | None,
        result: T | None = None,
        error: UpstreamError | None = None,
        verdict: Verdict | None = None,
    ) -> None:
        self.attempt = attempt
        self.result = result
        self.error = error
        self.verdict = verdict

    @property
    def ok(self) -> bool:
        return self.error is None and self.attempt is not None


class Run(Generic[T]):
    def __init__(
        self,
        state: RouterState,
        providers: dict[str, Provider],
        transport: Transport,
        plan: VirtualModel,
        request: ChatRequest,
        once: Once[T],
        log_failure: Callable[[ChatRequest, AttemptRecord, str | None], None],
    ) -> None:
        self.state = state
        self.providers = providers
        self.transport = transport
        self.plan = plan
        self.policies: Policies = plan.policies
        self.request = request
        self.once = once
        self.log_failure = log_failure
        limits = plan.deadlines
        total = limits.total if request.timeout is None else min(limits.total, request.timeout)
        self.deadline = Deadline(state.clock, total)
        self.attempts: list[AttemptRecord] = []
        self.made = 0
        """Upstream attempts actually made: after the first, every attempt is extra load."""
        self.refusal: UpstreamStatusError | None = None
        self._translations: dict[Target, Translation | Untranslatable | None] = {}

    # ------------------------------------------------------------------ the loop

    async def run(self) -> T:
        queue = self._candidates()
        while queue:
            target = queue.pop(0)
            if self.deadline.expired:
                self._skip(target, "deadline", "the request's deadline ran out first")
                break
            result = await self._on_target(target, queue)
            if result is not None:
                return result
        raise self._exhausted()

    def _candidates(self) -> list[Target]:
        plan = self.plan
        ordered = balance.order(
            self.policies.balance.strategy,
            plan.targets,
            plan.weights,
            self.state.rng,
            self.state.latency,
        )
        demoted = self.state.demoted
        if demoted:
            # A provider declared these down (health.demote_on_declared): try them last.
            ordered = [t for t in ordered if t not in demoted] + [
                t for t in ordered if t in demoted
            ]
        return ordered

    def _translation(self, target: Target) -> Translation | Untranslatable | None:
        """The request for `target` if it speaks another dialect (None if not), or why it
        cannot be sent there; worked out when first needed, so a primary of the caller's
        dialect that answers costs no translation at all."""
        if target in self._translations:
            return self._translations[target]
        provider = self.providers[target.provider]
        found: Translation | Untranslatable | None = None
        if provider.dialect != self.request.dialect:
            try:
                found = translate(self.request, provider.options)
            except Untranslatable as exc:
                found = exc
                detail = f"{self.request.dialect} → {provider.dialect}: {exc.message}"
                self._skip(target, "untranslatable", detail, transient=False)
        self._translations[target] = found
        return found

    async def _on_target(self, target: Target, queue: list[Target]) -> T | None:
        """Attempts on one target (with its retries, or hedged); None to move on."""
        translation = self._translation(target)
        if isinstance(translation, Untranslatable):
            return None
        retry = self.policies.retry
        tries = 0
        while True:
            if tries and self.deadline.expired:
                self._skip(target, "deadline", "the request's deadline ran out first")
                return None
            admit = self.state.admit(target)
            if admit is Admit.DENY:
                wait = self.state.breakers[target].reopens_in()
                self._skip(target, "open", f"breaker open, next probe in {wait:.1f}s")
                return None
            probe = admit is Admit.PROBE
            kind = "probe" if probe else "retry" if tries else "fallback" if self.made else "first"
            if not self._spend(target, tries, probe):
                return None
            tries += 1
            # The first-token limit only applies while another target could still answer.
            enforce = any(self.state.available(t) for t in queue)
            hedge = hedge_delay(self.policies.hedge, target, self.state.latency)
            if hedge is not None and tries == 1 and enforce and not probe:
                outcome = await self._hedged(target, kind, hedge, queue)
            else:
                outcome = await self._attempt(target, probe, kind, enforce, translation)
            if outcome.ok:
                return outcome.result
            error, verdict = outcome.error, outcome.verdict
            if error is None or verdict is None:
                return None  # skipped (at its cap), or a hedge pair that both failed
            if verdict is Verdict.CLIENT_FAULT and isinstance(error, UpstreamStatusError):
                raise UpstreamClientFault(error, self.attempts)
            if verdict is not Verdict.FAILOVER:
                return None
            others = any(self.state.available(t) for t in queue)
            delay = retry_delay(
                retry, error, tries, self.deadline.remaining(), others, self.state.rng
            )
            if delay is None:
                return None
            await self.state.clock.sleep(delay)

    def _spend(self, target: Target, tries: int, probe: bool) -> bool:
        """Extra attempts need room in the target's budget: same-target retries, an SDK's
        retry, and (with `retry.budget.fallbacks`) fallbacks. A first try never does."""
        fallback = self.made > 0 and self.policies.retry.budget.fallbacks
        extra = tries > 0 or fallback or (self.request.client_retries > 0 and not probe)
        if not extra or self.state.budget(target).try_spend():
            return True
        self.state.released(target, probe)
        self._skip(target, "budget", "retry budget spent: extra attempts would add load")
        return False

    # ------------------------------------------------------------------ one attempt

    async def _attempt(
        self,
        target: Target,
        probe: bool,
        kind: str,
        enforce: bool,
        translation: Translation | None = None,
        started: list[Attempt] | None = None,
    ) -> Outcome[T]:
        """One attempt and its bookkeeping; never raises an UpstreamError (`started`, when
        given, receives the Attempt at once, so a hedge can watch for its first token)."""
        state = self.state
        if not state.limits.enter_target(target):
            state.released(target, probe)
            self._skip(target, "busy", "at its limit of attempts in flight")
            return Outcome(None)
        attempt = Attempt(
            target,
            self.providers[target.provider],
            self.request,
            self.deadline,
            self.policies.deadlines,
            state.clock,
            self.transport,
            enforce_first_token=enforce,
            translation=translation,
        )
        if probe:
            # A probe answers for the target as soon as it produces content: everyone else
            # is skipping the target meanwhile, and a long answer would hold them off.
            def settle() -> None:
                attempt.probe_settled = True
                state.breakers[target].success(probe=True)

            attempt.on_first_token = settle
        if started is not None:
            started.append(attempt)
        self.made += 1
        try:
            result = await self.once(attempt, self.attempts)
        except UpstreamError as error:
            state.limits.leave_target(target)
            translated = attempt.translation is not None
            verdict = classify(error, attempt.provider.wire, translated=translated)
            duration = state.clock.monotonic() - attempt.started
            retry_after = getattr(error, "retry_after", None)
            probe = probe and not attempt.probe_settled
            state.failed(target, probe, verdict, retry_after, duration, attempt.started)
            self._failed(attempt, error, verdict, kind)
            if verdict is Verdict.NEXT_TARGET and isinstance(error, UpstreamStatusError):
                self.refusal = error
            return Outcome(attempt, error=error, verdict=verdict)
        except BaseException:
            state.limits.leave_target(target)
            state.released(target, probe and not attempt.probe_settled)
            self._record(
                AttemptRecord(
                    target,
                    "cancelled",
                    transient=False,
                    duration=state.clock.monotonic() - attempt.started,
                    kind=kind,
                ),
                attempt,
            )
            raise
        if isinstance(result, CommittedStream):
            # A relayed stream keeps its target busy until it ends.
            result.on_close.append(lambda: state.limits.leave_target(target))
        else:
            state.limits.leave_target(target)
        state.succeeded(
            target, probe and not attempt.probe_settled, attempt.first_token, attempt.started
        )
        duration = state.clock.monotonic() - attempt.started
        self._record(AttemptRecord(target, "200", duration=duration, kind=kind), attempt, ok=True)
        return Outcome(attempt, result=result)

    async def _hedged(
        self, target: Target, kind: str, delay: float, queue: list[Target]
    ) -> Outcome[T]:
        """Run `target`; if it has no first token after `delay`, race the next target."""
        holder: list[Attempt] = []
        translation = self._translations.get(target)
        assert not isinstance(translation, Untranslatable)
        first = asyncio.ensure_future(self._attempt(target, False, kind, True, translation, holder))
        tasks = {first}
        try:
            done, _ = await asyncio.wait(tasks, timeout=min(delay, self.deadline.remaining()))
            if done:
                return first.result()
            if holder and holder[0].first_token_at is not None:
                return await first  # it is answering, just slowly: no point in a second
            partner = self._hedge_partner(queue)
            if partner is None:
                return await first
            enforce = any(self.state.available(t) for t in queue)
            partner_translation = self._translations.get(partner)
            assert not isinstance(partner_translation, Untranslatable)
            tasks.add(
                asyncio.ensure_future(
                    self._attempt(partner, False, "hedge", enforce, partner_translation)
                )
            )
            winner: Outcome[T] | None = None
            while tasks and winner is None:
                done, tasks = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    outcome = task.result()
                    if winner is None and (outcome.ok or outcome.verdict is Verdict.CLIENT_FAULT):
                        winner = outcome
                    elif outcome.ok:
                        await _discard(outcome.result)  # both answered at once: keep one
            return winner or Outcome(None)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                await asyncio.gather(task, return_exceptions=True)

    def _hedge_partner(self, queue: list[Target]) -> Target | None:
        """The next target that can take a hedge now (it spends that target's budget)."""
        for index, candidate in enumerate(queue):
            if not self.state.available(candidate):
                continue
            if isinstance(self._translation(candidate), Untranslatable):
                continue
            if not self.state.budget(candidate).try_spend():
                continue
            if self.state.admit(candidate) is not Admit.ALLOW:
                continue
            del queue[index]
            return candidate
        return None

    # ------------------------------------------------------------------ records

    def _skip(self, target: Target, outcome: str, detail: str, transient: bool = True) -> None:
        self.attempts.append(AttemptRecord(target, outcome, detail, transient=transient))

    def _failed(self, attempt: Attempt, error: UpstreamError, verdict: Verdict, kind: str) -> None:
        record = AttemptRecord(
            attempt.target,
            error.outcome,
            attempt.provider.scrub_text(error.detail),
            transient=verdict is Verdict.FAILOVER,
            duration=self.state.clock.monotonic() - attempt.started,
            retry_after=getattr(error, "retry_after", None),
            kind=kind,
        )
        self._record(record, attempt)
        self.log_failure(self.request, record, None)

    def _record(self, record: AttemptRecord, attempt: Attempt, ok: bool = False) -> None:
        self.attempts.append(record)
        hub = self.state.hub
        if hub.active:
            hub.emit(
                AttemptFinished(
                    self.request.request_id,
                    self.request.model,
                    attempt.target,
                    record.outcome,
                    ok,
                    record.duration,
                    attempt.first_token,
                    record.kind,
                )
            )

    def _exhausted(self) -> Exception:
        attempts = self.attempts
        refused = [t for t in self._translations.values() if isinstance(t, Untranslatable)]
        if refused and not self.made and not any(a.transient for a in attempts):
            # No target's dialect can carry the request: the caller must change it.
            reasons = "; ".join(a.describe() for a in attempts if a.outcome == "untranslatable")
            return Untranslatable(
                f"failsoft: no target of model {self.plan.name!r} can take this request: {reasons}"
            )
        if self.refusal is not None and not any(a.transient for a in attempts):
            # Every target that was tried refused the request (as too long, or as written
            # for its dialect): relay the last refusal rather than claim an outage.
            return UpstreamClientFault(self.refusal, attempts)
        retry_after, should_retry = self._when_to_retry()
        return AllTargetsFailed(self.plan.name, attempts, retry_after, should_retry)

    def _when_to_retry(self) -> tuple[float, bool]:
        """When a caller's retry could find a target willing, and whether that is worth it.

        The soonest a breaker reopens or a provider said to come back; a short pause when
        targets merely failed just now. Beyond `MAX_RETRY_AFTER` a retry is not advised:
        the gateway already spent the useful attempts, and SDK retries would only add load.
        """
        if not any(a.transient for a in self.attempts):
            return DEFAULT_RETRY_AFTER, False
        waits = []
        for target in {a.target for a in self.attempts if a.transient}:
            waits.append(self.state.breakers[target].reopens_in())
        hints = [a.retry_after for a in self.attempts if a.retry_after is not None]
        soonest = min(waits) if waits else 0.0
        if hints:
            soonest = max(soonest, min(hints))
        if soonest > MAX_RETRY_AFTER:
            return MAX_RETRY_AFTER, False
        return max(DEFAULT_RETRY_AFTER, math.ceil(soonest * 10) / 10), True


async def _discard(result: object) -> None:
    """Release a result nobody will use (a stream a hedge also committed)."""
    close = getattr(result, "aclose", None)
    if close is not None:
        await close()
