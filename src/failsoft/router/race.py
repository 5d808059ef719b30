"""One attempt, raced by the next target when it is slow: the first content wins.

An attempt that has not produced its first content by its first-token limit (learnt per
target, `policy/first_token.py`), by the opt-in hedge delay, or while its target has been
recognised as silent (`policy/silence.py`) is not abandoned: the next available target is
started beside it, and whichever produces content first wins. The other is dropped at
that moment. A slow target therefore costs a caller about its limit, never more, and a
target that answers just after its limit still wins if the other is slower.

Almost no request is ever raced, so a race costs the usual request one small object (the
first attempt's watch) and one alarm: the first attempt runs inline in the request's own
task, driven by the run (`Run._on_target`: no coroutine of the race's between the run and
the attempt), and what racing takes (`_Partners`: the partners' tasks, what admitting them
took, why the race started) is made only when a partner starts. A partner runs as a task;
if it wins, the request's task is cancelled to interrupt the first attempt wherever it
waits, and the cancellation taken back (`Task.uncancel`) once it has arrived: what
`asyncio.timeout` does, without its cost on every request.

Which attempt won is decided once, at the first content event (`claim`). One that reaches
its first content after the other won raises `RaceLost` from inside its own read, so it
can never hand back a second answer. If a partner fails while the first attempt is still
waiting, the next available target takes its place.

The loser's trail entry says why it lost: `first_token_timeout` (slower than its limit),
`first_byte_timeout` (its target was silent), or `cancelled` (an opt-in hedge), and the
first two count as failures of that target.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, Generic, Protocol, TypeVar

from failsoft.config import Policies
from failsoft.policy.classify import Verdict
from failsoft.router.attempt import Attempt
from failsoft.router.outcome import Outcome, discard
from failsoft.router.phases import Watch
from failsoft.router.state import RouterState
from failsoft.router.timer import Alarm, alarms, current_task
from failsoft.translate import Translation
from failsoft.types import AttemptRecord, ChatRequest, Target

T = TypeVar("T")

_SLACK = 0.001


class RaceLost(Exception):
    """Raised inside an attempt that reached its first content after another had won."""


class Racer(Protocol[T]):
    """What a race needs of the request's run (`run.Run`)."""

    state: RouterState
    loop: asyncio.AbstractEventLoop
    attempts: list[AttemptRecord]
    policies: Policies
    request: ChatRequest
    _hooks: Watch
    """What every attempt's moments report to (a race adds its own to it)."""

    def log_failure(
        self, request: ChatRequest, record: AttemptRecord, then: str | None
    ) -> None: ...

    def _record(
        self, record: AttemptRecord, attempt: Attempt, ok: bool = False, at: int | None = None
    ) -> None: ...

    def _attempt(
        self,
        target: Target,
        probe: bool,
        kind: str,
        translation: Translation | None,
        race: Race[T] | None = None,
    ) -> Awaitable[Outcome[T]]: ...

    def _race_partner(
        self, queue: list[Target], budget: bool
    ) -> tuple[Target, bool, Translation | None] | None: ...

    def _check_silence(self, target: Target) -> None: ...


class _Partners(Generic[T]):
    """What a race holds once its first partner has started (made then, not before)."""

    __slots__ = ("current", "interrupted", "mark", "pending", "reason", "tasks")

    def __init__(self, reason: str, mark: int) -> None:
        self.tasks: list[asyncio.Task[Outcome[T]]] = []
        self.current: asyncio.Task[Outcome[T]] | None = None
        self.pending: dict[asyncio.Task[Outcome[T]], tuple[Target, bool, float]] = {}
        """Partners whose attempt has not begun yet, and when they were admitted (what
        admitting them took, a probe slot or a place among the attempts in flight, is
        given back if they are cancelled before they run)."""
        self.reason = reason
        """What started the first partner: `hedge`, `first_token` or `silence`."""
        self.mark = mark
        """Where the first partner's records begin: the loser's record goes before them."""
        self.interrupted = False
        """A partner won: the request's task was cancelled to stop the first attempt."""


class Race(Generic[T]):
    """The first attempt's watch, its alarm, and (once one starts) its partners. The run
    drives it: made before the first attempt (which arms its alarm), `ended` when that
    attempt has, then `settle` and `stop` only if a partner started, and `release`."""

    __slots__ = (
        "_alarm",
        "_alarms",
        "_check_at",
        "_hedge_at",
        "_race_at",
        "done",
        "headers",
        "late",
        "partners",
        "primary",
        "queue",
        "run",
        "silence_after",
        "target",
        "task",
        "winner",
    )

    def __init__(
        self,
        run: Racer[T],
        target: Target,
        queue: list[Target],
        hedge: float | None,
        first_token: float | None,
        silence_after: float | None,
        silent: bool,
    ) -> None:
        self.run = run
        self.headers = run._hooks.headers
        """Response headers (for either side): as for any attempt (the run's own hook,
        called directly)."""
        self.target = target
        self.queue = queue
        self.primary: Attempt | None = None
        self.winner: Attempt | None = None
        self.partners: _Partners[T] | None = None
        self.late = False
        """Registered with the silence watch as waiting past its threshold."""
        self.done = False
        """The first attempt has finished (its outcome is known)."""
        self.silence_after = silence_after
        loop = run.loop
        self.task: asyncio.Task[Any] | None = current_task(loop)
        """The request's task, which runs the first attempt inline."""
        self._alarms = found = alarms(loop)
        start = loop.time()
        self._hedge_at = when = None if hedge is None else start + hedge
        race_at = None if first_token is None else start + first_token
        self._check_at = None
        if silence_after is not None:
            soon = start + silence_after
            if silent:  # declared silent already: race it as soon as it looks so again
                race_at = soon if race_at is None or soon < race_at else race_at
            else:
                self._check_at = soon
                if when is None or soon < when:
                    when = soon
        self._race_at = race_at
        if race_at is not None and (when is None or race_at < when):
            when = race_at
        self._alarm: Alarm | None = None if when is None else found.at(when, self._on_timer)

    # ------------------------------------------------------------------ the run's side

    def interrupted(self) -> bool:
        """The first attempt was cancelled because a partner won (and not by anyone else:
        then the cancellation goes on)."""
        partners = self.partners
        if partners is None or not partners.interrupted or self.task is None:
            return False
        return self.task.uncancel() <= 0

    def ended(self) -> None:
        """The first attempt has finished, however it did."""
        self.done = True
        if self._alarm is not None:  # (cancelled already when content came)
            self._cancel_timer()
        if self.late:
            self.run.state.silence.gone(self.target, self.primary)

    async def close(self) -> None:
        """The race is over, after a partner started: stop the partners, then `release`."""
        try:
            if self.partners is not None and self.partners.tasks:
                await self.stop()
        finally:
            self.release()

    def release(self) -> None:
        """The race is over: let go of its attempts. Each attempt's `watch` is this race,
        so holding them made a reference cycle per request, left for the garbage
        collector (a collection every few dozen requests, and the requests' objects kept
        alive until then); without it they are freed as soon as they are done with."""
        self.primary = self.winner = None
        partners = self.partners
        if partners is not None:
            partners.tasks.clear()
            partners.current = None

    # ------------------------------------------------------------------ an attempt's moments

    def first_token(self, attempt: Attempt) -> None:
        """First content (for either side): it wins, or it lost and stops here."""
        if self.winner is None and self.partners is None:
            # The usual race, never run: the first attempt wins (`claim`, written out).
            self.winner = attempt
            alarm = self._alarm
            if alarm is not None:
                self._alarm = None
                self._alarms.cancel(alarm)
        elif not self.claim(attempt):
            raise RaceLost()
        if attempt.probe:  # (all the run's own hook does with any other attempt: nothing)
            self.run._hooks.first_token(attempt)

    def begin(self, attempt: Attempt) -> None:
        """An attempt of this race was created (the first one is the primary)."""
        if self.primary is None:
            self.primary = attempt
            return
        self.skipped(attempt.target)

    def skipped(self, target: Target) -> None:
        """A partner for `target` began, or was skipped before its attempt (busy): either
        way what admitting it took is no longer this race's to give back."""
        partners = self.partners
        if partners is None:
            return
        for task, (pending, _, _) in list(partners.pending.items()):
            if pending == target:
                del partners.pending[task]
                break

    def claim(self, attempt: Attempt) -> bool:
        """`attempt` produced its first content (or, unstreamed, its answer): does it win?"""
        if self.winner is None:
            self.winner = attempt
            self._cancel_timer()
            partners = self.partners
            if partners is not None:  # (with none, `attempt` is the first attempt)
                if attempt is self.primary:
                    for task in partners.tasks:
                        task.cancel()
                else:
                    self._interrupt(partners)
            return True
        return self.winner is attempt

    def lost(self, attempt: Attempt) -> bool:
        return self.winner is not None and self.winner is not attempt

    def record_loss(self, attempt: Attempt, kind: str) -> None:
        """Bookkeeping for an attempt that lost: a slow or silent first attempt is a
        failure of its target (recorded before the winner in the trail); a partner or an
        opt-in hedge merely stands down."""
        run = self.run
        state = run.state
        target = attempt.target
        outcome, failed = self.loss(attempt)
        duration = state.clock.monotonic() - attempt.started
        winner = self.winner.target.label if self.winner is not None else "another target"
        mark = self.partners.mark if self.partners is not None else 0
        if not failed:
            state.released(target, attempt.probe and not attempt.probe_settled, attempt.started)
            if outcome == "busy":
                detail = f"waited {duration:.1f}s for a connection of its pool; {winner} answered"
                record = AttemptRecord(target, outcome, detail, duration=duration, made=False)
                run._record(record, attempt, at=mark if attempt is self.primary else None)
                return
            record = AttemptRecord(target, outcome, transient=False, duration=duration, kind=kind)
            run._record(record, attempt)
            return
        if outcome == "first_byte_timeout":
            detail = f"no response within {duration:.1f}s (a silent target); {winner} answered"
        else:
            detail = f"no content within {duration:.1f}s (first-token limit); {winner} was first"
            if attempt.headers_at is not None:
                # It is alive, only slow: a target still learning its limit learns from it.
                adaptive = run.policies.deadlines.adaptive
                took = duration - attempt.waited  # a wait for a connection left out
                state.first_tokens.lost(adaptive, target, took, len(run.request.body))
        state.failed(target, attempt.probe, Verdict.FAILOVER, None, duration, attempt.started)
        record = AttemptRecord(target, outcome, detail, duration=duration, kind=kind)
        run._record(record, attempt, at=mark)
        run.log_failure(run.request, record, None)

    def loss(self, attempt: Attempt) -> tuple[str, bool]:
        """The trail outcome of an attempt that lost, and whether it counts as a failure
        of its target (a slow or silent first attempt does; a partner, a hedge or an attempt
        still waiting for a connection of its pool does not)."""
        reason = self.partners.reason if self.partners is not None else None
        if not attempt.sent:
            return "busy", False  # still waiting for a connection of its pool: never sent
        if attempt is not self.primary or reason == "hedge":
            return "cancelled", False
        if reason == "silence":
            return "first_byte_timeout", True
        return "first_token_timeout", True

    # ------------------------------------------------------------------ partners

    def _trigger(self, reason: str) -> None:
        partners = self.partners
        if self.done or self.winner is not None:
            return
        if partners is not None and partners.current is not None:
            return
        found = self.run._race_partner(self.queue, reason == "hedge")
        if found is None:
            return
        partner, probe, translation = found
        if partners is None:
            partners = self.partners = _Partners(reason, len(self.run.attempts))
        kind = "hedge" if reason == "hedge" else "fallback"
        task = asyncio.ensure_future(self.run._attempt(partner, probe, kind, translation, self))
        partners.tasks.append(task)
        partners.pending[task] = (partner, probe, self.run.state.clock.monotonic())
        partners.current = task
        task.add_done_callback(self._partner_done)

    def _partner_done(self, task: asyncio.Task[Outcome[T]]) -> None:
        partners = self.partners
        assert partners is not None
        if task is partners.current:
            partners.current = None
        if task.cancelled():
            return
        outcome = task.result()
        if outcome.ok:
            assert outcome.attempt is not None
            self.claim(outcome.attempt)  # an unstreamed answer wins when it is complete
        elif not self.done and self.winner is None:
            self._trigger(partners.reason)  # the next target takes its place

    def _silent(self) -> None:
        self._trigger("silence")

    def _interrupt(self, partners: _Partners[T]) -> None:
        # Only ever called from another task or a callback, so the request's task is
        # suspended inside the first attempt (`done` is set as soon as that returns).
        if not self.done and self.task is not None and not partners.interrupted:
            partners.interrupted = True
            self.task.cancel()

    async def settle(self, outcome: Outcome[T] | None) -> Outcome[T]:
        """The race's outcome, once a partner has started: the first attempt's own, or the
        winning partner's (waited for)."""
        partners = self.partners
        if partners is None or not partners.tasks:
            assert outcome is not None
            return outcome
        if outcome is not None and outcome.ok:
            assert outcome.attempt is not None
            if self.claim(outcome.attempt):
                return outcome
            await discard(outcome.result)  # both answered at once: keep the first
        elif (
            outcome is not None and outcome.verdict is Verdict.CLIENT_FAULT and self.winner is None
        ):
            return outcome  # the caller's own fault: every target would refuse it
        task = self._winning_task(partners) or partners.tasks[-1]
        result = await task
        if result.ok or result.verdict is Verdict.CLIENT_FAULT:
            partners.tasks.remove(task)  # handed on: not ours to clean up
            return result
        return Outcome(None)

    def _winning_task(self, partners: _Partners[T]) -> asyncio.Task[Outcome[T]] | None:
        for task in partners.tasks:
            if task.done() and not task.cancelled():
                found = task.result()
                if found.attempt is not None and found.attempt is self.winner:
                    return task
        for task in partners.tasks:
            if not task.done():
                return task
        return None

    async def stop(self) -> None:
        """Stop the partners still running, and give back what admitting those that never
        began took (only once a partner has started)."""
        partners = self.partners
        if partners is None:
            return
        tasks = partners.tasks
        for task in tasks:
            if not task.done():
                task.cancel()
        if not tasks:
            return
        await asyncio.gather(*tasks, return_exceptions=True)
        for task in tasks:
            if not task.cancelled() and task.exception() is None:
                found = task.result()
                if found.ok:
                    await discard(found.result)
        for target, probe, admitted in partners.pending.values():
            # Cancelled before its attempt began: give back what admitting it took.
            self.run.state.released(target, probe, admitted)
        partners.pending.clear()

    # ------------------------------------------------------------------ timers

    def _schedule(self) -> None:
        when = self._race_at
        for other in (self._hedge_at, self._check_at):
            if other is not None and (when is None or other < when):
                when = other
        if when is not None and not self.done and self.winner is None:
            self._alarm = self._alarms.at(when, self._on_timer)

    def _cancel_timer(self) -> None:
        if self._alarm is not None:
            self._alarms.cancel(self._alarm)
            self._alarm = None

    def _on_timer(self) -> None:
        self._alarm = None
        if self.done or self.winner is not None:
            return
        now = asyncio.get_running_loop().time() + _SLACK
        if self._hedge_at is not None and now >= self._hedge_at:
            self._hedge_at = None
            self._trigger("hedge")
        if self._race_at is not None and now >= self._race_at:
            self._race_at = None
            self._trigger("first_token")
        if self._check_at is not None and now >= self._check_at:
            self._check_at = None
            primary = self.primary
            if primary is not None and primary.queued and self.silence_after is not None:
                # Still waiting for a connection of its pool: nothing was sent, so its
                # target cannot be silent yet. Look again later.
                self._check_at = now + self.silence_after
            elif primary is not None and primary.headers_at is None:
                # Still no response after the threshold: count it as waiting, and see
                # whether the target has gone silent.
                if self.run.state.silence.late(self.target, primary, self._silent):
                    self._trigger("silence")  # declared silent while this one waited
                else:
                    self.late = True
                    self.run._check_silence(self.target)
        self._schedule()
