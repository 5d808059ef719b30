"""The health side of a gateway process: listens to the router's events, keeps the windows,
computes each model's state, keeps incidents, and tells the store and the webhooks.

Hot path cost is the event subscribers: a few counter increments per attempt, and a set
insert for an attempt that failed (to count requests failed over or lost while an incident
is open). Everything else runs every `health.evaluate_every` seconds in one task.
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
from failsoft.health.incidents import ComponentView, Event, IncidentKeeper
from failsoft.health.model import Observation, StateTracker, observed_state
from failsoft.health.types import (
    ComponentHealth,
    Incident,
    ProviderStatus,
    State,
    Transition,
    worst,
)
from failsoft.health.windows import FAILURES, PassiveHealth, TargetStats, classify
from failsoft.router.state import RouterState
from failsoft.store import Store
from failsoft.types import Target

log = logging.getLogger("failsoft.health")

Listener = Callable[[str, Incident], None]


class HealthMonitor:
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
        self.listeners: list[Listener] = []
        self._failing: dict[str, set[str]] = {}
        self._stats: dict[Target, TargetStats] = {}
        self.requests: dict[tuple[str, int], int] = {}
        """Caller requests by (virtual model, status seen), for metrics."""
        self._task: asyncio.Task[None] | None = None
        self._writes: set[asyncio.Task[None]] = set()
        hub.subscribe(AttemptFinished, self._attempt)
        hub.subscribe(RequestFinished, self._request)
        hub.subscribe(BreakerChanged, self._breaker)

    # ------------------------------------------------------------------ events (hot path)

    def _attempt(self, event: AttemptFinished) -> None:
        stats = self._stats.get(event.target)
        if stats is None:
            key = event.target.label
            self.components.setdefault(key, event.target)  # `provider/model` asked directly
            stats = self._stats[event.target] = self.passive.stats(key)
        stats.record(self.clock.monotonic(), event.outcome, event.duration, event.first_token)
        if not event.ok and classify(event.outcome) in FAILURES:
            self._failing.setdefault(event.request_id, set()).add(event.target.label)

    def _request(self, event: RequestFinished) -> None:
        seen = (event.virtual_model, event.status)
        self.requests[seen] = self.requests.get(seen, 0) + 1
        if event.broken and event.target is not None:
            self.passive.stats(event.target.label).record_cut(self.clock.monotonic())
            self._failing.setdefault(event.request_id, set()).add(event.target.label)
        failed = self._failing.pop(event.request_id, None)
        if failed and not event.shed:
            lost = not event.ok and event.status != 499
            for key in failed:
                if event.ok and event.target is not None and event.target.label == key:
                    continue  # it failed once, then answered on a retry
                self.keeper.count(key, lost)

    def _breaker(self, event: BreakerChanged) -> None:
        self.breakers[event.target.label] = event.state

    def reset(self) -> None:
        """Forget everything observed (tests that share one gateway start clean)."""
        self.passive = PassiveHealth()
        self._stats.clear()
        self.keeper = IncidentKeeper(self.config.health)
        self.trackers.clear()
        self.breakers.clear()
        self.requests.clear()
        self._failing.clear()
        clear = getattr(self.store, "clear", None)
        if clear is not None:
            clear()

    # ------------------------------------------------------------------ lifecycle

    async def start(self, *, loop: bool = True) -> None:
        await self.store.open()
        self.keeper.load(await self.store.incidents(unresolved=True))
        since = self.now() - timedelta(days=self.config.status.history_days)
        for key, items in (await self.store.transitions(since)).items():
            if items:
                last = items[-1]
                self.trackers[key] = StateTracker(last.state, self.clock.monotonic())
        if loop:
            self._task = asyncio.create_task(self._loop(), name="failsoft-health")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
        await self.store.close()

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
        """Recompute every state; persist transitions and incident changes; return the
        incident events (also sent to the listeners)."""
        mono, now = self.clock.monotonic(), self.now()
        config = self.config.health
        maintenance = self.keeper.under_maintenance(now)
        views = []
        for key, target in self.components.items():
            minute = self.passive.window(key, mono, "1m")
            five = self.passive.window(key, mono, "5m")
            obs = Observation(
                minute,
                five,
                self.breakers.get(key, "closed"),
                self.declared_state(target),
                key in maintenance,
            )
            candidate, rate = observed_state(obs, config)
            tracker = self.trackers.get(key)
            if tracker is None:
                # First sight of this component: its history (and uptime) starts now.
                tracker = self.trackers[key] = StateTracker("operational", mono)
                await self.store.add_transition(Transition(key, "operational", now))
            if tracker.update(candidate, mono, config.recover_after):
                log.info("%s is now %s", key, tracker.state.replace("_", " "))
                await self.store.add_transition(Transition(key, tracker.state, now))
            window = minute if minute.requests >= config.min_requests else five
            views.append(
                ComponentView(
                    key,
                    target.provider,
                    target.model,
                    tracker.state,
                    rate,
                    window.top_outcome(),
                    window.requests,
                )
            )
        events = self.keeper.observe(views, mono, now) + self.keeper.expire_maintenance(now)
        for kind, incident in events:
            await self.store.save_incident(incident)
            self.keeper.dirty.discard(incident.id)
            log.warning("%s: %s [%s]", kind, incident.title, incident.status)
            self._tell(kind, incident)
        # Keep the request counters of open incidents current in the store (a restart
        # loses at most one evaluation's worth).
        for incident_id in list(self.keeper.dirty):
            self.keeper.dirty.discard(incident_id)
            if incident_id in self.keeper.active:
                await self.store.save_incident(self.keeper.active[incident_id])
        if config.demote_on_declared:
            self.router_state.demoted = frozenset(
                t for t in self.components.values() if self.declared_state(t) == "major_outage"
            )
        return events

    def _tell(self, kind: str, incident: Incident) -> None:
        for listener in self.listeners:
            try:
                listener(kind, incident)
            except Exception:
                log.exception("an incident listener failed")

    async def record(self, event: Event) -> None:
        """Persist and announce an incident change made by hand (admin API)."""
        kind, incident = event
        await self.store.save_incident(incident)
        self._tell(kind, incident)

    # ------------------------------------------------------------------ declared status

    def set_declared(self, status: ProviderStatus) -> None:
        self.declared[status.provider] = status

    def declared_state(self, target: Target) -> State | None:
        """What the provider's page says about the components mapped to this model."""
        status = self.declared.get(target.provider)
        if status is None or status.fetched_at is None:
            return None
        mapping = self.config.providers[target.provider].status_components
        names = [n for n, models in mapping.items() if target.model in models or "*" in models]
        if not names:
            return None
        states = [c.state for c in status.components if c.name in names]
        return worst(states) if states else None

    # ------------------------------------------------------------------ reading

    def health(self) -> list[ComponentHealth]:
        mono = self.clock.monotonic()
        out = []
        for key, target in self.components.items():
            minute = self.passive.window(key, mono, "1m")
            five = self.passive.window(key, mono, "5m")
            hour = self.passive.window(key, mono, "1h")
            tracker = self.trackers.get(key)
            since = None
            if tracker is not None:
                since = datetime.fromtimestamp(
                    self.clock.wall() - (mono - tracker.since), UTC
                ).replace(microsecond=0)
            out.append(
                ComponentHealth(
                    id=key,
                    provider=target.provider,
                    model=target.model,
                    state=tracker.state if tracker else "operational",
                    breaker=self.breakers.get(key, "closed"),
                    requests_1m=minute.requests,
                    error_rate_1m=minute.error_rate,
                    error_rate_5m=five.error_rate,
                    error_rate_1h=hour.error_rate,
                    errors_by_class_5m={
                        c: n for c, n in five.counts.items() if c in FAILURES and n
                    },
                    latency_p50_ms=five.latency_p50_ms,
                    latency_p95_ms=five.latency_p95_ms,
                    ttft_p50_ms=five.ttft_p50_ms,
                    ttft_p95_ms=five.ttft_p95_ms,
                    declared=self.declared_state(target),
                    since=since,
                )
            )
        return out
