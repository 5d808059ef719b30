"""The composition root: one place that turns a `Config` into working objects."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from failsoft.auth.watch import KeyWatch
from failsoft.cache.caches import CacheSet, cache_metrics
from failsoft.cache.layer import CacheLayer
from failsoft.clock import SYSTEM_CLOCK, Clock
from failsoft.config import Config
from failsoft.conversations import Conversations
from failsoft.events import BreakerChanged, EventHub, RequestFinished
from failsoft.health.callers import CallerTally
from failsoft.health.monitor import HealthMonitor
from failsoft.health.poller import StatusPagePoller
from failsoft.health.probes import Prober
from failsoft.health.types import Incident
from failsoft.notify import Endpoint, WebhookSender
from failsoft.notify.outbox import Outbox
from failsoft.providers import Provider, build_providers
from failsoft.providers.listing import ModelLister, listed
from failsoft.readiness import Check, Readiness
from failsoft.router import Router
from failsoft.router.counters import counter_metrics
from failsoft.store import QueuedStore, Store, open_store
from failsoft.store.report import store_metrics
from failsoft.tracing import build_tracer
from failsoft.transport import Transport
from failsoft.usage.ledger import Ledger
from failsoft.usage.metrics import SpendCounters

if TYPE_CHECKING:
    from failsoft.fleet import Fleet
    from failsoft.reload import Reloader

log = logging.getLogger("failsoft")

SERVE_STORE = "sqlite:///failsoft.db"
"""Where `failsoft serve` keeps history when the config names no `store.url`."""
LIBRARY_STORE = "memory://"
"""Library mode (and tests) keep history in memory unless told otherwise."""
SPOOL = "failsoft-spool"
"""Where writes waiting for an absent PostgreSQL store are kept, unless `store.spool` says."""


class Runtime:
    """Everything a gateway process (or a library user) needs, wired once.

    `start()` must run inside the event loop that will serve requests, because the shared
    aiohttp session belongs to that loop.

    `health_clock` (tests) gives the health side a clock of its own; its periodic
    evaluation, status-page polls and probes then do not run by themselves.
    """

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock = SYSTEM_CLOCK,
        default_store: str = LIBRARY_STORE,
        health_clock: Clock | None = None,
        store: Store | None = None,
        tracer_provider: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> None:
        """`proxies`: the proxy variables as `urllib.request.getproxies()` gives them; None
        reads the environment (`failsoft serve`), `{}` uses none (the demo: its providers are
        on 127.0.0.1, and an operator's `HTTPS_PROXY` without a `NO_PROXY` for it must not
        carry the demo's traffic off the machine)."""
        self.config = config
        self.tracer = build_tracer(config, tracer_provider)
        """Spans of requests and attempts (`tracing:`), or None: nothing traced, nothing of
        OpenTelemetry imported. `tracer_provider` (tests) is an SDK provider to use as is."""
        self.clock = clock
        self.hub = EventHub()
        self.transport = Transport(
            pool_wait=config.admission.pool_wait,
            max_answer_bytes=config.server.max_answer_bytes,
            client=config.transport.client,
            proxies=proxies,
        )
        self.providers: dict[str, Provider] = build_providers(config.providers)
        self.router = Router(config, self.providers, self.transport, clock=clock, hub=self.hub)
        self.store = _queued(store, config, default_store)
        """Every store call is bounded and every write queued (store/queue.py)."""
        self.conversations = Conversations(config, self.store, clock)
        """Responses API conversations, kept in the store when `responses.store` is on."""
        self.caches = CacheSet(config, clock)
        self.cache = CacheLayer(config, self.router, clock, self.caches)
        health_clock = health_clock or clock
        self.health = HealthMonitor(config, self.router.state, self.hub, self.store, health_clock)
        self.callers = CallerTally(config, health_clock)
        """What callers got per virtual model (the status page's headline)."""
        self.hub.subscribe(RequestFinished, self.callers.request_finished)
        self.cache.on_served = self.callers.served
        self.health.caller_summary = self.callers.summary  # shared with other processes
        self._background = health_clock is clock
        scheme = "https" if config.server.tls is not None else "http"
        self.base_url = f"{scheme}://{config.server.host}:{config.server.port}"
        """Where this gateway is reached (set by whoever binds the socket)."""
        self.metric_sources: list[Callable[[], Iterable[Any]]] = []
        """More metric families for `/metrics` (prometheus_client `Metric`s), e.g. the
        cache's; each is called at scrape time."""
        counters = self.router.state.counters
        self.metric_sources.append(lambda: counter_metrics(counters))
        self.metric_sources.append(lambda: store_metrics(self.store))
        self.ledger = Ledger(config, self.store, clock)
        """Spend per caller key (usage/ledger.py): counted only for requests with a key."""
        self.spend_counters = SpendCounters(self.ledger.book)
        self.ledger.on_charge.append(self.spend_counters)
        self.metric_sources.append(self.spend_counters.metrics)
        self.loop: asyncio.AbstractEventLoop | None = None
        """The loop serving this runtime, once started."""
        self._health_clock = health_clock
        self.pollers = self._pollers(config)
        self.prober = Prober(
            config,
            self.providers,
            self.transport,
            self.router.state,
            self.health,
            self.store,
            health_clock,
        )
        self.notifier: WebhookSender | None = None
        self.outbox: Outbox | None = None
        """Incident webhooks kept in the store until delivered (a durable store only)."""
        self.notifier = self._notifier(config)
        # Subscribed whether or not webhooks are configured now: a reload may add some.
        self.hub.subscribe(BreakerChanged, self._notify_breaker)
        self.health.listeners.append(self._notify)
        self.health.on_lead.append(self._resend_outbox)
        self._semantic = _semantic(config)
        self._cache_metrics = False
        self._add_cache_metrics()
        self.readiness = Readiness()
        """What `GET /readyz` reports; components add their checks."""
        self.readiness.add(self._store_check)
        self.fleet: Fleet | None = None
        """Breakers and budgets shared with other processes through Redis (`state.url`)."""
        if config.state.url:
            from failsoft.fleet import Fleet

            self.fleet = Fleet(config, self.router.state, clock)
            self.metric_sources.append(self.fleet.metrics)
            self.readiness.add(self.fleet.check)
        self.lister: ModelLister | None = None
        """Fetches the model lists of providers with `direct: ["@listed"]` (none: no task)."""
        self._tasks: list[asyncio.Task[None]] = []
        self._poll_tasks: list[asyncio.Task[None]] = []
        self._probe_task: asyncio.Task[None] | None = None
        self._retired: list[tuple[WebhookSender, asyncio.Task[None]]] = []
        """Webhook senders a reload replaced, delivering what they had queued."""
        self._closed = False
        self.generation = 0
        """Bumped by `reset()`, so caches of what was observed know to drop it."""
        self.reloader: Reloader | None = None
        """Reloads the config file in place (`failsoft serve`: SIGHUP, `/admin/reload`)."""
        self.on_reconfigure: list[Callable[[Config], None]] = []
        """Told each config a reload applies (the HTTP app's routes and settings)."""
        if self.fleet is not None:
            self.on_reconfigure.append(self.fleet.reconfigure)
        self.keys = KeyWatch(config, self.store, clock)
        """Caller keys kept in the store (`failsoft keys`, `/admin/keys`), refreshed in the
        background while the config has an `auth` section."""
        self.on_reconfigure.append(self.keys.reconfigure)
        if config.auth is not None:
            self.readiness.add(self.keys.ready)
            self.metric_sources.append(self.keys.metrics)

    def reset(self) -> None:
        """Forget what was learnt about targets: breakers, budgets, health, history kept in
        memory. For tests that share one gateway."""
        self.router.state.reset()
        self.health.reset()
        self.callers.clear()
        self.generation += 1

    @property
    def status_url(self) -> str:
        return self.config.status.url or self.base_url + "/status"

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        await self.transport.start()
        await self.caches.start()
        if self._semantic:
            self._start_semantic(self.config)
        await self.store.open()  # an unreachable store is logged and retried, not fatal
        await self.keys.begin(self.config)  # the store's keys before the first request
        self.ledger.start()
        if self.fleet is not None:
            self.fleet.start()  # connects in the background; no request waits for Redis
        await self.health.start(loop=self._background)
        if not self.health.history_loaded:
            self.store.when_up(self.health.load_history)
        if self.notifier is not None:
            self.notifier.page_url = self.status_url
            self.notifier.start()
        self._start_pollers()
        self._start_prober()
        self._start_lister(self.config)
        if self.reloader is not None:
            self.reloader.started()
        self.readiness.started = True
        log.debug("history kept in %s", self.store.describe())

    def _store_check(self) -> Check:
        # A store that is away costs no request (writes are queued), but history, incidents
        # and kept responses wait for it: reported, and the process stays ready.
        store = self.store
        return Check("store", store.up, store.why or "", required=False)

    async def close(self) -> None:
        """Stop everything. Bounded: webhooks get a few seconds to be delivered, the store
        `store.timeout` to take what is queued; `hurry()` cuts both short."""
        if self._closed:
            return
        self._closed = True
        tasks = [*self._tasks, *self._poll_tasks]
        if self._probe_task is not None:
            tasks.append(self._probe_task)
        await _cancel(tasks)
        self._tasks.clear()
        self._poll_tasks.clear()
        self._probe_task = None
        if self.notifier is not None:
            await self.notifier.close()  # dead letters go to the store's queue
        await asyncio.gather(*(task for _, task in self._retired), return_exceptions=True)
        if self.outbox is not None:
            await self.outbox.settle()  # so do the outbox's changes
        if self.fleet is not None:
            await self.fleet.close()
        if self.lister is not None:
            await self.lister.close()
        await self.health.close()
        await self.keys.close()
        await self.ledger.close()  # its last usage into the store's queue
        await self.store.close()
        if self.cache.semantic is not None:
            self.cache.semantic.close()
        await self.caches.close()
        await self.transport.close()
        if self.tracer is not None:
            # The exporter's last batch goes out from a thread, bounded: a collector that
            # is down must not hold the shutdown.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.to_thread(self.tracer.shutdown), 5.0)

    def hurry(self) -> None:
        """Asked to stop again (a second Ctrl-C): stop waiting. Undelivered webhooks are
        dead-lettered and queued store writes spooled (or reported lost) at once."""
        if self.notifier is not None:
            self.notifier.hurry()
        self.store.hurry()
        for sender, _ in self._retired:
            sender.hurry()

    # ------------------------------------------------------------------ reload

    async def reconfigure(self, config: Config) -> None:
        """Serve from `config` from now on, keeping everything learnt: breakers, budgets,
        health windows, incidents, cached answers. Requests already running finish on the
        plan they started with. The sections a reload cannot change (`config.diff`'s
        `RESTART_ONLY`) must already be the running ones."""
        old = self.config
        await self.caches.reconfigure(config)  # may wait (opening a backend): first
        semantic = _semantic(config)
        if semantic and self.cache.semantic is None and self.loop is not None:
            self._start_semantic(config)
        # From here on nothing awaits: every request sees the old config or the new one.
        self._semantic = self._semantic or semantic
        self._add_cache_metrics()
        self.providers = {
            name: (
                self.providers[name]
                if name in self.providers and old.providers.get(name) == spec
                else build_providers({name: spec})[name]
            )
            for name, spec in config.providers.items()
        }
        self.config = config
        self.transport.pool_wait = config.admission.pool_wait
        self.router.reconfigure(config, self.providers)
        self.conversations.config = config
        self.conversations.settings = config.responses
        self.cache.config = config
        self.health.reconfigure(config)
        self.callers.reconfigure(config)
        self.ledger.reconfigure(config)
        self.spend_counters.set_book(self.ledger.book)
        self.prober.config = config
        self.prober.providers = self.providers
        if _polled(old) != _polled(config):
            self.pollers = self._pollers(config)
            self._start_pollers()
        if _probed(old) != _probed(config):
            self._start_prober()
        if old.webhooks != config.webhooks:
            self._swap_notifier(config)
        if self.loop is not None:
            self._start_lister(config)
        for hook in self.on_reconfigure:
            hook(config)

    def _start_lister(self, config: Config) -> None:
        """Model lists for `@listed` providers; the lists already got go to `config`."""
        if self.lister is None:
            if not any(listed(p) for p in config.providers.values()):
                return
            self.lister = ModelLister(self.transport, lambda: self.config.names.listed)
        self.lister.start(config, self.providers)

    def _pollers(self, config: Config) -> list[StatusPagePoller]:
        return [
            StatusPagePoller(
                name,
                provider.status_page,
                self.transport,
                clock=self._health_clock,
                interval=config.health.status_poll_interval,
                kind=provider.status_page_kind,
            )
            for name, provider in config.providers.items()
            if provider.status_page
        ]

    def _start_pollers(self) -> None:
        """(Re)start the status-page pollers (the old ones, if any, are cancelled)."""
        if not self._background or self.loop is None:
            return
        for task in self._poll_tasks:
            task.cancel()
        self._poll_tasks = [
            asyncio.create_task(poller.run(self.health.set_declared)) for poller in self.pollers
        ]

    def _start_prober(self) -> None:
        """(Re)start the active probes for the providers that have them."""
        if not self._background or self.loop is None:
            return
        if self._probe_task is not None:
            self._probe_task.cancel()
            self._probe_task = None
        if self.prober.enabled():
            self._probe_task = asyncio.create_task(self.prober.run())

    def _start_semantic(self, config: Config) -> None:
        from failsoft.cache.semantic import SemanticCache, SemanticIndex, check_available

        check_available()  # fail at start, with install steps, not at the first request
        limit = max(
            p.policies.cache.semantic.max_entries
            for p in config.models.values()
            if p.policies.cache.enabled and p.policies.cache.semantic.enabled
        )
        index = SemanticIndex(max_per_scope=min(limit, 50_000), max_entries=limit)
        self.cache.semantic = SemanticCache(index=index)
        self.cache.semantic.embedder.start_loading()  # ~10 s; lookups miss meanwhile

    def _add_cache_metrics(self) -> None:
        if self.caches and not self._cache_metrics:
            self._cache_metrics = True
            layer = self.cache
            self.metric_sources.append(lambda: cache_metrics(layer.counts, self.caches))

    def _notifier(self, config: Config) -> WebhookSender | None:
        if not config.webhooks:
            return None
        if self.outbox is None and _durable(self.store):
            self.outbox = Outbox(self.store, clock=self.clock)
        return WebhookSender(
            [
                Endpoint(
                    url=hook.url,
                    secret=hook.secret.reveal() if hook.secret else None,
                    events=frozenset(hook.events),
                    format=hook.format,
                    timeout=hook.timeout,
                    max_attempts=hook.max_attempts,
                    headers=hook.headers,
                )
                for hook in config.webhooks
            ],
            transport=self.transport,
            clock=self.clock,
            dead_letter=self.store.add_dead_letter,
            outbox=self.outbox,
        )

    def _swap_notifier(self, config: Config) -> None:
        """New webhook endpoints: messages from now on go to them; the old sender delivers
        what it already queued (or dead-letters it) in the background."""
        old, self.notifier = self.notifier, self._notifier(config)
        if self.notifier is not None and self.loop is not None:
            self.notifier.page_url = self.status_url
            self.notifier.start()
        if old is not None:
            self._retired.append((old, asyncio.create_task(old.close())))

    def _notify_breaker(self, event: BreakerChanged) -> None:
        if self.notifier is not None:
            self.notifier.notify_breaker(event)

    def _notify(self, kind: str, incident: Incident) -> None:
        if self.notifier is not None:
            self.notifier.send(kind, incident, components=self.health.health())

    def _resend_outbox(self) -> None:
        """Just became the health leader: send what the previous one left in the outbox
        (once the store answers)."""
        notifier, outbox = self.notifier, self.outbox
        if notifier is not None and outbox is not None and not self._closed:
            self.store.when_up(lambda: outbox.recover(notifier))


def _semantic(config: Config) -> bool:
    return any(
        p.policies.cache.enabled and p.policies.cache.semantic.enabled
        for p in config.models.values()
    )


def _polled(config: Config) -> list[tuple[str, str | None, str, float]]:
    """What the status-page pollers depend on."""
    return [
        (name, p.status_page, p.status_page_kind, config.health.status_poll_interval)
        for name, p in config.providers.items()
    ]


def _probed(config: Config) -> list[tuple[str, Any]]:
    """What the active probes depend on."""
    return [(name, p.probe) for name, p in config.providers.items()]


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _durable(store: QueuedStore) -> bool:
    """Whether what the store keeps outlives this process (so is worth an outbox)."""
    where = store.describe()
    return where.get("backend") != "memory" and where.get("path") != ":memory:"


def _queued(store: Store | None, config: Config, default_url: str) -> QueuedStore:
    if isinstance(store, QueuedStore):
        return store
    timeout = config.store.timeout
    inner = store or open_store(config.store.url or default_url, timeout=timeout)
    spool = config.store.spool
    if spool is None and inner.describe().get("backend") == "postgresql":
        spool = SPOOL  # remote: a restart while it is away must not lose what waits for it
    return QueuedStore(
        inner,
        timeout=timeout,
        capacity=config.store.queue,
        spool=spool,
        retry_max=config.store.retry_max,
    )
