"""Library mode: failsoft's routing and fallback in-process, without running a proxy.

    async with Gateway("failsoft.yaml") as gw:
        reply = await gw.chat_completions({"model": "gpt", "messages": [...]})
        reply.body["choices"][0]["message"]["content"], reply.provider, reply.trail

        async with gw.stream_messages({"model": "claude", "max_tokens": 512, ...}) as events:
            async for event in events:       # parsed SSE events (dicts)
                ...

The same config file, router, deadlines and fallback as `failsoft serve`; answers are the
same JSON the HTTP surfaces would send. Errors are raised as failsoft exceptions
(`AllTargetsFailed`, `UpstreamClientFault`, `RequestError`, `StreamInterrupted`).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import orjson

from failsoft.assemble import Runtime
from failsoft.cache.layer import Control
from failsoft.clock import SYSTEM_CLOCK, Clock
from failsoft.config import Config, load_config
from failsoft.dialects.base import parse_chat_body
from failsoft.dialects.sse import SSEDecoder
from failsoft.errors import StreamInterrupted
from failsoft.events import E
from failsoft.types import AttemptRecord, ChatRequest, Dialect, Target, trail

Body = Mapping[str, Any] | bytes


class _Provenance:
    """Which target answered and what was tried, as the HTTP surface's headers say it."""

    __slots__ = ()
    target: Target
    attempts: tuple[AttemptRecord, ...]

    @property
    def provider(self) -> str:
        return self.target.provider

    @property
    def model(self) -> str:
        return self.target.model

    @property
    def trail(self) -> str:
        return trail(self.attempts)

    @property
    def attempt_count(self) -> int:
        """Requests that went upstream, as `x-failsoft-attempts` counts them: `attempts`
        also lists the targets skipped without one (breaker open, untranslatable, ...)."""
        return sum(1 for a in self.attempts if a.made)


@dataclass(frozen=True, slots=True)
class Reply(_Provenance):
    """A non-streaming answer and how it was obtained."""

    body: dict[str, Any]
    raw: bytes
    target: Target
    attempts: tuple[AttemptRecord, ...]
    warnings: tuple[str, ...] = ()
    """What translating the request to the answering target's dialect could not carry."""
    cache: str | None = None
    """`HIT`, `MISS`, `STALE` or `BYPASS` when the model has a cache, else None."""
    rung: str = "targets"
    """Which rung of the degradation ladder answered (`targets`, `lighter`, `stale`, `static`)."""


class ReplyStream(_Provenance):
    """A committed stream: iterate for parsed events; raises `StreamInterrupted` if it broke."""

    __slots__ = ("_stream", "attempts", "cache", "target", "warnings")

    def __init__(self, stream: Any, cache: str | None = None) -> None:
        self._stream = stream
        self.target = stream.target
        self.attempts = tuple(stream.attempts)
        self.warnings = stream.warnings
        self.cache = cache
        """`HIT`, `MISS`, `STALE` or `BYPASS` when the model has a cache, else None."""

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        decoder = SSEDecoder()
        async for data in self._stream:
            for event in decoder.feed(data):
                if event.data == b"[DONE]":
                    continue
                obj = orjson.loads(event.data)
                if self._stream.error is not None and _is_error(obj):
                    raise StreamInterrupted(
                        self._stream.error, self.target.label, self._stream.events
                    )
                yield obj

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def __aenter__(self) -> ReplyStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class _StreamOpener:
    """`async with gw.stream_...(body) as events` opens on enter and closes on exit."""

    def __init__(self, gateway: Gateway, dialect: Dialect, body: Body, extra: dict[str, Any]):
        self._gateway = gateway
        self._dialect = dialect
        self._body = body
        self._extra = extra
        self._reply: ReplyStream | None = None

    async def __aenter__(self) -> ReplyStream:
        request = self._gateway._request(self._dialect, self._body, stream=True, **self._extra)
        stream, served = await self._gateway.runtime.cache.stream(request, Control())
        self._reply = ReplyStream(stream, served.cache)
        return self._reply

    async def __aexit__(self, *exc: object) -> None:
        if self._reply is not None:
            await self._reply.aclose()


class Gateway:
    """failsoft as a library. Use as an async context manager (it owns an HTTP session)."""

    def __init__(
        self, config: Config | str | os.PathLike[str], *, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        if not isinstance(config, Config):
            config = load_config(config)
        self.config = config
        self.runtime = Runtime(config, clock=clock)

    async def start(self) -> None:
        await self.runtime.start()

    async def close(self) -> None:
        await self.runtime.close()

    async def __aenter__(self) -> Gateway:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def app(self) -> Any:
        """An ASGI app serving the HTTP surfaces, to mount inside another ASGI server."""
        from failsoft.server import GatewayApp

        return GatewayApp(self.runtime)

    def subscribe(self, kind: type[E], callback: Callable[[E], None]) -> Callable[[], None]:
        """Receive typed events (`AttemptFinished`, `RequestFinished`); returns unsubscribe."""
        return self.runtime.hub.subscribe(kind, callback)

    async def chat_completions(self, body: Body, *, deadline: float | None = None) -> Reply:
        """An OpenAI Chat Completions request (non-streaming)."""
        return await self._complete("openai", body, deadline=deadline)

    async def messages(
        self,
        body: Body,
        *,
        anthropic_version: str | None = None,
        anthropic_beta: str | None = None,
        deadline: float | None = None,
    ) -> Reply:
        """An Anthropic Messages request (non-streaming)."""
        return await self._complete(
            "anthropic",
            body,
            deadline=deadline,
            forwarded=_anthropic_headers(anthropic_version, anthropic_beta),
        )

    def stream_chat_completions(
        self, body: Body, *, deadline: float | None = None
    ) -> _StreamOpener:
        return _StreamOpener(self, "openai", body, {"deadline": deadline})

    def stream_messages(
        self,
        body: Body,
        *,
        anthropic_version: str | None = None,
        anthropic_beta: str | None = None,
        deadline: float | None = None,
    ) -> _StreamOpener:
        extra = {
            "deadline": deadline,
            "forwarded": _anthropic_headers(anthropic_version, anthropic_beta),
        }
        return _StreamOpener(self, "anthropic", body, extra)

    async def _complete(self, dialect: Dialect, body: Body, **extra: Any) -> Reply:
        request = self._request(dialect, body, stream=False, **extra)
        answer, served = await self.runtime.cache.complete(request, Control())
        return Reply(
            orjson.loads(answer.body),
            answer.body,
            answer.target,
            tuple(answer.attempts),
            answer.warnings,
            served.cache,
            served.rung,
        )

    def _request(
        self,
        dialect: Dialect,
        body: Body,
        *,
        stream: bool,
        deadline: float | None = None,
        forwarded: dict[str, str] | None = None,
    ) -> ChatRequest:
        if isinstance(body, bytes):
            raw = body
        else:
            payload = dict(body)
            if stream:
                payload["stream"] = True
            else:
                payload.pop("stream", None)
            raw = orjson.dumps(payload)
        parsed, model, is_stream = parse_chat_body(raw)
        if is_stream != stream:
            parsed["stream"] = stream
            raw = orjson.dumps(parsed)
        return ChatRequest(
            dialect,
            model,
            stream,
            parsed,
            raw,
            forwarded or {},
            deadline,
            "fs_" + secrets.token_hex(12),
        )


def _anthropic_headers(version: str | None, beta: str | None) -> dict[str, str]:
    out = {}
    if version:
        out["anthropic-version"] = version
    if beta:
        out["anthropic-beta"] = beta
    return out


def _is_error(obj: Any) -> bool:
    return isinstance(obj, dict) and (obj.get("type") == "error" or "error" in obj)
