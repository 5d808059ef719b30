"""One request's way through its targets: breakers, budgets, retries, races, fallbacks.

    for target in balance.order(plan.targets):           # ordered / weighted / least latency
        skip it if the request cannot be translated to its dialect, its breaker is open,
        or it is at its cap
        an extra attempt (retry, fallback, hedge, a client's retry) must fit its budget
        attempt it; if it has no first content by its first-token limit (or its target
        turns out silent), race the next target beside it: the first content wins
            success       → answer
            caller's fault→ relay the refusal, stop (a translated target's 400 moves on)
            otherwise     → retry the same target if the retry policy says it can help
                            (waiting out a short Retry-After), else move on
    nothing left          → AllTargetsFailed, with when a retry could help

Every attempt reports to `RouterState`, which feeds the breakers, budgets and latency.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from failsoft.config import Policies, VirtualModel
from failsoft.errors import (
    PoolBusy,
    Untranslatable,
    UpstreamClientFault,
    UpstreamError,
    UpstreamStatusError,
)
from failsoft.events import AttemptFinished
from failsoft.policy import balance
from failsoft.policy.breaker import Admit, State
from failsoft.policy.classify import Verdict, classify
from failsoft.policy.deadline import Deadline
from failsoft.policy.hedge import hedge_delay
from failsoft.policy.retry import retry_delay
from failsoft.providers import Provider
from failsoft.router.attempt import Attempt
from failsoft.router.exhaustion import credentials_rejected, exhausted
from failsoft.router.outcome import Answer, Outcome
from failsoft.router.phases import Watch
from failsoft.router.race import Race, RaceLost
from failsoft.router.state import RouterState, TargetState
from failsoft.router.streaming import CommittedStream
from failsoft.translate import Translation, translate
from failsoft.transport import Transport
from failsoft.types import AttemptRecord, ChatRequest, Target

T = TypeVar("T")
Once = Callable[[Attempt, list[AttemptRecord]], Awaitable[T]]
COMPLETE = None
"""The `once` of a non-streaming request: each attempt is `Attempt.complete`, its `Answer`
made by the run itself (no coroutine of its own between the run and the attempt)."""

_BUDGET_SPENT = "retry budget spent: extra attempts would add load"
_CLOSED, _PROBE, _DENY = State.CLOSED, Admit.PROBE, Admit.DENY
"""Read on every attempt: a module global, not `State.CLOSED` (on 3.11 an enum member's
look-up goes through the enum type's `__getattr__` slot, ~800 instructions each)."""


class Run(Generic[T]):
    def __init__(
        self,
        state: RouterState,
        providers: dict[str, Provider],
        transport: Transport,
        plan: VirtualModel,
        request: ChatRequest,
        once: Once[T] | None,
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
        hooks = state.hooks
        if hooks is None:
            hooks = state.hooks = _Hooks(state)
        self._hooks: Watch = hooks
        self._translations: dict[Target, Translation | Untranslatable | None] = {}
        self._charged: set[Target] | None = None
        """Targets whose next attempt took a token of their retry budget (given back if
        that attempt turns out busy); None until a request makes an extra attempt."""
        self.loop: asyncio.AbstractEventLoop
        """The loop the run runs on (set by `run`), found once for its races and attempts:
        on Python 3.11 each `asyncio.get_running_loop()` costs a `getpid` system call."""

    # ------------------------------------------------------------------ the loop

    async def run(self) -> T:
        self.loop = asyncio.get_running_loop()
        queue = self._candidates()
        monotonic = self.state.clock.monotonic
        deadline = self.deadline
        while queue:
            target = queue.pop(0)
            if monotonic() >= deadline.expires:  # (`deadline.expired`, written out)
                self._skip(target, "deadline", "the request's deadline ran out first")
                break
            result = await self._on_target(target, queue)
            if result is not None:
                return result
        raise self._exhausted()

    def _candidates(self) -> list[Target]:
        plan = self.plan
        strategy = self.policies.balance.strategy
        if strategy == "ordered":
            ordered = list(plan.targets)  # (what `balance.order` does for it, without a call)
        else:
            ordered = balance.order(
                strategy, plan.targets, plan.weights, self.state.rng, self.state.latency
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
        provider = self.providers[target.provider]
        if provider.dialect == self.request.dialect:
            return None  # the caller's own dialect: nothing to work out, or remember
        known = self._translations
        if target in known:
            return known[target]
        found: Translation | Untranslatable
        try:
            found = translate(self.request, provider.options)
        except Untranslatable as exc:
            found = exc
            detail = f"{self.request.dialect} → {provider.dialect}: {exc.message}"
            self._skip(target, "untranslatable", detail, transient=False)
        known[target] = found
        return found

    async def _on_target(self, target: Target, queue: list[Target]) -> T | None:
        """Attempts on one target (with its retries, or raced); None to move on."""
        translation = self._translation(target)
        if isinstance(translation, Untranslatable):
            return None
        found = self.state.target(target)
        retry = self.policies.retry
        tries = 0
        held: float | None = None
        """A retry reserved through the breaker after a Retry-After (see `_reserve`)."""
        spent = False
        """The next attempt's budget was taken already, before its wait."""
        try:
            while True:
                if tries and self.deadline.expired:
                    self._skip(target, "deadline", "the request's deadline ran out first")
                    return None
                if not found.current:  # (the router's state was reset meanwhile)
                    found = self.state.target(target)
                breaker = found.breaker
                # Whether another target could take it matters only to a breaker that is
                # not closed (a last-resort trial): don't look on every attempt.
                closed = breaker.state is _CLOSED
                admit = breaker.admit(held, not closed and not self._others(queue))
                held = None
                if admit is _DENY:
                    wait = breaker.reopens_in()
                    why = self.state.opened_because.get(target)
                    because = f": {why};" if why else ","
                    self._skip(target, "open", f"breaker open{because} next probe in {wait:.1f}s")
                    return None
                probe = admit is _PROBE
                kind = (
                    "probe" if probe else "retry" if tries else "fallback" if self.made else "first"
                )
                # (A first try at the request's first target is never extra: no look.)
                extra = tries or self.made or self.request.client_retries
                if extra and not spent and not self._spend(target, tries, probe):
                    return None
                spent = False
                tries += 1
                race = self._race(target, probe, queue, tries == 1) if queue else None
                if race is None:
                    outcome = await self._attempt(target, probe, kind, translation, None, found)
                else:
                    # The race's first attempt, awaited here rather than in a coroutine
                    # of the race's: most races never start a partner.
                    raced: Outcome[T] | None = None
                    try:
                        try:
                            raced = await self._attempt(
                                target, probe, kind, translation, race, found
                            )
                        except asyncio.CancelledError:
                            if not race.interrupted():
                                raise
                            # (a partner won: its outcome is the race's)
                        finally:
                            race.ended()
                        if race.partners is not None:
                            raced = await race.settle(raced)
                    finally:
                        if race.partners is None:
                            race.release()
                        else:
                            await race.close()
                    assert raced is not None
                    outcome = raced
                if outcome.ok:
                    return outcome.result
                error, verdict = outcome.error, outcome.verdict
                if error is None or verdict is None:
                    return None  # skipped (at its cap), or a race that both sides lost
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
                ok, held = self._reserve(target, error)
                if not ok:
                    return None
                if not self.state.budget(target).try_spend():
                    self._skip(target, "budget", _BUDGET_SPENT)
                    return None
                self._charge(target)
                spent = True
                await self.state.clock.sleep(delay)
        finally:
            if held is not None:
                self.state.breakers[target].unhold()

    def _reserve(self, target: Target, error: UpstreamError) -> tuple[bool, float | None]:
        """Before waiting out a Retry-After on `target`: the breaker that hint opened must
        let this retry through afterwards. (False, None) when too many requests wait on
        the target already; else (True, the reservation, see `Breaker.hold`, or None when
        none is needed)."""
        retry_after = getattr(error, "retry_after", None)
        breaker = self.state.breakers[target]
        if retry_after is None or breaker.state is State.CLOSED:
            return True, None
        held = breaker.hold(self.policies.retry.max_waiting)
        if held is None:
            return False, None
        self.state.counters.add("retry_after_waited", target)
        return True, held

    def _others(self, queue: list[Target]) -> bool:
        """Whether a target left in `queue` could take the request now: if none could, a
        half-open target lets it through beside its probe rather than fail the caller."""
        return any(
            self.state.available(t) and not isinstance(self._translations.get(t), Untranslatable)
            for t in queue
        )

    def _spend(self, target: Target, tries: int, probe: bool) -> bool:
        """Extra attempts need room in the target's budget: same-target retries, an SDK's
        retry, and (with `retry.budget.fallbacks`) fallbacks. A first try never does."""
        fallback = self.made > 0 and self.policies.retry.budget.fallbacks
        extra = tries > 0 or fallback or (self.request.client_retries > 0 and not probe)
        if not extra:
            return True
        if self.state.budget(target).try_spend():
            self._charge(target)
            return True
        self.state.released(target, probe)
        self._skip(target, "budget", _BUDGET_SPENT)
        return False

    def _race(
        self, target: Target, probe: bool, queue: list[Target], first: bool
    ) -> Race[T] | None:
        """The race that watches the attempt on `target` while `queue` holds another
        target to start beside it if it is slow to its first content (None: nothing can
        race it, the attempt runs unwatched)."""
        streamed = self.request.stream or self.providers[target.provider].config.always_stream
        hedge = None
        policies = self.policies
        if first and not probe and policies.hedge.enabled:
            hedge = hedge_delay(policies.hedge, target, self.state.latency)
        if not streamed:
            if hedge is None:
                return None
            return Race(self, target, queue, hedge, None, None, False)
        deadlines = policies.deadlines
        if deadlines.first_token == "auto":
            limit = self.state.first_tokens.limit(
                deadlines.adaptive, target, len(self.request.body)
            )
        else:
            limit = deadlines.first_token
        silence = self.state.silence
        after, silent = None, False  # (`silent` matters only with a threshold)
        if silence.enabled:
            after, silent = silence.outlook(target, deadlines.first_byte)
        return Race(self, target, queue, hedge, limit, after, silent)

    def _race_partner(
        self, queue: list[Target], budget: bool
    ) -> tuple[Target, bool, Translation | None] | None:
        """The next target that can take a racing attempt now (taken off the queue): an
        opt-in hedge spends that target's retry budget, a race at the first-token limit
        is a fallback and does not (unless `retry.budget.fallbacks`)."""
        budget = budget or self.policies.retry.budget.fallbacks
        for index, candidate in enumerate(queue):
            if not self.state.available(candidate):
                continue
            translation = self._translation(candidate)
            if isinstance(translation, Untranslatable):
                continue
            if budget and not self.state.budget(candidate).try_spend():
                continue
            admit = self.state.admit(candidate)
            if admit is Admit.DENY:
                continue
            if budget:
                self._charge(candidate)
            del queue[index]
            return candidate, admit is Admit.PROBE, translation
        return None

    def _charge(self, target: Target) -> None:
        if self._charged is None:
            self._charged = set()
        self._charged.add(target)

    def _refund(self, target: Target) -> None:
        """The attempt on `target` was not made (busy): its budget token goes back."""
        charged = self._charged
        if charged is not None and target in charged:
            charged.discard(target)
            self.state.budget(target).refund()

    def _check_silence(self, target: Target) -> None:
        self.state.check_silence(target, self.policies.deadlines.first_byte)

    # ------------------------------------------------------------------ one attempt

    async def _attempt(
        self,
        target: Target,
        probe: bool,
        kind: str,
        translation: Translation | None,
        race: Race[T] | None = None,
        found: TargetState | None = None,
    ) -> Outcome[T]:
        """One attempt and its bookkeeping; never raises an UpstreamError. (`found`: the
        target's state, when the caller has it at hand.)"""
        state = self.state
        provider = self.providers[target.provider]
        busy: str | None = None
        pool = None
        place = state.limits.take(target)
        if place is None:
            busy = "at its limit of attempts in flight"
        else:
            pool = self.transport.pool(target.provider, provider.config.max_connections)
            # Every connection in use and as many requests waiting: busy without an
            # attempt (a flood's thousands of requests cost the least possible here).
            if pool.in_use >= pool.limit:  # (else `refused` is None: no call to say so)
                refused = pool.refused(self.transport.pool_wait)
                if refused is not None:
                    place.leave()
                    busy = refused.detail
        if busy is not None:
            if race is not None:
                race.skipped(target)  # given back here, not again when the race ends
            state.released(target, probe)
            self._refund(target)
            self._skip(target, "busy", busy)
            return Outcome(None)
        assert place is not None
        charged = False
        marks = self._charged
        if marks is not None and target in marks:
            marks.discard(target)  # from here the attempt is made or given back below
            charged = True
        # Every argument by position: a class called with keywords has them packed into
        # a dict and unpacked again (~550 instructions each).
        watch = race if race is not None else self._hooks
        attempt = Attempt(
            target, provider, self.request, self.deadline, self.policies.deadlines,
            state.clock, self.transport, translation, probe, watch, pool, self.loop,
        )  # fmt: skip
        if race is not None:
            race.begin(attempt)
        self.made += 1
        trace = self.request.trace
        if trace is not None:
            breaker = state.breakers[target].state.value
            attempt.span = trace.attempt(attempt, kind, self.made, breaker)
        once = self.once
        result: T
        try:
            if once is None:
                body, upstream, parsed = await attempt.complete()
                rid = upstream.headers.get(provider.wire.request_id_header)
                answer = Answer(body, target, self.attempts, rid, attempt.warnings, parsed)
                result = answer  # type: ignore[assignment]  # (T is Answer: no `cast` call)
            else:
                result = await once(attempt, self.attempts)
        except BaseException as exc:
            place.leave()
            if isinstance(exc, PoolBusy):
                # Nothing was sent: failsoft's own limit, not the target's failure. No
                # breaker, budget, streak or health window hears of it (no event either).
                self.made -= 1
                state.released(target, probe, attempt.started)
                if charged:
                    state.budget(target).refund()  # nothing was sent: no load added
                self._skip(target, "busy", exc.detail)
                return Outcome(None)
            if race is not None and race.lost(attempt):
                race.record_loss(attempt, kind)
                if isinstance(exc, RaceLost):
                    return Outcome(None)
                raise
            if not isinstance(exc, UpstreamError):
                state.released(target, probe and not attempt.probe_settled, attempt.started)
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
            error = exc
            translated = attempt.translation is not None
            verdict = classify(error, attempt.provider.wire, translated=translated)
            duration = state.clock.monotonic() - attempt.started
            retry_after = getattr(error, "retry_after", None)
            settled = attempt.probe_settled
            state.failed(
                target, probe and not settled, verdict, retry_after, duration,
                attempt.started, settled,
            )  # fmt: skip
            state.counters.add("dropped_events", target, attempt.dropped)
            self._failed(attempt, error, verdict, kind)
            if verdict is Verdict.NEXT_TARGET and isinstance(error, UpstreamStatusError):
                self.refusal = error
            return Outcome(attempt, error=error, verdict=verdict)
        first_token = attempt.first_token
        if first_token is not None and attempt.headers_at is not None:
            state.first_tokens.observe(
                self.policies.deadlines.adaptive, target, first_token, len(self.request.body)
            )
        if isinstance(result, CommittedStream):
            # A relayed stream keeps its target busy until it ends, and its verdict waits
            # for the end too: a stream that breaks after its first tokens is a failure.
            result.on_close.append(place.leave)
            state.committed(target, first_token)
        else:
            place.leave()
            settled = attempt.probe_settled
            if found is None:
                found = state.target(target)
            state.answered(
                found, target, probe and not settled, first_token, attempt.started, settled
            )
            if attempt.dropped:
                state.counters.add("dropped_events", target, attempt.dropped)
        duration = state.clock.monotonic() - attempt.started
        record = AttemptRecord(target, "200", "", True, duration, None, kind)  # (by position)
        self._record(record, attempt, ok=True)
        span = attempt.span
        if span is not None:
            if isinstance(result, CommittedStream):
                # Its span lasts as long as the upstream stream, and says if it broke.
                result.on_close.append(lambda: span.end_stream(result))
            else:
                span.end(record, True)
        return Outcome(attempt, result)

    # ------------------------------------------------------------------ records

    def _skip(self, target: Target, outcome: str, detail: str, transient: bool = True) -> None:
        record = AttemptRecord(target, outcome, detail, transient, made=False)
        self.attempts.append(record)
        self.log_failure(self.request, record, None)
        if self.request.trace is not None:
            self.request.trace.skipped(record)

    def _failed(self, attempt: Attempt, error: UpstreamError, verdict: Verdict, kind: str) -> None:
        outcome, detail = error.outcome, attempt.provider.scrub_text(error.detail)
        if verdict is Verdict.CREDENTIALS:
            # One token for every provider's way of saying it (Gemini's is a 400), and not
            # the upstream's message: OpenAI's quotes part of the key it refused.
            outcome, detail = "401", credentials_rejected(attempt.target.provider, error)
        record = AttemptRecord(
            attempt.target,
            outcome,
            detail,
            transient=verdict is Verdict.FAILOVER,
            duration=self.state.clock.monotonic() - attempt.started,
            retry_after=getattr(error, "retry_after", None),
            kind=kind,
        )
        self._record(record, attempt)
        self.log_failure(self.request, record, None)

    def _record(
        self, record: AttemptRecord, attempt: Attempt, ok: bool = False, at: int | None = None
    ) -> None:
        if at is None:
            self.attempts.append(record)
        else:
            self.attempts.insert(at, record)
        if not ok and attempt.span is not None:
            attempt.span.end(record, False)
        hub = self.state.hub
        if hub.attempts:
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
        refused = any(isinstance(t, Untranslatable) for t in self._translations.values())
        return exhausted(
            self.plan.name, self.attempts, self.state, refused, self.made, self.refusal
        )


class _Hooks:
    """An attempt's moments that the router's bookkeeping needs: the target's time to
    headers, for silence; the first content of a probe, which closes its breaker. A race
    watches its attempts itself and hands on to this."""

    __slots__ = ("state",)

    def __init__(self, state: RouterState) -> None:
        self.state = state

    def headers(self, attempt: Attempt) -> None:
        at = attempt.headers_at
        assert at is not None
        # Keyed by the attempt: a raced attempt waiting past the silence threshold was
        # registered under it (`Race`), and its answer takes it off that list.
        took = at - attempt.started - attempt.waited  # a wait for a connection left out
        self.state.silence.answered(attempt.target, attempt, took, at)

    def first_token(self, attempt: Attempt) -> None:
        if attempt.probe and not attempt.probe_settled:
            # A probe answers for the target as soon as it produces content: everyone else
            # is skipping the target meanwhile, and a long answer would hold them off.
            attempt.probe_settled = True
            self.state.breakers[attempt.target].settle_probe()
