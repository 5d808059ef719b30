"""`GET /metrics`: Prometheus text format, computed at scrape time.

Nothing is counted for metrics on the request path: the health windows and the router's
state already hold the numbers, so a collector reads them when Prometheus asks. Counters
come from per-target running totals; states and rates from the health model. Labels carry
provider and model names only, never keys. (The one exception, per-surface HTTP counts, is
two list increments as each request ends: server/access.py, registered as a metric source.)

Who may read it follows `status.public`, since it tells the same story in numbers: public
with the status page, else only with the admin token or `admin.metrics_token` (a token
that opens nothing else, for a Prometheus scraper).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from failsoft.assemble import Runtime
from failsoft.config import Config
from failsoft.health.types import SEVERITY, ComponentHealth
from failsoft.server.admin_api import AdminAPI, bearer_is
from failsoft.server.asgi import Scope, Send, send_bytes
from failsoft.server.exposition import render

_BREAKER = {"closed": 0, "half_open": 1, "open": 2}
CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"


class RuntimeCollector(Collector):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.prepared: list[ComponentHealth] | None = None
        """The components read a few at a time beforehand (`Metrics.text`), else None:
        read here at once."""

    def collect(self) -> Iterator[Metric]:
        health = self.runtime.health
        attempts = CounterMetricFamily(
            "failsoft_attempts",
            "Upstream attempts by outcome class (client = the caller's own fault).",
            labels=["provider", "model", "class"],
        )
        state = GaugeMetricFamily(
            "failsoft_component_state",
            "Health state: 0 operational/maintenance, 1 degraded, 2 partial, 3 major outage.",
            labels=["provider", "model"],
        )
        error_rate = GaugeMetricFamily(
            "failsoft_error_rate",
            "Share of failed attempts over a window.",
            labels=["provider", "model", "window"],
        )
        latency = GaugeMetricFamily(
            "failsoft_latency_seconds",
            "Attempt latency percentiles over the last 5 minutes (successful attempts).",
            labels=["provider", "model", "quantile"],
        )
        ttft = GaugeMetricFamily(
            "failsoft_time_to_first_token_seconds",
            "Time to the first content event, percentiles over the last 5 minutes.",
            labels=["provider", "model", "quantile"],
        )
        breaker = GaugeMetricFamily(
            "failsoft_breaker_state",
            "Circuit breaker: 0 closed, 1 half open, 2 open.",
            labels=["provider", "model"],
        )
        components = self.prepared if self.prepared is not None else health.health()
        for component in components:
            labels = [component.provider, component.model]
            stats = health.passive.targets.get(component.id)
            for kind, count in stats.totals.items() if stats is not None else ():
                attempts.add_metric([*labels, kind], count)
            state.add_metric(labels, SEVERITY[component.state])
            for window, rate in (
                ("1m", component.error_rate_1m),
                ("5m", component.error_rate_5m),
                ("1h", component.error_rate_1h),
            ):
                error_rate.add_metric([*labels, window], rate)
            for family, p50, p95 in (
                (latency, component.latency_p50_ms, component.latency_p95_ms),
                (ttft, component.ttft_p50_ms, component.ttft_p95_ms),
            ):
                if p50 is not None and p95 is not None:
                    family.add_metric([*labels, "0.5"], p50 / 1000)
                    family.add_metric([*labels, "0.95"], p95 / 1000)
            breaker.add_metric(labels, _BREAKER.get(component.breaker, 0))
        incidents = GaugeMetricFamily(
            "failsoft_incidents_active", "Unresolved incidents.", labels=["source"]
        )
        counts: dict[str, int] = {"auto": 0, "manual": 0, "maintenance": 0}
        for incident in health.keeper.active.values():
            counts[incident.source] = counts.get(incident.source, 0) + 1
        for source, count in counts.items():
            incidents.add_metric([source], count)
        requests = CounterMetricFamily(
            "failsoft_requests",
            "Caller requests by virtual model and the status the caller saw.",
            labels=["model", "status"],
        )
        for (model, status), count in sorted(health.requests.items()):
            requests.add_metric([model, str(status)], count)
        yield from (attempts, requests, state, error_rate, latency, ttft, breaker, incidents)
        yield from self._pools()
        for extra in self.runtime.metric_sources:
            yield from extra()

    def _pools(self) -> Iterator[Metric]:
        """Each provider's connection pool (transport/pool.py): in use, waiting, its limit,
        and the requests it turned away as busy."""
        connections = GaugeMetricFamily(
            "failsoft_upstream_connections",
            "Upstream connections of each provider's pool: in use by requests, requests "
            "waiting for one, and the limit (providers.<name>.max_connections).",
            labels=["provider", "state"],
        )
        busy = CounterMetricFamily(
            "failsoft_pool_busy",
            "Requests that found every connection of the provider's pool in use for "
            "admission.pool_wait (the target was skipped as busy, not failed).",
            labels=["provider"],
        )
        transport = self.runtime.transport
        for name, config in self.runtime.config.providers.items():
            pool = transport.pool(name, config.max_connections)
            connections.add_metric([name, "in_use"], pool.in_use)
            connections.add_metric([name, "waiting"], pool.waiting)
            connections.add_metric([name, "limit"], pool.limit)
            busy.add_metric([name], pool.busy)
        yield connections
        yield busy


class Metrics:
    def __init__(self, runtime: Runtime, admin: AdminAPI) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.collector = RuntimeCollector(runtime)
        self.registry.register(self.collector)
        self.runtime = runtime
        self.admin = admin
        self.public = True
        self._token: bytes | None = None
        self.reconfigure(runtime.config)

    def reconfigure(self, config: Config) -> None:
        """`status.public` and `admin.metrics_token` of a reloaded config."""
        self.public = config.status.public
        token = config.admin.metrics_token
        self._token = token.reveal().encode() if token else None

    def authorized(self, scope: Scope) -> bool:
        """Public, or the admin token, or the metrics token (compared in constant time)."""
        return self.public or self.admin.authorized(scope) or bearer_is(scope, self._token)

    async def __call__(self, scope: Scope, send: Send) -> None:
        if not self.authorized(scope):
            await send_bytes(
                send,
                401,
                [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"www-authenticate", b'Bearer realm="failsoft metrics"'),
                ],
                b"/metrics needs Authorization: Bearer <admin.metrics_token or admin.token> "
                b"(status.public is false)\n",
            )
            return
        await send_bytes(send, 200, [(b"content-type", CONTENT_TYPE)], await self.text())

    async def text(self) -> bytes:
        """The exposition: the numbers read on the event loop (they change under it), the
        components a few at a time; the text written in a thread (it only reads what was
        collected)."""
        self.collector.prepared = await self.runtime.health.health_in_steps()
        try:
            metrics = list(self.registry.collect())
        finally:
            self.collector.prepared = None
        return await asyncio.to_thread(render, metrics)
