"""The gateway's ASGI application: dispatch by path, lifespan, errors for unknown routes.

A plain ASGI callable rather than a framework: routing here is a dict lookup, and every
microsecond on this path is overhead added to each proxied request.
"""

from __future__ import annotations

import asyncio
import logging

import orjson

from failsoft.assemble import Runtime
from failsoft.auth.check import CALLER, Gate, refuse
from failsoft.auth.keys import Caller
from failsoft.auth.limits import RateLimited, limited
from failsoft.auth.limits_http import refuse_limited
from failsoft.auth.setup import limiter
from failsoft.config import Config
from failsoft.dialects import WIRES
from failsoft.errors import RequestError, Unauthenticated
from failsoft.server.access import EXCHANGE, AccessLog, Exchange
from failsoft.server.admin import ModelList, healthz, readyz, root
from failsoft.server.admin_api import AdminAPI
from failsoft.server.anthropic_api import SURFACE as ANTHROPIC
from failsoft.server.asgi import HEADERS, Receive, Scope, Send, header_map, send_bytes
from failsoft.server.chat import WANTED, ChatEndpoint
from failsoft.server.count_tokens import PATH as COUNT_TOKENS
from failsoft.server.count_tokens import CountTokens
from failsoft.server.drain import Drain
from failsoft.server.gemini_api import SURFACE as GEMINI
from failsoft.server.gemini_api import GeminiRoutes, from_google, serves
from failsoft.server.inflight import BodiesFull, InflightBytes, Ticket, refuse_full
from failsoft.server.metrics import Metrics
from failsoft.server.openai_api import SURFACE as OPENAI
from failsoft.server.refusals import RefusalLog
from failsoft.server.responses_api import SURFACE as RESPONSES
from failsoft.server.responses_routes import PREFIXES as RESPONSE_PATHS
from failsoft.server.responses_routes import ResponseRoutes
from failsoft.server.status_routes import StatusRoutes
from failsoft.types import Dialect
from failsoft.usage.budget import exceeded, over_budget, refuse_budget

log = logging.getLogger("failsoft.server")


class GatewayApp:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        server = runtime.config.server
        limit = server.max_body_bytes
        self.drain = Drain(runtime.readiness, server.send_timeout, server.drain)
        """Requests in flight: the send deadline, and the drain at shutdown (serve.py)."""
        self.drain.on_expire.append(runtime.hurry)
        runtime.metric_sources.append(self.drain.metrics)
        drain = self.drain
        openai = ChatEndpoint(OPENAI, runtime.cache, limit, drain=drain)
        anthropic = ChatEndpoint(ANTHROPIC, runtime.cache, limit, drain=drain)
        responses = ChatEndpoint(RESPONSES, runtime.cache, limit, runtime.conversations, drain)
        self._responses = ResponseRoutes(runtime.conversations)
        gemini = ChatEndpoint(GEMINI, runtime.cache, limit, drain=drain)
        self._gemini = GeminiRoutes(runtime.config, gemini, limit)
        self._post = {
            "/v1/chat/completions": openai,
            "/chat/completions": openai,
            "/v1/messages": anthropic,
            "/v1/responses": responses,
            "/responses": responses,
        }
        self._count_tokens = CountTokens(runtime)
        self._admin = AdminAPI(runtime)
        self._metrics = Metrics(runtime, self._admin)
        self._status = StatusRoutes(runtime, self._admin)
        log_config = runtime.config.log
        refusals = RefusalLog(runtime.clock, json=log_config.access_json)
        self.access = AccessLog(log_config, refusals, tracing=runtime.tracer is not None)
        for endpoint in (openai, anthropic, responses, gemini):
            endpoint.tracer = runtime.tracer
            endpoint.ledger = runtime.ledger
        runtime.metric_sources.append(self.access.metrics)
        runtime.on_reconfigure.append(self.reconfigure)
        self._gate: Gate | None = None
        """Caller keys (`auth:`); None when the section is absent: no cost per request."""
        self.limiter = limiter(runtime)
        """Per-key rate limits (auth/limits.py), checked for keys that have any."""
        self._set_gate(runtime.config)
        self.bodies = InflightBytes(server.max_inflight_bytes)
        """Request bytes held by the requests in flight (`server.max_inflight_bytes`)."""
        runtime.metric_sources.append(self.bodies.metrics)
        self._max_body = limit

    def _set_gate(self, config: Config) -> None:
        """Keys and the model list they filter, from `config` (at start and on a reload)."""
        self._models = ModelList(config)
        self._gate = (
            Gate(config, self.runtime.clock.wall, self.runtime.keys.keys)
            if config.auth is not None
            else None
        )

    def reconfigure(self, config: Config) -> None:
        """A reloaded config (`Runtime.reconfigure` tells it): the model lists, admin
        token, status page switches and log settings. `server.max_body_bytes` needs a
        restart, so the endpoints keep theirs."""
        self._set_gate(config)
        self._gemini.reconfigure(config)
        self._admin.reconfigure(config)
        self._status.reconfigure(config)
        self._metrics.reconfigure(config)
        self.access.reconfigure(config.log)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            exchange = self.access.begin(scope, send)
            try:
                if self._gate is None and scope["method"] not in _BODILESS:
                    # What `_http` would do (`_counted`), without a coroutine of its own.
                    ticket, receive = self._ticket(scope, receive)
                    if ticket is None:
                        await self._full(scope, exchange)
                        return
                    try:
                        # A chat POST goes straight to its endpoint (`_route`'s first pick).
                        endpoint = self._post.get(scope["path"])
                        if endpoint is not None and scope["method"] == "POST":
                            await endpoint(scope, receive, exchange)
                        else:
                            await self._route(scope, receive, exchange)
                    except BodiesFull:
                        await self._full(scope, exchange)  # while reading the body: unsent
                    finally:
                        ticket.close()
                else:
                    await self._http(scope, receive, exchange)
            except asyncio.CancelledError:
                exchange.disconnected = True
                raise
            except Exception:
                if not exchange.status:
                    exchange.status = 500  # what uvicorn answers for it
                raise
            finally:
                exchange.finish()
                # The exchange holds the server's `send` (its request cycle), which holds
                # this scope: a reference cycle per request unless broken here, once the
                # handler is done with both.
                scope.pop(EXCHANGE, None)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        if self._gate is not None and _proxied(scope, path):
            exchange: Exchange | None = scope.get(EXCHANGE)
            try:
                caller = self._gate.admit(scope)
            except Unauthenticated as exc:
                if exchange is not None:
                    exchange.refuse("unauthenticated", path, exc.message, status=exc.status)
                await refuse(send, _dialect(scope, path), exc)
                return
            if exchange is not None:
                exchange.caller = caller.name
            if (
                caller.limits.budget is not None
                and _billed(method, path)
                and await self._over_budget(scope, send, caller)
            ):
                return
            if exchange is not None and method == "POST" and limited(caller.limits):
                try:
                    exchange.limit(await self.limiter.admit(caller.name, caller.limits), scope)
                except RateLimited as exc:
                    exchange.refuse("rate_limited", caller.name, exc.message, status=429)
                    await refuse_limited(send, _dialect(scope, path), exc)
                    return
        if method not in _BODILESS:
            await self._counted(scope, receive, send)
            return
        await self._route(scope, receive, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route a request that may send a body, its bytes counted against
        `server.max_inflight_bytes` from the first to the end of its response; refused
        before its body is read when the declared length does not fit."""
        ticket, receive = self._ticket(scope, receive)
        if ticket is None:
            await self._full(scope, send)
            return
        endpoint = self._post.get(scope["path"]) if scope["method"] == "POST" else None
        try:
            if endpoint is not None:
                await endpoint(scope, receive, send)
            else:
                await self._route(scope, receive, send)
        except BodiesFull:
            await self._full(scope, send)  # raised while reading the body: nothing sent
        finally:
            ticket.close()

    def _ticket(self, scope: Scope, receive: Receive) -> tuple[Ticket | None, Receive]:
        """The request's share of `server.max_inflight_bytes` (None: its declared length
        does not fit) and the `receive` that counts what arrives beyond it."""
        # The one scan of the request headers: the chat endpoints take theirs from it.
        wanted = scope[HEADERS] = header_map(scope, WANTED)
        length = wanted.get(b"content-length")
        declared = int(length) if length is not None and length.isdigit() else None
        # A declared length above max_body_bytes is refused (413) unread: nothing to hold.
        reserved = 0 if declared is None or declared > self._max_body else declared
        bodies = self.bodies
        if not bodies.take(reserved):
            return None, receive
        ticket = Ticket(bodies, receive, reserved)
        if reserved != declared:
            # Counted as it comes. A declared length is reserved whole up front, and the
            # server hands over no more body than it declares (HTTP/1.1 framing).
            receive = ticket.receive
        return ticket, receive

    async def _full(self, scope: Scope, send: Send) -> None:
        path: str = scope["path"]
        exchange: Exchange | None = scope.get(EXCHANGE)
        dialect = _dialect(scope, path)
        if exchange is not None:
            status = WIRES[dialect].exhausted_status
            exchange.refuse("shed", "inflight_bytes", "server.max_inflight_bytes", status=status)
        retry_after = self.runtime.config.admission.retry_after
        await refuse_full(send, dialect, self.bodies, retry_after)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        endpoint = self._post.get(path)
        if endpoint is not None:
            if method == "POST":
                await endpoint(scope, receive, send)
                return
            await _error(scope, send, 405, f"{path} accepts POST, not {method}", b"POST")
            return
        if path == COUNT_TOKENS and method == "POST":
            await self._count_tokens(scope, receive, send)
            return
        if path == "/" and method in ("GET", "HEAD"):
            await root(send)
            return
        if serves(scope):
            await self._gemini(scope, receive, send)
            return
        if path.startswith(RESPONSE_PATHS):
            await self._responses(scope, send)
            return
        if path in ("/v1/models", "/models"):
            if method in ("GET", "HEAD") and from_google(scope):
                await self._gemini(scope, receive, send)
                return
            if method in ("GET", "HEAD"):
                await self._models(scope, send, scope.get(CALLER))
                return
            await _error(scope, send, 405, f"{path} accepts GET, not {method}", b"GET")
            return
        if path in ("/healthz", "/health"):
            await healthz(send)
            return
        if path == "/readyz":
            await readyz(self.runtime.readiness, send)
            return
        if path == "/status" or path.startswith("/status/"):
            await self._status(scope, send)
            return
        if path == "/metrics" and method in ("GET", "HEAD"):
            await self._metrics(scope, send)
            return
        if path.startswith("/admin/"):
            await self._admin(scope, receive, send)
            return
        await _error(scope, send, 404, f"no route {method} {path}")

    async def _over_budget(self, scope: Scope, send: Send, caller: Caller) -> bool:
        """Refuse (429) a key that spent its budget for the period (usage/budget.py)."""
        wait = over_budget(self.runtime.ledger, caller, self.runtime.clock.wall())
        if wait is None:
            return False
        exc = exceeded(caller)
        path: str = scope["path"]
        exchange: Exchange | None = scope.get(EXCHANGE)
        if exchange is not None:
            exchange.refuse("budget", path, exc.message, status=exc.status)
        await refuse_budget(send, _dialect(scope, path), exc, wait)
        return True

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            try:
                message = await receive()
            except asyncio.CancelledError:
                # uvicorn skips the shutdown message after a second Ctrl-C and cancels
                # us (and every task) as its loop ends: still close what must not be left
                # open (the store, its queue), quickly.
                task = asyncio.current_task()
                if task is not None:
                    task.uncancel()
                self.runtime.hurry()
                await self.runtime.close()
                await self.limiter.close()
                return
            if message["type"] == "lifespan.startup":
                try:
                    await self.runtime.start()
                except Exception as exc:
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.runtime.close()
                await self.limiter.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


_BODILESS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
"""Methods whose requests failsoft never reads a body of."""


def _proxied(scope: Scope, path: str) -> bool:
    """A route that reaches a model (or lists them): the ones `auth` guards."""
    return (
        path.startswith(("/v1/", "/chat/", "/responses", "/models"))
        and not path.startswith("/v1/admin")
    ) or path.startswith("/v1beta/")


def _billed(method: str, path: str) -> bool:
    """A route whose answer a provider bills (not a model list, not a token count)."""
    return method == "POST" and not path.endswith(("/count_tokens", ":countTokens"))


def _dialect(scope: Scope, path: str) -> Dialect:
    """The dialect a refusal is written in, from the route (and a Google SDK's headers)."""
    if path.startswith("/v1beta/") or from_google(scope):
        return "gemini"
    if path.startswith("/v1/messages"):
        return "anthropic"
    if path in ("/v1/models", "/models") and any(
        n == b"anthropic-version" for n, _ in scope["headers"]
    ):
        return "anthropic"
    return "openai"


async def _error(scope: Scope, send: Send, status: int, message: str, allow: bytes = b"") -> None:
    """An error for a route failsoft does not serve, in the dialect the path suggests, with
    `x-should-retry: false`: asking again cannot find a route that is not there."""
    path: str = scope["path"]
    exchange: Exchange | None = scope.get(EXCHANGE)
    if exchange is not None:
        kind = "unknown_route" if status == 404 else "wrong_method"
        exchange.refuse(kind, f"{scope['method']} {path}", message, status=status)
    if path.startswith("/v1beta/"):
        google = "NOT_FOUND" if status == 404 else "UNIMPLEMENTED"
        body = orjson.dumps({"error": {"code": status, "message": message, "status": google}})
    elif path.startswith("/v1/messages"):
        kind = "not_found_error" if status == 404 else RequestError.anthropic_type
        body = ANTHROPIC.wire.error_body(message, kind)
    else:
        body = OPENAI.wire.error_body(message, RequestError.openai_type)
    headers = [(b"content-type", b"application/json"), (b"x-should-retry", b"false")]
    if allow:
        headers.append((b"allow", allow))
    await send_bytes(send, status, headers, body)
