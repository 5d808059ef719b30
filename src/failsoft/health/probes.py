"""Active probes: the cheapest call that proves a provider (or a model) answers.

Opt-in per provider (`providers.X.probe.enabled`), because a completion probe of a paid
model costs money. `kind: models` asks `GET …/models`, which is free and proves the
provider is reachable; only its failures are recorded against the provider's models (a
model list that loads says nothing about whether a model answers). `kind: completion`
sends a `max_tokens: 1` request per model; its outcome is recorded like real traffic, and
when the model's breaker is open and due for a probe, the probe takes the breaker's
half-open slot, so a good answer closes the breaker before a caller has to risk it.

A probe is skipped while real traffic already gave `quiet` attempts in the last interval.
One process of several runs the probes: each round it must hold the `probes` lease in
the store (SQLite or PostgreSQL; the memory store cannot coordinate processes).
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from typing import Any

import orjson

from failsoft.clock import Clock
from failsoft.config import Config, ProviderConfig
from failsoft.errors import UpstreamStatusError
from failsoft.health.monitor import HealthMonitor
from failsoft.policy.breaker import Admit
from failsoft.policy.classify import Verdict, classify
from failsoft.providers import Provider
from failsoft.router.state import RouterState
from failsoft.store import Store, StoreUnavailable
from failsoft.transport import FetchError, Transport, fetch
from failsoft.types import Target

log = logging.getLogger("failsoft.health")

LEASE = "probes"


def completion_body(provider: Provider, model: str) -> bytes:
    """The smallest request that makes `model` produce one token, in its dialect."""
    ask = "Reply with OK."
    dialect = provider.dialect
    if dialect == "anthropic":
        body: dict[str, Any] = {
            "model": model,
            "max_tokens": 1,
            "messages": [{"role": "user", "content": ask}],
        }
    elif dialect == "gemini":
        body = {
            "contents": [{"role": "user", "parts": [{"text": ask}]}],
            "generationConfig": {"maxOutputTokens": 1},
        }
    elif dialect == "responses":
        # 16 is the API's smallest max_output_tokens; reasoning models spend it thinking,
        # which is fine: any answer at all proves the model serves.
        body = {"model": model, "input": ask, "max_output_tokens": 16, "store": False}
    else:
        field = provider.options.max_tokens_field
        body = {"model": model, "messages": [{"role": "user", "content": ask}], field: 1}
    return orjson.dumps(body)


def models_url(config: ProviderConfig) -> str:
    base = config.normalized_url
    return base + ("/v1/models" if config.dialect == "anthropic" else "/models")


class Prober:
    def __init__(
        self,
        config: Config,
        providers: dict[str, Provider],
        transport: Transport,
        state: RouterState,
        health: HealthMonitor,
        store: Store,
        clock: Clock,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.providers = providers
        self.transport = transport
        self.state = state
        self.health = health
        self.store = store
        self.clock = clock
        self.rng = rng or random.Random()
        self.holder = uuid.uuid4().hex
        self.probed = 0
        self.skipped = 0

    def enabled(self) -> list[str]:
        return [n for n, p in self.config.providers.items() if p.probe.enabled]

    def targets(self, name: str) -> list[Target]:
        probe = self.config.providers[name].probe
        if probe.models:
            return [Target(name, m) for m in probe.models]
        # The plans' targets, not every component: a directly named model is the caller's
        # choice, and a completion probe of it would cost money every interval.
        planned = (t for plan in self.config.models.values() for t in plan.targets)
        return list(dict.fromkeys(t for t in planned if t.provider == name))

    async def run(self) -> None:
        """One loop per provider; never returns until cancelled."""
        await asyncio.gather(*(self._provider_loop(name) for name in self.enabled()))

    async def _provider_loop(self, name: str) -> None:
        interval = self.config.providers[name].probe.interval
        await self.clock.sleep(self.rng.random() * interval)
        while True:
            try:
                if await self._lead(interval):
                    await self.probe_provider(name)
            except Exception:
                log.exception("probing %s failed", name)
            await self.clock.sleep(interval * (0.8 + 0.4 * self.rng.random()))

    async def _lead(self, interval: float) -> bool:
        """Whether this process runs the probes now. While the store is away the lease
        cannot be checked: every process probes (a few extra probes) rather than none
        (no evidence during what may be an outage)."""
        try:
            return await self.store.try_lead(LEASE, self.holder, interval * 3, self.clock.wall())
        except StoreUnavailable:
            return True

    async def probe_provider(self, name: str) -> None:
        probe = self.config.providers[name].probe
        provider = self.providers[name]
        if probe.kind == "models":
            await self._models(name, provider)
            return
        for target in self.targets(name):
            await self.probe_model(target)

    async def _models(self, name: str, provider: Provider) -> None:
        started = self.clock.monotonic()
        outcome = await self._call("GET", models_url(provider.config), provider, None)
        self.probed += 1
        if outcome != "200":
            duration = self.clock.monotonic() - started
            for target in self.targets(name):
                self.health.passive.record(target.label, self.clock.monotonic(), outcome, duration)

    async def probe_model(self, target: Target) -> str | None:
        """Probe one model (None when skipped because traffic already speaks for it)."""
        probe = self.config.providers[target.provider].probe
        window = self.health.passive.stats(target.label).window(
            self.clock.monotonic(), probe.interval
        )
        if window.requests >= probe.quiet > 0:
            self.skipped += 1
            return None
        breaker = self.state.breakers[target]
        slot = False
        if breaker.state.value != "closed":
            admit = self.state.admit(target)
            if admit is Admit.DENY:
                return None  # still open, or a caller's request is probing it already
            slot = admit is Admit.PROBE
        provider = self.providers[target.provider]
        started = self.clock.monotonic()
        url = provider.url_for(target.model, False)
        outcome = await self._call("POST", url, provider, completion_body(provider, target.model))
        duration = self.clock.monotonic() - started
        self.probed += 1
        self.health.passive.record(target.label, self.clock.monotonic(), outcome, duration)
        if outcome == "200":
            self.state.succeeded(target, slot, None, started)
        elif slot:
            verdict = Verdict.FAILOVER  # no answer at all
            if outcome.isdigit():
                verdict = classify(UpstreamStatusError(int(outcome), b""), provider.wire)
            self.state.failed(target, True, verdict, None, duration, started)
        return outcome

    async def _call(self, method: str, url: str, provider: Provider, body: bytes | None) -> str:
        timeout = provider.config.probe.timeout
        headers = dict(provider.headers({}))
        try:
            answer = await fetch(
                self.transport, method, url, headers=headers, body=body, seconds=timeout
            )
        except FetchError as exc:
            text = str(exc)
            return "first_byte_timeout" if "no answer within" in text else "connect"
        if answer.status >= 400:
            refusal = provider.status_error(answer.status, answer.headers, answer.body)
            if classify(refusal, provider.wire) is Verdict.CREDENTIALS:
                return "401"  # as the router says it (Gemini refuses a key with a 400)
        return str(answer.status)
