"""The cache and the degradation ladder, in front of the router.

For a virtual model with `cache` on, a request is answered, in this order:

1. from the cache, when a fresh answer to the same request is stored (`HIT`); a streaming
   request gets the stored answer replayed as a stream;
2. by the model's targets, through the router (`MISS`); the answer is stored once it is
   complete (a stream only after its terminal event; errors and broken streams never);
3. when every target failed: the model's `degrade.lighter` targets, then a stored answer
   past its TTL but within `stale_if_error` (`STALE`), then a `degrade.static` answer;
4. else the exhaustion error (503 / 529) as without a cache.

`Cache-Control: no-store` from the caller skips the cache both ways (`BYPASS`); `no-cache`
skips serving a fresh answer but stores the new one (and may still serve a stale one when
every target fails, because an answer then beats an error). Answers are kept apart per
caller API key when `cache.per_key` is on (the default).

`x-failsoft-cache` says which happened, `age` how old a served answer is, and
`x-failsoft-rung` which rung of the ladder answered.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from failsoft.cache.replay import replay
from failsoft.cache.served import (
    MAX_ENTRY_BYTES,
    ReplayStream,
    TappedStream,
    complete_answer,
    static_answer,
)
from failsoft.clock import Clock
from failsoft.config import Config, VirtualModel
from failsoft.config.cache import CacheConfig
from failsoft.errors import AllTargetsFailed
from failsoft.router import Router
from failsoft.router.outcome import Answer
from failsoft.router.streaming import CommittedStream
from failsoft.types import AttemptRecord, ChatRequest, Target

log = logging.getLogger("failsoft.cache")

STATIC_TARGET = Target("failsoft", "static")


@dataclasses.dataclass(frozen=True, slots=True)
class Control:
    """What the caller's `Cache-Control` asks for, and whose answers are its own."""

    no_store: bool = False
    no_cache: bool = False
    credential: bytes = b""
    """The caller's API key as sent (only ever hashed, into the cache namespace)."""

    @staticmethod
    def parse(header: bytes | None, credential: bytes = b"") -> Control:
        if not header:
            return Control(credential=credential)
        words = {w.strip().split(b"=")[0].lower() for w in header.split(b",")}
        return Control(b"no-store" in words, b"no-cache" in words, credential)


@dataclasses.dataclass(slots=True)
class Served:
    """How an answer came to be, for the response headers."""

    cache: str | None = None
    """`HIT`, `MISS`, `STALE`, `BYPASS`, or None when the model has no cache."""
    age: float | None = None
    rung: str = "targets"
    match: str | None = None
    """`exact` or `semantic 0.95`."""


@dataclasses.dataclass(slots=True)
class Lookup:
    """One request's place in the cache: its model's settings, key and backend, and what
    was found for it."""

    plan: VirtualModel
    cache: CacheConfig
    served: Served
    key: str
    backend: Any = None
    entry: Any = None


class CacheLayer:
    def __init__(self, config: Config, router: Router, clock: Clock, caches: Any) -> None:
        self.config = config
        self.router = router
        self.clock = clock
        self.caches = caches
        """`CacheSet`: the backend for a model's `CacheConfig`."""
        self.counts: dict[str, int] = {}
        self.semantic: Any = None
        """The semantic cache (`failsoft.cache.semantic.SemanticCache`), when a model uses it."""
        self.on_served: Callable[[str, str], None] | None = None
        """Told (virtual model, `cache` | `stale` | `lighter` | `static`) when this layer,
        not the model's targets, answered: the router reports no such answer, and the
        status page's headline counts what callers got."""
        self._background: set[Any] = set()

    def _count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def _served(self, request: ChatRequest, rung: str) -> None:
        if self.on_served is not None:
            self.on_served(request.model, rung)

    def policy(self, request: ChatRequest) -> tuple[VirtualModel, CacheConfig] | None:
        plan = self.config.resolve(request.model)
        if plan is None:
            return None
        cache = plan.policies.cache
        degrade = plan.policies.degrade
        if not cache.enabled and not degrade.lighter and degrade.static is None:
            return None
        return plan, cache

    # ------------------------------------------------------------------ non-streaming

    async def complete(
        self,
        request: ChatRequest,
        control: Control,
        found: tuple[VirtualModel, CacheConfig] | None = None,
    ) -> tuple[Answer, Served]:
        """The answer and how it came to be (`found`: this request's `policy`, when the
        caller looked it up already)."""
        if found is None:
            found = self.policy(request)
        if found is None:
            return await self.router.complete(request), Served()
        look = await self._look(request, control, *found)
        if look.entry is not None:
            self._served(request, "cache")
            return self._answer(look.entry, []), look.served
        try:
            answer = await self.router.complete(request)
        except AllTargetsFailed as exc:
            return await self._degrade(request, look, control, exc)
        if look.backend is not None:
            self._count("miss")
            await self._store(look, request, answer.body, answer.target, answer, control.credential)
        return answer, look.served

    # ------------------------------------------------------------------ streaming

    async def stream(
        self, request: ChatRequest, control: Control
    ) -> tuple[CommittedStream | ReplayStream | TappedStream, Served]:
        found = self.policy(request)
        if found is None:
            return await self.router.stream(request), Served()
        include_usage = bool((request.payload.get("stream_options") or {}).get("include_usage"))
        look = await self._look(request, control, *found)
        if look.entry is not None:
            self._served(request, "cache")
            return self._replay(request, look.entry, [], include_usage), look.served
        try:
            stream = await self.router.stream(request)
        except AllTargetsFailed as exc:
            answer, served = await self._degrade(request, look, control, exc)
            rid = answer.upstream_request_id
            body = replay(request.dialect, orjson.loads(answer.body), include_usage)
            return ReplayStream(body, answer.target, answer.attempts, rid), served
        if look.backend is not None:
            self._count("miss")
            store, who = self._store, control.credential

            def keep(body: bytes) -> Awaitable[None]:
                return store(look, request, body, stream.target, None, who)

            return TappedStream(stream, keep), look.served
        return stream, look.served

    async def _look(
        self, request: ChatRequest, control: Control, plan: VirtualModel, cache: CacheConfig
    ) -> Lookup:
        """Where this request's answer lives, and a fresh stored one (exact, else by
        meaning) when there is one to serve."""
        served = _served(cache, control)
        if served.cache == "BYPASS":
            self._count("bypass")
        look = Lookup(plan, cache, served, self._key(request, plan, cache, control))
        if served.cache != "MISS":
            return look
        look.backend = self.caches.get(cache)
        if look.backend is None or control.no_cache:
            return look
        entry = await look.backend.get(look.key)
        now = self.clock.wall()
        if entry is not None and entry.fresh(now):
            self._count("hit")
            served.cache, served.age, served.match = "HIT", entry.age(now), "exact"
            look.entry = entry
            return look
        similar = await self._semantic(request, look, control, fresh=True)
        if similar is not None:
            entry, similarity = similar
            self._count("semantic_hit")
            served.cache, served.age = "HIT", entry.age(now)
            served.match = f"semantic {similarity:.3f}"
            look.entry = entry
        return look

    # ------------------------------------------------------------------ the ladder

    async def _degrade(
        self, request: ChatRequest, look: Lookup, control: Control, exc: AllTargetsFailed
    ) -> tuple[Answer, Served]:
        plan, cache, served = look.plan, look.cache, look.served
        attempts = list(exc.attempts)
        for label in plan.policies.degrade.lighter:
            lighter = dataclasses.replace(request, model=label, ir=None, translations={})
            try:
                answer = await self.router.complete(lighter)
            except AllTargetsFailed as more:
                attempts += more.attempts
                continue
            self._count("lighter")
            self._served(request, "lighter")
            served.rung = "lighter"
            answer.attempts[:0] = attempts
            return answer, served
        backend = self.caches.get(cache) if cache.enabled and not control.no_store else None
        if backend is not None:
            entry = await backend.get(look.key)
            now = self.clock.wall()
            if entry is not None and (entry.fresh(now) or entry.usable_stale(now)):
                self._count("stale")
                self._served(request, "stale")
                served.cache, served.age, served.rung, served.match = (
                    "STALE", entry.age(now), "stale", "exact"
                )  # fmt: skip
                return self._answer(entry, attempts), served
            look.backend = backend
            similar = await self._semantic(request, look, control, fresh=False)
            if similar is not None:
                entry, similarity = similar
                self._count("semantic_stale")
                self._served(request, "stale")
                served.cache, served.age, served.rung = "STALE", entry.age(now), "semantic-stale"
                served.match = f"semantic {similarity:.3f}"
                return self._answer(entry, attempts), served
        static = plan.policies.degrade.static
        if static is not None:
            self._count("static")
            self._served(request, "static")
            served.rung = "static"
            body = static_answer(request, static)
            return Answer(body, STATIC_TARGET, attempts, None), served
        raise exc

    # ------------------------------------------------------------------ helpers

    def _key(
        self, request: ChatRequest, plan: VirtualModel, cache: CacheConfig, control: Control
    ) -> str:
        from failsoft.cache.key import cache_key, fingerprint

        namespace = ""
        if cache.per_key and control.credential:
            namespace = fingerprint(control.credential.decode("latin-1"))
        return cache_key(request.dialect, plan.name, request.payload, namespace)

    async def _store(
        self,
        look: Lookup,
        request: ChatRequest,
        body: bytes,
        target: Target,
        answer: Answer | None,
        credential: bytes = b"",
    ) -> None:
        from failsoft.cache.entry import Entry

        backend, cache, key = look.backend, look.cache, look.key
        if len(body) > MAX_ENTRY_BYTES or not complete_answer(request.dialect, body):
            return
        rid = answer.upstream_request_id if answer is not None else None
        entry = Entry(
            key=key,
            body=body,
            dialect=request.dialect,
            model=target.model,
            provider=target.provider,
            created_at=self.clock.wall(),
            ttl=cache.ttl,
            stale_for=cache.stale_if_error,
            headers={"request-id": rid} if rid else {},
        )
        try:
            await backend.put(entry)
        except Exception:
            log.warning("storing an answer in the cache failed", exc_info=True)
            return
        if cache.semantic.enabled and self.semantic is not None:
            # Embedding takes milliseconds: never make the caller wait for it.
            task = asyncio.ensure_future(
                self._remember(request, cache, key, entry.created_at, credential)
            )
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _remember(
        self, request: ChatRequest, cache: CacheConfig, key: str, now: float, credential: bytes
    ) -> None:
        from failsoft.cache.semantic import last_user_text

        text = last_user_text(request.dialect, request.payload)
        if text is not None:
            await self.semantic.add(self._scope(request, cache, credential), text, key, now)

    def _scope(self, request: ChatRequest, cache: CacheConfig, credential: bytes) -> str:
        from failsoft.cache.key import fingerprint
        from failsoft.cache.semantic import scope_for

        namespace = ""
        if cache.per_key and credential:
            namespace = fingerprint(credential.decode("latin-1"))
        plan = self.config.resolve(request.model)
        name = plan.name if plan is not None else request.model
        # Earlier turns are part of the scope: "and its population?" must not match the
        # same follow-up from another conversation.
        return scope_for(namespace, name, request.dialect, request.payload, history=True)

    async def _semantic(
        self, request: ChatRequest, look: Lookup, control: Control, *, fresh: bool
    ) -> tuple[Any, float] | None:
        """A stored answer to a similar enough last user turn (fresh, or usable stale)."""
        cache, backend = look.cache, look.backend
        semantic = cache.semantic
        if self.semantic is None or not semantic.enabled or (fresh and not semantic.fresh):
            return None
        from failsoft.cache.semantic import last_user_text

        text = last_user_text(request.dialect, request.payload)
        if text is None:
            return None
        scope = self._scope(request, cache, control.credential)
        found = await self.semantic.lookup(scope, text, semantic.threshold)
        if found is None:
            return None
        key, similarity = found
        entry = await backend.get(key)
        now = self.clock.wall()
        if entry is None:
            self.semantic.remove(key)  # its answer left the cache
            return None
        if entry.fresh(now) if fresh else entry.usable_stale(now):
            return entry, similarity
        return None

    def _answer(self, entry: Any, attempts: list[AttemptRecord]) -> Answer:
        target = Target(entry.provider, entry.model)
        return Answer(entry.body, target, attempts, entry.headers.get("request-id"))

    def _replay(
        self, request: ChatRequest, entry: Any, attempts: list[AttemptRecord], usage: bool
    ) -> ReplayStream:
        body = replay(request.dialect, orjson.loads(entry.body), usage)
        target = Target(entry.provider, entry.model)
        return ReplayStream(body, target, attempts, entry.headers.get("request-id"))


def _served(cache: CacheConfig, control: Control) -> Served:
    if not cache.enabled:
        return Served()
    return Served(cache="BYPASS" if control.no_store else "MISS")
