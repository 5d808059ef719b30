"""The health side of a gateway process: listens to the router's events, keeps the windows,
computes each model's state, keeps incidents, and tells the store and the webhooks.

Hot path cost is the event subscribers: a few counter increments per attempt, and a set
insert for an attempt that failed (to count requests failed over or lost while an incident
is open). Everything else runs every `health.evaluate_every` seconds in one task.

Processes that share a store judge together (`failsoft.health.shared`): each evaluation
pools their evidence, and only the holder of the `health` lease writes states and
incidents and tells the webhooks; the others show what it decided.

What is shown (`health()`, `callers()`, the declared status) is `failsoft.health.reading`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from failsoft.clock import Clock
from failsoft.config import Config
from failsoft.events import AttemptFinished, BreakerChanged, EventHub, RequestFinished
from failsoft.health.callers import Summary
from failsoft.health.direct import DirectComponents, series_label
from failsoft.health.evidence import Report, Seen
from failsoft.health.incidents import ComponentView, Event, IncidentKeeper
from failsoft.health.model import Observation, StateTracker, bad_without_failures, observed_state
from failsoft.health.reading import HealthReading
from failsoft.health.shared import Exchange, Round, adopt, merged, sync_incidents
from failsoft.health.types import Incident, ProviderStatus, Transition
from failsoft.health.windows import FAILURES, PassiveHealth, TargetStats, classify
from failsoft.router.state import RouterState
from failsoft.store import Store, StoreUnavailable
from failsoft.types import Target

log = logging.getLogger("failsoft.health")

Listener = Callable[[str, Incident], None]


class HealthMonitor(HealthReading):
    def __init__(
        self,
        config: Config,
        state: RouterState,
        hub: EventHub,
        store: Store,
        clock: Clock,
    ) -> None:
        self.config = config
        self.router_state = state
        self.store = store
        self.clock = clock
        self.passive = PassiveHealth()
        self.keeper = IncidentKeeper(config.health)
        self.components: dict[str, Target] = {}
        for plan in config.models.values():
            for target in plan.targets:
                self.components.setdefault(target.label, target)
        self.trackers: dict[str, StateTracker] = {}
        self.declared: dict[str, ProviderStatus] = {}
        self.breakers: dict[str, str] = {}
        self._standing: set[str] = set()
        """Components whose breaker is open for the long period (a refused key, a spent
        quota): no traffic reaches them, yet the failure stands until a probe says not."""
        self.listeners: list[Listener] = []
        self.on_lead: list[Callable[[], None]] = []
        """Called when the store confirms this process as the health leader: at its first
        round with the store, and on taking over (e.g. to send what the previous leader
        left in the webhook outbox)."""
        self._confirmed = False
        """Whether the store has said this process leads since it last said otherwise."""
        self._failing: dict[str, set[str]] = {}
        self._stats: dict[Target, TargetStats] = {}
        self._direct = DirectComponents()
        """Components no plan names (bounded)."""
        self.requests: dict[tuple[str, int], int] = {}
        """Caller requests by (virtual model, status seen), for metrics."""
        self.shared = Exchange(store, 3 * config.health.evaluate_every, config.status.history_days)
        self.caller_summary: Callable[[], Summary] | None = None
        """What this process's callers got (`CallerTally.summary`): shared with the other
        processes, merged by `callers()`."""
        self._counted: dict[str, list[int]] = {}
        """Per component, requests failed over and lost since start (for the leader)."""
        self._saved: dict[str, float] = {}
        """Incident id → when this process last wrote it (monotonic)."""
        self._held: dict[str, float] = {}
        """Per component, when something other than failures last kept it below operational."""
        self._task: asyncio.Task[None] | None = None
        self.history_loaded = False
        """Whether `load_history` has run (not when the store was away at start)."""
        self._writes: set[asyncio.Task[None]] = set()
        hub.subscribe(AttemptFinished, self._attempt)
        hub.subscribe(RequestFinished, self._request)
        hub.subscribe(BreakerChanged, self._breaker)

    # ------------------------------------------------------------------ events (hot path)

    def _attempt(self, event: AttemptFinished) -> None:
        stats = self._stats.get(event.target)
        if stats is None:
            key = event.target.label
            if key not in self.components:
                # `provider/model` asked directly: a component once it answered.
                if not event.ok:
                    return
                self._admit(key, event.target)
            stats = self._stats[event.target] = self.passive.stats(key)
        elif self._direct.order and event.target in self._direct.order:
            self._direct.seen(event.target)
        stats.record(self.clock.monotonic(), event.outcome, event.duration, event.first_token)
        if not event.ok and classify(event.outcome) in FAILURES:
            self._failing.setdefault(event.request_id, set()).add(event.target.label)

    def _admit(self, key: str, target: Target) -> None:
        """A direct target that answered becomes a component; past
        `health.max_direct_components` the least recently seen one is forgotten."""
        for old in self._direct.admit(target, self.config.health.max_direct_components):
            self._forget(old)
        self.components[key] = target

    def _forget(self, target: Target) -> None:
        key = target.label
        self.components.pop(key, None)
        self._stats.pop(target, None)
        self.passive.forget(key)
        for found in (self.trackers, self._held, self.breakers, self._counted):
            found.pop(key, None)
        self._standing.discard(key)
        self.keeper.drop_component(key)

    def _request(self, event: RequestFinished) -> None:
        seen = (event.virtual_model, event.status)
        count = self.requests.get(seen)
        if count is None:
            label = series_label(self.config, event.virtual_model, len(self.requests))
            seen = (label, event.status)
            count = self.requests.get(seen, 0)
        self.requests[seen] = count + 1
        if event.broken and event.target is not None and event.target.label in self.components:
            self.passive.stats(event.target.label).record_cut(self.clock.monotonic())
            self._failing.setdefault(event.request_id, set()).add(event.target.label)
        failed = self._failing.pop(event.request_id, None)
        if failed and not event.shed:
            lost = not event.ok and event.status != 499
            for key in failed:
                if event.ok and event.target is not None and event.target.label == key:
                    continue  # it failed once, then answered on a retry
                self.keeper.count(key, lost)
                counted = self._counted.get(key)
                if counted is None:
                    counted = self._counted[key] = [0, 0]
                counted[lost] += 1

    def _breaker(self, event: BreakerChanged) -> None:
        key = event.target.label
        if key not in self.components:
            return  # a direct target that never answered: nothing to show
        self.breakers[key] = event.state
        long = event.open_for is not None and event.open_for > self.config.breaker.max_open_for
        if event.state == "open" and long:
            self._standing.add(key)
        elif event.state != "open":
            self._standing.discard(key)

    def reconfigure(self, config: Config) -> None:
        """A reloaded config: what was observed, the incidents and their timers are kept.
        Targets new to the plans become components; one that no plan names any more
        stops being shown (its observations are kept, and an open incident about it
        resolves as usual once nothing fails there)."""
        planned = {t.label: t for plan in config.models.values() for t in plan.targets}
        before = {t.label for plan in self.config.models.values() for t in plan.targets}
        for label in before - planned.keys():
            self.components.pop(label, None)
        for label, target in list(self.components.items()):
            if target.provider not in config.providers:
                del self.components[label]
        for label, target in planned.items():
            self.components.setdefault(label, target)
            self._direct.discard(target)
        self._direct.keep_only(set(self.components))
        for name in [n for n in self.declared if n not in config.providers]:
            del self.declared[name]
        self.config = config
        self.keeper.config = config.health

    def reset(self) -> None:
        """Forget everything observed (tests that share one gateway start clean)."""
        self.passive = PassiveHealth()
        self._stats.clear()
        for target in self._direct.clear():
            self.components.pop(target.label, None)
        self.keeper = IncidentKeeper(self.config.health)
        self.trackers.clear()
        self.breakers.clear()
        self._standing.clear()
        self.requests.clear()
        self._failing.clear()
        self._counted.clear()
        self._saved.clear()
        self._held.clear()
        self.shared.forget()
        clear = getattr(self.store, "clear", None)
        if clear is not None:
            clear()

    # ------------------------------------------------------------------ lifecycle

    async def start(self, *, loop: bool = True) -> None:
        """Load what the store knows (the store is opened, and closed, by the runtime)."""
        try:
            await self.load_history()
        except StoreUnavailable as exc:
            # The runtime loads it once the store answers (`QueuedStore.when_up`).
            self.history_loaded = False
            log.debug("history not loaded at start: %s", exc)
        if self.history_loaded:  # learn the role before the first evaluation
            found = await self.shared.round(None, self.clock.wall())
            self._settle(found, self.clock.monotonic(), self.clock.wall())
        if loop:
            self._task = asyncio.create_task(self._loop(), name="failsoft-health")

    async def load_history(self) -> None:
        """Unresolved incidents and each component's last state, from the store: at start,
        or later when the store was away then. What this process has seen since wins."""
        unresolved = await self.store.incidents(unresolved=True)
        self.keeper.load(i for i in unresolved if i.id not in self.keeper.active)
        since = self.now() - timedelta(days=self.config.status.history_days)
        for key, items in (await self.store.transitions(since)).items():
            if items and key not in self.trackers:
                last = items[-1]
                self.trackers[key] = StateTracker(last.state, self.clock.monotonic())
        self.history_loaded = True

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.shared.close(self.clock.wall())
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            await self.clock.sleep(self.config.health.evaluate_every)
            try:
                await self.evaluate()
            except Exception:
                log.exception("health evaluation failed")

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.wall(), UTC)

    # ------------------------------------------------------------------ evaluation

    async def evaluate(self) -> list[Event]:
        """Recompute every state from the evidence of every process; as the leader, persist
        transitions and incident changes and return the incident events (also sent to the
        listeners); as a follower, take the leader's incidents from the store."""
        found = await self.shared.result()
        mono, now = self.clock.monotonic(), self.now()
        wall, config = now.timestamp(), self.config.health
        if found is not None:
            self._settle(found, mono, wall)
        leading, peers = self.shared.leading, self.shared.fresh(wall)
        adopt(self.components, peers, self.config.providers, self._admit)
        maintenance = self.keeper.under_maintenance(now)
        views, own = [], {}
        # A snapshot: the loop awaits the store, and requests add components meanwhile.
        for key, target in list(self.components.items()):
            own[key] = self._local(key, mono, wall)
            seen = merged(key, own[key], peers)
            failed = None if seen.last_failure is None else mono - (wall - seen.last_failure)
            obs = Observation(
                seen.minute,
                seen.five,
                seen.breaker,
                self.declared_state(target),
                key in maintenance,
                None if failed is None else mono - failed,
            )
            candidate, rate = observed_state(obs, config)
            tracker = self.trackers.get(key)
            if tracker is None:
                # First sight of this component: its history (and uptime) starts now.
                tracker = self.trackers[key] = StateTracker("operational", mono)
                if leading:
                    await self.store.add_transition(Transition(key, "operational", now))
            if bad_without_failures(obs, config):
                self._held[key] = mono  # the last sign of a bad state that is not failures
            known = [t for t in (failed, self._held.get(key)) if t is not None]
            last = max(known) if known else None
            if tracker.update(candidate, mono, config.recover_after, last) and leading:
                log.info("%s is now %s", key, tracker.state.replace("_", " "))
                at = datetime.fromtimestamp(wall - (mono - tracker.since), UTC)
                await self.store.add_transition(Transition(key, tracker.state, at))
            window = seen.minute if seen.minute.requests >= config.min_requests else seen.five
            views.append(
                ComponentView(
                    key,
                    target.provider,
                    target.model,
                    tracker.state,
                    rate,
                    window.top_outcome(),
                    window.requests,
                    last,
                )
            )
        events = await self._judge(views, mono, now) if leading else []
        self.shared.start(self._report(own, mono, wall), wall)
        if config.demote_on_declared:
            self.router_state.demoted = frozenset(
                t for t in self.components.values() if self.declared_state(t) == "major_outage"
            )
        return events

    async def _judge(self, views: list[ComponentView], mono: float, now: datetime) -> list[Event]:
        """The leader's part: incidents opened, updated and resolved, stored and told."""
        for key, over, lost in self.shared.grown(now.timestamp()):
            self.keeper.count(key, False, over)
            self.keeper.count(key, True, lost)
        events = self.keeper.observe(views, mono, now) + self.keeper.expire_maintenance(now)
        for kind, incident in events:
            await self._save(incident)
            self.keeper.dirty.discard(incident.id)
            log.warning("%s: %s [%s]", kind, incident.title, incident.status)
            self._tell(kind, incident)
        # Keep the request counters of open incidents current in the store (a restart
        # loses at most one evaluation's worth).
        for incident_id in list(self.keeper.dirty):
            self.keeper.dirty.discard(incident_id)
            if incident_id in self.keeper.active:
                await self._save(self.keeper.active[incident_id])
        return events

    async def _save(self, incident: Incident) -> None:
        self._saved[incident.id] = self.clock.monotonic()
        await self.store.save_incident(incident)

    def _settle(self, found: Round, mono: float, wall: float) -> None:
        """Apply what the last round with the store found: the role, and the incidents."""
        self._told_lead(found.leading)
        if self.shared.settle(found):
            # Just became the leader: start from the store's incidents and states, as after
            # a restart, not from what this process showed as a follower.
            unresolved = found.stored
            if unresolved is None:
                unresolved = list(self.keeper.active.values())
            self.keeper = IncidentKeeper(self.config.health)
            self.keeper.load(unresolved)
            for key, items in (found.transitions or {}).items():
                if items:
                    since = mono - (wall - items[-1].at.timestamp())
                    self.trackers[key] = StateTracker(items[-1].state, since)
        if found.stored is not None:
            # Written in the last two evaluations: may not be visible in the store yet.
            recent = mono - 2 * self.config.health.evaluate_every
            self._saved = {i: at for i, at in self._saved.items() if at >= recent}
            pending = self._saved.keys()
            sync_incidents(self.keeper, found.stored, leading=self.shared.leading, pending=pending)

    def _told_lead(self, leading: bool | None) -> None:
        if leading is False:
            self._confirmed = False
        elif leading and not self._confirmed:
            self._confirmed = True
            for hook in self.on_lead:
                try:
                    hook()
                except Exception:
                    log.exception("a health leader hook failed")

    def _report(self, own: dict[str, Seen], mono: float, wall: float) -> Report:
        states = {}
        if self.shared.leading:
            states = {k: (t.state, wall - (mono - t.since)) for k, t in self.trackers.items()}
        return Report(
            holder=self.shared.holder,
            at=wall,
            leader=self.shared.leading,
            components={
                k: s
                for k, s in own.items()
                if s.five.requests or s.breaker != "closed" or s.last_failure is not None
            },
            counts={k: (n[0], n[1]) for k, n in self._counted.items()},
            callers=self.caller_summary() if self.caller_summary is not None else {},
            states=states,
        )

    def _tell(self, kind: str, incident: Incident) -> None:
        for listener in self.listeners:
            try:
                listener(kind, incident)
            except Exception:
                log.exception("an incident listener failed")

    async def record(self, event: Event) -> None:
        """Persist and announce an incident change made by hand (admin API)."""
        kind, incident = event
        await self._save(incident)
        self._tell(kind, incident)
