"""The chat endpoints' shared handling: parse just enough, route, answer in the caller's dialect.

The body is parsed once (orjson) to read `model` and `stream` and to reject malformed
input with a clear 4xx; the original bytes travel on to same-dialect upstreams.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from failsoft import validate
from failsoft.auth.check import CALLER, allowed, namespace, query_key
from failsoft.cache.layer import CacheLayer, Control, Served
from failsoft.conversations import Conversations, Turn
from failsoft.dialects import WIRES, Wire, responses
from failsoft.dialects.base import parse_chat_body
from failsoft.errors import (
    AllTargetsFailed,
    InvalidRequest,
    Overloaded,
    RequestError,
    UnsupportedMediaType,
    Untranslatable,
    UpstreamClientFault,
)
from failsoft.logjson import TRACE_IDS
from failsoft.router.streaming import CommittedStream
from failsoft.server.access import EXCHANGE, Exchange
from failsoft.server.asgi import (
    HEADERS,
    WATCH_DELAY,
    ClientGone,
    DisconnectWatch,
    Headers,
    Receive,
    Scope,
    Send,
    WatchStarter,
    ascii_header,
    header_map,
    read_body,
    send_bytes,
)
from failsoft.server.direct import body_now, direct_send, running_task, whole_answer
from failsoft.server.drain import Drain, Flight
from failsoft.server.ids import new_request_id
from failsoft.translate.errors import client_fault_body
from failsoft.types import AttemptRecord, ChatRequest, Dialect, Target, trail
from failsoft.usage.meter import METER, Meter

if TYPE_CHECKING:
    from failsoft.tracing.otel import Tracer
    from failsoft.usage.ledger import Ledger

log = logging.getLogger("failsoft.server")

WANTED = frozenset(
    {
        b"content-type",
        b"content-length",
        b"x-failsoft-timeout",
        b"anthropic-version",
        b"anthropic-beta",
        b"x-stainless-retry-count",
        b"cache-control",
        b"authorization",
        b"x-api-key",
        b"x-goog-api-key",
    }
)
"""The request headers a chat endpoint reads."""
_SSE_HEADERS: Headers = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


@dataclass(frozen=True, slots=True)
class Surface:
    """One inbound API: its dialect, the caller headers relayed to same-dialect upstreams,
    how its body is checked, and what is done with the request before routing."""

    dialect: Dialect
    forwarded: tuple[bytes, ...] = ()
    parse: Callable[[bytes], tuple[dict[str, Any], str, bool]] = parse_chat_body
    prepare: Callable[[ChatRequest], None] | None = None
    route: Callable[[Scope], tuple[str, bool]] | None = None
    """`(model, stream)` from the URL, for APIs that put them there (Gemini)."""

    @property
    def wire(self) -> Wire:
        return WIRES[self.dialect]


def parse_now(parse: Callable[[dict[str, Any]], Any]) -> Callable[[ChatRequest], None]:
    """A `Surface.prepare` for APIs that are translated to most targets: the body is read
    into the internal form once, before routing, so a shape the caller's own API would
    refuse is a 400 before any target is tried. What only a same-dialect target can carry
    (`Untranslatable`) is left for routing to decide target by target."""

    def prepare(request: ChatRequest) -> None:
        try:
            request.ir = parse(request.payload)
        except Untranslatable:
            pass
        except ValueError as exc:  # the parsers' own words: a field and its expectation
            raise InvalidRequest(unreadable(request, exc)) from None
        except (AttributeError, TypeError, KeyError, IndexError) as exc:
            raise InvalidRequest(unreadable(request, exc)) from None

    return prepare


def unreadable(request: ChatRequest, exc: Exception) -> str:
    """The 400's message for a request the door check let through but a translator could
    not read: a `ValueError`'s own words (the parsers raise it naming the field), never a
    Python internal (`'str' object has no attribute 'get'`), which goes to the log."""
    if type(exc) is ValueError and str(exc).isprintable():
        return str(exc)[:300]
    log.info("%s: unreadable %s request: %.200r", request.request_id, request.dialect, exc)
    return f"the request does not have the shape the {request.dialect} API documents"


class ChatEndpoint:
    def __init__(
        self,
        surface: Surface,
        cache: CacheLayer,
        max_body_bytes: int,
        conversations: Conversations | None = None,
        drain: Drain | None = None,
    ) -> None:
        self.surface = surface
        self.drain = drain
        """Watches each request in flight: the send deadline, the shutdown drain."""
        self.wire = surface.wire
        self._rid_header = self.wire.request_id_header.encode()
        self.cache = cache
        self.max_body_bytes = max_body_bytes
        self.conversations = conversations
        """The Responses surface's conversation state: expands `previous_response_id`
        before routing, keeps the answers (failsoft/conversations.py)."""
        self.tracer: Tracer | None = None
        """Set by the app when the gateway traces (`tracing:`)."""
        self.ledger: Ledger | None = None
        """Set by the app: where a metered request's usage is charged (`auth:`)."""
        self._watches = WatchStarter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = new_request_id()
        exchange: Exchange | None = scope.get(EXCHANGE)
        tracer = self.tracer
        arrived = time.time_ns() if tracer is not None else 0
        try:
            request, headers, turn = await self._parse(scope, receive, request_id)
        except RequestError as exc:
            await self._request_error(send, exc, request_id, exchange)
            return
        except ClientGone:
            if exchange is not None:
                exchange.disconnected = True
            return
        if exchange is not None:
            exchange.model = request.model
            exchange.stream = request.stream
            if tracer is not None:
                # Ended with the response, by the exchange (`RequestTrace.finish`).
                trace = tracer.request(request, scope["headers"], arrived)
                request.trace = exchange.trace = trace
                TRACE_IDS.set(trace.ids)  # this request's task only
        task = running_task(receive)  # found once (see there)
        watch = DisconnectWatch(receive, WATCH_DELAY, self._watches, task)  # (no kwargs dict)
        flight = self.drain.enter(send, request_id, task) if self.drain is not None else None
        if flight is not None:
            send = flight.send
        try:
            if request.stream:
                control = _control(scope, headers)
                await self._stream(request, control, send, watch, turn, exchange, flight)
            else:
                cache = self.cache
                found = cache.policy(request)
                if found is None:  # no cache, no ladder: straight to the router
                    answer = await cache.router.complete(request)
                    served = _UNCACHED
                else:
                    control = _control(scope, headers)
                    answer, served = await cache.complete(request, control, found)
                out = self._headers(answer.target, answer.attempts, request_id)
                if served is not _UNCACHED:
                    _add_served(out, served)
                if answer.warnings:
                    _add_warnings(out, answer.warnings)
                out.append((b"content-type", b"application/json"))
                self._add_request_id(out, answer.upstream_request_id or request_id)
                if turn is not None and self.conversations is not None and _kept(served):
                    await self.conversations.answered(turn, answer.body)
                watch.finished = True
                if exchange is not None and answer.parsed is not None:
                    exchange.counted(answer.parsed, answer.body)
                if not whole_answer(send, 200, out, answer.body):  # one write, no messages
                    await send_bytes(send, 200, out, answer.body)
        except RequestError as exc:
            watch.finished = True
            await self._request_error(send, exc, request_id, exchange)
        except (AllTargetsFailed, Overloaded) as exc:
            watch.finished = True
            if isinstance(exc, Overloaded) and exchange is not None:
                exchange.refuse("shed", "admission", str(exc), status=self.wire.exhausted_status)
            await self._exhausted(send, exc, request_id)
        except UpstreamClientFault as exc:
            watch.finished = True
            await self._client_fault(send, exc, request_id)
        except asyncio.CancelledError:
            if flight is not None and flight.absorb():
                log.info("%s: the drain ended before the answer; attempt cancelled", request_id)
                if exchange is not None:
                    exchange.cut = flight.cut
                if not watch.finished:
                    watch.finished = True
                    await self._shutting_down(send, request_id)
                return
            if not watch.absorb():
                raise
            if exchange is not None:
                exchange.disconnected = True
                exchange.cut = flight.cut if flight is not None else None
            log.info("%s: client disconnected before the answer; attempt cancelled", request_id)
        except Exception:
            # A bug must cost one request a clear 500, never the worker.
            log.exception("%s: internal error", request_id)
            if not watch.finished:
                watch.finished = True
                await self._internal_error(send, request_id)
        finally:
            watch.stop()
            if flight is not None and self.drain is not None:
                self.drain.leave(flight)
            meter = request.meter
            if meter is not None and self.ledger is not None:
                self.ledger.charge(meter.key, meter.settle())

    async def _parse(
        self, scope: Scope, receive: Receive, request_id: str
    ) -> tuple[ChatRequest, dict[bytes, bytes], Turn | None]:
        routed = self.surface.route(scope) if self.surface.route is not None else None
        headers: dict[bytes, bytes] | None = scope.get(HEADERS)
        if headers is None:
            headers = header_map(scope, WANTED)
        ctype = headers.get(b"content-type")
        if ctype is not None and ctype != b"application/json" and not _is_json(ctype):
            raise UnsupportedMediaType(
                f"expected content-type application/json, got {ctype.decode('latin-1')!r}"
            )
        length = headers.get(b"content-length")
        declared = int(length) if length is not None and length.isdigit() else None
        body = body_now(receive, self.max_body_bytes, declared)
        if body is None:
            body = await read_body(receive, self.max_body_bytes, declared)
        payload, model, stream = self.surface.parse(body)
        if routed is not None:
            model, stream = routed
        exchange: Exchange | None = scope.get(EXCHANGE)
        if exchange is not None:  # a refused name too: the access log escapes and cuts it
            exchange.model = model
        validate.request(self.surface.dialect, payload, model, body)
        if CALLER in scope:
            allowed(scope, model)
        turn = None
        if self.conversations is not None:
            caller = scope.get(CALLER)
            owner = None if caller is None else caller.name
            turn = await self.conversations.expand(payload, body, model, owner)
            payload, body = turn.payload, turn.body
        forwarded = {
            name.decode("latin-1"): headers[name].decode("latin-1")
            for name in self.surface.forwarded
            if name in headers
        }
        request = ChatRequest(
            self.surface.dialect,
            model,
            stream,
            payload,
            body,
            forwarded,
            _timeout(headers.get(b"x-failsoft-timeout")),
            request_id,
            _retry_count(headers.get(b"x-stainless-retry-count")),
        )
        if self.surface.prepare is not None:
            self.surface.prepare(request)
        caller = scope.get(CALLER)
        if caller is not None:
            request.meter = scope[METER] = Meter(caller.name, len(body))
        return request, headers, turn

    async def _stream(
        self,
        request: ChatRequest,
        control: Control,
        send: Send,
        watch: DisconnectWatch,
        turn: Turn | None = None,
        exchange: Exchange | None = None,
        flight: Flight | None = None,
    ) -> None:
        stream, served = await self.cache.stream(request, control)
        if flight is not None:
            deadline = getattr(stream, "deadline", None)
            flight.deadline_in(deadline.remaining() if deadline is not None else None)
        headers = self._headers(stream.target, stream.attempts, request.request_id)
        _add_served(headers, served)
        _add_warnings(headers, stream.warnings)
        headers.extend(_SSE_HEADERS)
        self._add_request_id(headers, stream.upstream_request_id or request.request_id)
        keeper = None
        if turn is not None and self.conversations is not None and _kept(served):
            keeper = self.conversations.watch(turn)
        numbered = request.dialect == "responses"
        sequence = 0
        """A Responses stream's next `sequence_number`, for an internal error's event."""
        last = b""
        """A committed stream's final batch (its terminal event), held for one write with
        the response's last chunk: one system call per stream fewer."""
        try:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            committed = stream if type(stream) is CommittedStream else None
            if committed is not None and keeper is None and not numbered:
                # Every event it relays needs no more than the server's own write: the
                # relay may write them itself (server/direct.py, router/direct.py).
                writer = direct_send(send)
                if writer is not None:
                    committed.direct = writer.write
            try:
                async for data in stream:
                    if last:  # (a committed stream ends with its complete batch)
                        await send({"type": "http.response.body", "body": last, "more_body": True})
                        last = b""
                    if numbered:
                        sequence = responses.next_sequence(data, sequence)
                    if keeper is not None:  # kept before the caller can ask for it
                        await keeper.feed(data)
                    if committed is not None and committed.complete:
                        last = data  # the upstream's end: sent with the response's end
                        continue
                    await send({"type": "http.response.body", "body": data, "more_body": True})
            except asyncio.CancelledError:
                if flight is None or not flight.absorb():
                    raise
                # The drain ended: the caller's SDK must raise, not see a stream that stops.
                log.info("%s: the drain ended mid-stream; upstream closed", request.request_id)
                if exchange is not None:
                    exchange.broken = True
                    exchange.cut = flight.cut
                await stream.aclose()
                message = "failsoft: the gateway is shutting down and ended this stream"
                if numbered:
                    data = responses.stream_error(message, sequence=sequence)
                else:
                    data = self.wire.stream_error(message)
                data, last = last + data, b""
                await send({"type": "http.response.body", "body": data, "more_body": True})
            except Exception:
                log.exception("%s: internal error while relaying a stream", request.request_id)
                if exchange is not None:
                    exchange.broken = True
                message = "failsoft: internal error while relaying the stream"
                if numbered:
                    data = responses.stream_error(message, sequence=sequence)
                else:
                    data = self.wire.stream_error(message)
                data, last = last + data, b""
                await send({"type": "http.response.body", "body": data, "more_body": True})
            watch.finished = True
            if exchange is not None:
                exchange.stream_ended(stream)
            await send({"type": "http.response.body", "body": last, "more_body": False})
        except asyncio.CancelledError:
            if not watch.absorb() and (flight is None or not flight.absorb()):
                raise
            if exchange is not None:
                exchange.disconnected = watch.disconnected
                exchange.cut = flight.cut if flight is not None else None
                exchange.stream_ended(stream)
            log.info("%s: client disconnected mid-stream; upstream closed", request.request_id)
        finally:
            watch.finished = True
            await stream.aclose()

    # ------------------------------------------------------------------ responses

    def _headers(self, target: Target | None, attempts: list[AttemptRecord], rid: str) -> Headers:
        if len(attempts) == 1:  # the usual answer: one attempt, its headers made once
            headers = [*_one_attempt(attempts[0]), (b"x-failsoft-request-id", rid.encode())]
        else:
            tried = len([a for a in attempts if a.made])
            headers = [
                (b"x-failsoft-attempts", _COUNTS[tried] if tried < 10 else str(tried).encode()),
                (b"x-failsoft-trail", ascii_header(trail(attempts))),
                (b"x-failsoft-request-id", rid.encode()),
            ]
        if target is not None:
            named = _NAMED.get(target)
            if named is None:
                named = _named(target)
            headers += named
        return headers

    def _add_request_id(self, headers: Headers, value: str) -> None:
        headers.append((self._rid_header, ascii_header(value)))

    async def _request_error(
        self, send: Send, exc: RequestError, rid: str, exchange: Exchange | None = None
    ) -> None:
        if exchange is not None:
            exchange.refuse_request(exc, rid)
        kind = exc.anthropic_type if self.surface.dialect == "anthropic" else exc.openai_type
        body = self.wire.error_body(
            exc.message, kind, code=exc.code, param=exc.param, request_id=rid
        )
        headers: Headers = [
            (b"content-type", b"application/json"),
            (b"x-should-retry", b"false"),
            (b"x-failsoft-request-id", rid.encode()),
        ]
        attempts = getattr(exc, "attempts", None)
        if attempts:
            headers.extend(self._headers(None, attempts, rid)[:2])
        self._add_request_id(headers, rid)
        await send_bytes(send, exc.status, headers, body)

    async def _shutting_down(self, send: Send, rid: str) -> None:
        """503 (retry elsewhere): the drain ended before this request had its answer."""
        body = self.wire.error_body(
            "failsoft: the gateway is shutting down; retry the request",
            self.wire.exhausted_type,
            code="gateway_shutting_down",
            request_id=rid,
        )
        headers: Headers = [
            (b"content-type", b"application/json"),
            (b"retry-after", b"1"),
            (b"x-should-retry", b"true"),
            (b"connection", b"close"),
        ]
        self._add_request_id(headers, rid)
        await send_bytes(send, 503, headers, body)

    async def _internal_error(self, send: Send, rid: str) -> None:
        body = self.wire.error_body(
            f"failsoft: internal error (request {rid}); see the gateway's log",
            "api_error" if self.surface.dialect == "anthropic" else "server_error",
            request_id=rid,
        )
        headers: Headers = [(b"content-type", b"application/json"), (b"x-should-retry", b"false")]
        self._add_request_id(headers, rid)
        await send_bytes(send, 500, headers, body)

    async def _exhausted(self, send: Send, exc: AllTargetsFailed | Overloaded, rid: str) -> None:
        """503 / 529: every target failed, or failsoft itself is at its limit."""
        if isinstance(exc, Overloaded):
            code, attempts, should_retry = "gateway_overloaded", [], True
        else:
            code, attempts, should_retry = "all_targets_failed", exc.attempts, exc.should_retry
        body = self.wire.error_body(str(exc), self.wire.exhausted_type, code=code, request_id=rid)
        headers = self._headers(None, attempts, rid)
        retry_after = exc.retry_after or 1.0
        headers += [
            (b"content-type", b"application/json"),
            (b"retry-after", str(max(1, math.ceil(retry_after))).encode()),
            (b"retry-after-ms", str(int(retry_after * 1000)).encode()),
            (b"x-should-retry", b"true" if should_retry else b"false"),
        ]
        self._add_request_id(headers, rid)
        await send_bytes(send, self.wire.exhausted_status, headers, body)

    async def _client_fault(self, send: Send, exc: UpstreamClientFault, rid: str) -> None:
        error = exc.error
        body = error.body
        if error.dialect and error.dialect != self.surface.dialect:
            # A target of another dialect refused: say it in the caller's dialect.
            body = client_fault_body(self.surface.dialect, error, rid)
        elif not _looks_like_json_object(body):
            body = self.wire.error_body(
                error.error_message or error.message, "invalid_request_error", request_id=rid
            )
        headers = self._headers(None, exc.attempts, rid)
        headers.append((b"content-type", b"application/json"))
        headers.append((b"x-should-retry", b"false"))
        for name in ("retry-after", "retry-after-ms"):
            if name in error.headers:
                headers.append((name.encode(), ascii_header(error.headers[name])))
        upstream_rid = error.headers.get(self.wire.request_id_header)
        self._add_request_id(headers, upstream_rid or rid)
        await send_bytes(send, error.status, headers, body)


_COUNTS = tuple(str(n).encode() for n in range(10))
_NAMED: dict[Target, Headers] = {}
"""`x-failsoft-provider` and `x-failsoft-model` of each target that answered."""


_ONE: dict[tuple[Target, str, bool], tuple[tuple[bytes, bytes], tuple[bytes, bytes]]] = {}
"""`x-failsoft-attempts` and `x-failsoft-trail` of a one-attempt trail, by its attempt."""


def _one_attempt(record: AttemptRecord) -> tuple[tuple[bytes, bytes], tuple[bytes, bytes]]:
    """The attempts and trail headers of a trail of one attempt (what `_headers` writes
    for any trail), remembered: most answers have the same few."""
    key = (record.target, record.outcome, record.made)
    found = _ONE.get(key)
    if found is None:
        if len(_ONE) >= 4096:  # `provider/model` named directly: not a fixed set
            _ONE.clear()
        found = _ONE[key] = (
            (b"x-failsoft-attempts", _COUNTS[1] if record.made else _COUNTS[0]),
            (b"x-failsoft-trail", ascii_header(trail((record,)))),
        )
    return found


def _named(target: Target) -> Headers:
    named = [
        (b"x-failsoft-provider", ascii_header(target.provider)),
        (b"x-failsoft-model", ascii_header(target.model)),
    ]
    if len(_NAMED) >= 4096:  # `provider/model` named directly: not a fixed set
        _NAMED.clear()
    _NAMED[target] = named
    return named


_UNCACHED = Served()
"""How an answer of a model without a cache or a ladder came to be (never changed)."""


def _control(scope: Scope, headers: dict[bytes, bytes]) -> Control:
    """The caller's `Cache-Control` and whose answers are its own: worked out only for a
    model with a cache or a ladder (and streams), where the cache layer reads them."""
    credential = namespace(scope) or (
        headers.get(b"x-api-key")
        or headers.get(b"authorization")
        or headers.get(b"x-goog-api-key")
        or query_key(scope)
    )
    return Control.parse(headers.get(b"cache-control"), credential)


def _add_served(headers: Headers, served: Served) -> None:
    """`x-failsoft-cache`, `age` and `x-failsoft-rung`, for models with a cache or a ladder."""
    if served.cache is not None:
        headers.append((b"x-failsoft-cache", served.cache.encode()))
        if served.age is not None:
            headers.append((b"age", str(int(served.age)).encode()))
        if served.match is not None and served.match != "exact":
            headers.append((b"x-failsoft-cache-match", served.match.encode()))
    if served.cache is not None or served.rung != "targets":
        headers.append((b"x-failsoft-rung", served.rung.encode()))


def _kept(served: Served) -> bool:
    """Whether a Responses answer may be kept under its id: not when it is another
    request's answer matched by meaning (its id is that conversation's; an exact match
    had the same input, so the same record)."""
    return served.match is None or served.match == "exact"


def _add_warnings(headers: Headers, warnings: tuple[str, ...]) -> None:
    """`x-failsoft-warning`: what a translation to another dialect could not carry."""
    if warnings:
        headers.append((b"x-failsoft-warning", ascii_header("; ".join(warnings))))


def _is_json(ctype: bytes) -> bool:
    media = ctype.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or media.endswith(b"+json")


def _looks_like_json_object(body: bytes) -> bool:
    stripped = body.strip()
    return stripped[:1] == b"{" and stripped[-1:] == b"}"


def _timeout(value: bytes | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        shown = value.decode("latin-1")
        raise InvalidRequest(
            f"x-failsoft-timeout must be a positive number of seconds, got {shown!r}"
        )
    return seconds


def _retry_count(value: bytes | None) -> int:
    """The SDK's own retry number (0 on a first call); anything unreadable counts as 0."""
    if value is None or not value.isdigit():
        return 0
    return min(int(value), 1000)
