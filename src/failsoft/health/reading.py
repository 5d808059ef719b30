"""The reading side of the health monitor: every component as the page, the admin API and
the metrics show it (`health()`), what the callers of every process got (`callers()`), and
the providers' declared status, which the evaluation consults too.

Apart from health/monitor.py, which listens to the router's events and evaluates (states,
incidents, what is written and told), because reading decides nothing: it combines what
the evaluation and the other processes left (this process's windows, the peers' rows, the
trackers, the leader's states) into what is shown, and `set_declared` only keeps what a
status-page poller found. `HealthMonitor` inherits it; the attributes declared here are the
monitor's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from failsoft.clock import Clock
from failsoft.config import Config
from failsoft.health.callers import Summary
from failsoft.health.evidence import Seen
from failsoft.health.model import StateTracker
from failsoft.health.shared import Exchange, merged
from failsoft.health.types import ComponentHealth, ProviderStatus, State, worst
from failsoft.health.windows import FAILURES, WINDOWS, PassiveHealth
from failsoft.types import Target


class HealthReading:
    """What `HealthMonitor` shows; it holds the state below."""

    config: Config
    clock: Clock
    passive: PassiveHealth
    components: dict[str, Target]
    trackers: dict[str, StateTracker]
    declared: dict[str, ProviderStatus]
    breakers: dict[str, str]
    _standing: set[str]
    shared: Exchange
    caller_summary: Callable[[], Summary] | None

    async def health_in_steps(self, step: int = 32) -> list[ComponentHealth]:
        """`health()`, `step` components at a time with the event loop free in between
        (hundreds of components are tens of milliseconds of work: /metrics reads them)."""
        keys = list(self.components)
        out: list[ComponentHealth] = []
        for start in range(0, len(keys), step):
            if start:
                await asyncio.sleep(0)
            out += self.health(keys[start : start + step])
        return out

    def health(self, only: Iterable[str] | None = None) -> list[ComponentHealth]:
        """Every component (or those of `only` still kept) as the page shows it: the
        figures of every process, and the states the leader decided (this process's own,
        when it leads or hears none)."""
        mono, wall = self.clock.monotonic(), self.clock.wall()
        peers = self.shared.fresh(wall)
        shown = None if self.shared.leading else self.shared.leader_states(wall)
        out = []
        components = self.components
        chosen = (
            components.items()
            if only is None
            else [(k, components[k]) for k in only if k in components]
        )
        for key, target in chosen:
            seen = merged(key, self._local(key, mono, wall), peers)
            minute, five = seen.minute, seen.five
            hour = self.passive.error_rate(key, mono, "1h")  # this process's only
            tracker = self.trackers.get(key)
            state: State = tracker.state if tracker else "operational"
            began = None if tracker is None else wall - (mono - tracker.since)
            if shown is not None and key in shown:
                state, began = shown[key]
            since = None
            if began is not None:
                since = datetime.fromtimestamp(began, UTC).replace(microsecond=0)
            out.append(
                ComponentHealth(
                    id=key,
                    provider=target.provider,
                    model=target.model,
                    state=state,
                    breaker=seen.breaker,
                    requests_1m=minute.requests,
                    error_rate_1m=minute.error_rate,
                    error_rate_5m=five.error_rate,
                    error_rate_1h=hour,
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

    def callers(self) -> Summary:
        """What the callers of every process sharing the store got (this process's own
        summary is current; the others' are as of their last evaluation)."""
        own = self.caller_summary() if self.caller_summary is not None else {}
        return self.shared.callers(own, self.clock.wall())

    def _local(self, key: str, mono: float, wall: float) -> Seen:
        """What this process alone saw of `key` (the evaluation reads it too)."""
        stats = self.passive.stats(key)
        failed = stats.last_failure
        if key in self._standing and failed is not None:
            # Nothing can renew the evidence while the breaker keeps traffic away for the
            # long period, and nothing has disproved it: it is as fresh as now.
            failed = mono
        return Seen(
            stats.window(mono, WINDOWS["1m"]),
            stats.window(mono, WINDOWS["5m"]),
            self.breakers.get(key, "closed"),
            None if failed is None else wall - (mono - failed),
        )

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
