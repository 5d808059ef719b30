"""Every proxied request in flight, watched: slow readers let go, and a graceful drain.

A caller that stops reading fills its connection's write buffer; uvicorn's `send` then
waits (`await flow.drain()`) until the caller reads, with no limit of its own. Meanwhile the
relay holds the upstream stream, its pooled connection, an in-flight slot and what both
sides buffered. So each chat request registers a `Flight`, and its body writes go through
`Flight.send`, which only notes when a write began and ended (one clock read per write, no
timer per event). A single timer per process (`Drain._tick`, running only while something
is watched) finds writes the caller has taken nothing of (failsoft's buffer and the
kernel's send queue did not shrink) for `server.send_timeout`, or for `GRACE` once the
request's deadline has run out, and resets that connection: uvicorn then reports the
disconnect, the handler is cancelled as for any caller that left, and the upstream stream
is closed.

On SIGTERM (`begin`), `/readyz` answers 503 at once and requests in flight get up to
`server.drain` seconds. At the end of it (`expire`) every flight still open is cancelled
with the reason `shutdown`: a stream ends with its dialect's in-band error event (written
with a short grace, then the connection is aborted if the caller does not take it), a
request still waiting for its answer gets a 503. What `failsoft serve` does with this is in
`failsoft/serve.py`; the flow is described in docs/operations.md.

Only the connection's transport is taken from the server (`transport_of`): the `send` it
hands an app is a bound method of an object holding it (failsoft's own `Cycle`,
server/cycle.py, as both of uvicorn's HTTP protocols). Mounted in another server without
one, a slow reader's request is cancelled instead and that server closes the connection
as it sees fit.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import math
import signal
import socket
import struct
import termios
from collections.abc import Awaitable, Callable, Iterator
from types import FrameType
from typing import Any, Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from failsoft.readiness import Readiness
from failsoft.server.access import Exchange
from failsoft.server.asgi import Message, Send
from failsoft.server.cycle import Cycle

log = logging.getLogger("failsoft.server")

GRACE = 1.0
"""Seconds the in-band error event of a stream ended by the drain may wait for its caller,
and an unread response's last bytes after the drain, before the connection is aborted."""

REASONS = ("slow_reader", "deadline", "shutdown")
"""Why failsoft cut a request itself (the access line's `cut`, the metric's `reason`):
the caller read nothing for `server.send_timeout`; the caller had not taken the answer
when the request's deadline (`deadlines.total`) ran out; the drain ended."""


def backstop(seconds: float) -> int:
    """uvicorn's own `timeout_graceful_shutdown` for a drain of `seconds`: after the drain
    has ended every stream (and given their error events `GRACE`), so that uvicorn's
    cancelling of whatever is left is a backstop that normally has nothing to do."""
    return math.ceil(seconds + GRACE + 1.0)  # uvicorn's type: whole seconds


def begin_on_signals(drain: Drain) -> None:
    """Begin the drain on SIGTERM / SIGINT, then let the handler already installed (uvicorn
    worker's) do its part. For `--workers`, where failsoft does not own the server."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        if not callable(previous):
            continue

        def handler(
            number: int, frame: FrameType | None, previous: Callable[..., Any] = previous
        ) -> None:
            loop.call_soon_threadsafe(drain.begin)
            previous(number, frame)

        signal.signal(sig, handler)


class Transport(Protocol):
    def abort(self) -> None: ...

    def is_closing(self) -> bool: ...

    def get_write_buffer_size(self) -> int: ...

    def get_extra_info(self, name: str) -> Any: ...


_LINGER_ZERO = struct.pack("ii", 1, 0)


def abort(transport: Transport) -> None:
    """Drop a connection with a TCP reset: what the caller did not read is discarded at
    once, in failsoft's buffer and the kernel's (a plain close would keep the kernel
    trying to deliver megabytes to a peer that does not read)."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
    transport.abort()


def transport_of(send: Any) -> Transport | None:
    """The connection under an ASGI `send`, through failsoft's own wrappers (`Exchange`):
    the `transport` of the object `send` is bound to (server/cycle.py's `Cycle`)."""
    for _ in range(4):
        owner = getattr(send, "__self__", None)
        if owner is not None:
            transport = getattr(owner, "transport", None)
            if transport is not None and hasattr(transport, "abort"):
                return transport  # type: ignore[no-any-return]
            return None
        send = getattr(send, "_send", None)
        if send is None:
            return None
    return None


def _cycle_of(send: Any) -> Cycle | None:
    """The server's request cycle when `send` is its `Cycle.send` through the request's
    `Exchange` (what `transport_of` and `_waits_on` find then), else None."""
    if type(send) is Exchange:
        inner = send._send
        owner = getattr(inner, "__self__", None)
        if type(owner) is Cycle and getattr(inner, "__func__", None) is Cycle.send:
            return owner
    return None


def _waits_on(send: Any) -> Any:
    """The connection (server/protocol.py) whose `write_paused` alone says whether `send`
    can wait: the server's own `Cycle.send`, bare or through the request's `Exchange`
    (which never waits). None for any other `send`, whose every write is timed."""
    if type(send) is Exchange:
        send = send._send
    owner = getattr(send, "__self__", None)
    if type(owner) is Cycle and getattr(send, "__func__", None) is Cycle.send:
        return owner.conn
    return None


_OUTQ: int | None = getattr(termios, "TIOCOUTQ", None)
"""ioctl for the bytes a socket's kernel send queue holds (Linux's SIOCOUTQ)."""


def queued(transport: Transport) -> int:
    """Bytes written to the caller and not yet taken: the transport's buffer, plus the
    kernel's send queue where it can be asked (megabytes on a fast link: without it, a
    caller reading steadily would look stalled while the kernel queue drains)."""
    size = transport.get_write_buffer_size()
    sock = transport.get_extra_info("socket")
    if sock is not None and _OUTQ is not None:
        with contextlib.suppress(OSError, ValueError):
            size += struct.unpack("i", fcntl.ioctl(sock.fileno(), _OUTQ, b"\0\0\0\0"))[0]
    return size


class Flight:
    """One proxied request: its task, its connection, and when its current write began."""

    __slots__ = (
        "_conn",
        "_drain",
        "_send",
        "_time",
        "cut",
        "expires",
        "limit",
        "moved",
        "rid",
        "since",
        "task",
        "transport",
    )

    def __init__(
        self, drain: Drain, send: Send, rid: str, task: asyncio.Task[Any] | None = None
    ) -> None:
        self._drain = drain
        self._send = send
        self._time = drain.loop.time
        self.rid = rid
        self.task = task if task is not None else asyncio.current_task()
        cycle = _cycle_of(send)
        if cycle is not None:  # the usual `send`: both found in one look
            found: Any = cycle.transport
            self.transport = found if hasattr(found, "abort") else None
            self._conn = cycle.conn
        else:
            self.transport = transport_of(send)
            self._conn = _waits_on(send)
        self.since: float | None = None
        """Loop time the pending write began; None between writes."""
        self.moved = (0.0, 0)
        """When the caller last took bytes (the write buffer shrank), and its size then."""
        self.limit = drain.send_timeout
        self.expires: float | None = None
        """Loop time the request's deadline runs out (set once a stream is relayed)."""
        self.cut: str | None = None
        """Why failsoft ended this request itself (`REASONS`), if it did."""

    def send(self, message: Message) -> Awaitable[None]:
        conn = self._conn
        if conn is not None and not conn.write_paused:
            # The write cannot wait (see `_waits_on`): it is over before the loop runs
            # again, so no tick could see `since`; one coroutine fewer per message.
            return self._send(message)
        return self._send_timed(message)

    async def _send_timed(self, message: Message) -> None:
        self.since = self._time()
        try:
            await self._send(message)
        finally:
            self.since = None

    def deadline_in(self, seconds: float | None) -> None:
        """The request's deadline runs out in `seconds`: a write still waiting then is cut."""
        if seconds is not None:
            self.expires = self._drain.loop.time() + seconds

    def idle(self, now: float) -> float:
        """Seconds the caller has taken nothing while the pending write waits: since the
        write began, or since what was queued for the caller last shrank."""
        transport = self.transport
        if transport is not None:
            size = queued(transport)
            self.moved = (now if size < self.moved[1] else self.moved[0], size)
        return now - max(self.since or now, self.moved[0])

    def stop(self, reason: str) -> None:
        """End this request: abort the connection of a caller that does not read (uvicorn
        reports the disconnect, the handler closes the upstream); cancel the handler of one
        ended by the drain, which then writes the in-band error itself."""
        if self.cut is not None:
            if self.since is not None:
                self._abort()  # the error event of a drained stream was not taken either
            return
        self.cut = reason
        self._drain.cut[reason] += 1
        if reason == "shutdown":
            self.limit = min(self.limit, GRACE)
            if self.task is not None:
                self.task.cancel("failsoft: the drain ended")
            return
        waited = self._drain.loop.time() - max(self.since or 0.0, self.moved[0])
        if reason == "slow_reader":
            why = "the caller read nothing for %.1fs (server.send_timeout)"
        else:
            why = "the request's deadline ran out and the caller took nothing for %.1fs"
        log.warning("%s: " + why + "; connection reset, upstream closed", self.rid, waited)
        if not self._abort() and self.task is not None:
            self.task.cancel("failsoft: the caller does not read")

    def _abort(self) -> bool:
        transport = self.transport
        if transport is None:
            return False
        abort(transport)
        return True

    def absorb(self) -> bool:
        """After a CancelledError: True (and the cancel undone) if the drain ended it."""
        if self.cut != "shutdown":
            return False
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        return True


class Drain:
    """The flights of one process, the send deadline's timer, and the shutdown drain."""

    def __init__(self, readiness: Readiness, send_timeout: float, seconds: float) -> None:
        self.readiness = readiness
        self.send_timeout = send_timeout
        self.seconds = seconds
        self.flights: set[Flight] = set()
        self.cut = dict.fromkeys(REASONS, 0)
        self.on_expire: list[Callable[[], None]] = []
        """Run when the drain ends (the runtime stops waiting for webhooks and the store)."""
        self.began: float | None = None
        self.expired = False
        self._lingering: dict[Transport, tuple[float, int]] = {}
        """Connections whose response ended with bytes the caller has not read yet: when
        the caller last took some, and how much was queued then. A caller that takes
        nothing for `send_timeout` is reset, as is every one when the drain ends."""
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._period = min(1.0, send_timeout / 4)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    # ------------------------------------------------------------------ flights

    def enter(self, send: Send, rid: str, task: asyncio.Task[Any] | None = None) -> Flight:
        """Watch the request `rid` (its handler's `task`, when the caller has it)."""
        flight = Flight(self, send, rid, task)
        self.flights.add(flight)
        self._watch()
        return flight

    def leave(self, flight: Flight) -> None:
        self.flights.discard(flight)
        transport = flight.transport
        if (
            transport is not None
            and not transport.is_closing()
            and transport.get_write_buffer_size()
        ):
            self._lingering[transport] = (self.loop.time(), queued(transport))

    def _watch(self) -> None:
        if self._timer is None:
            self._timer = self.loop.call_later(self._period, self._tick)

    def _tick(self) -> None:
        self._timer = None
        now = self.loop.time()
        for flight in list(self.flights):
            if flight.since is None:
                continue
            idle = flight.idle(now)
            if idle > flight.limit:
                flight.stop("slow_reader")
            elif flight.expires is not None and now > flight.expires and idle > GRACE:
                # Past the request's deadline the relay ends the stream with its in-band
                # error once this write is through; a caller still taking bytes gets it,
                # one that has taken nothing for GRACE is cut.
                flight.stop("deadline")
        for transport, (moved, size) in list(self._lingering.items()):
            if transport.is_closing() or not transport.get_write_buffer_size():
                del self._lingering[transport]
                continue
            left = queued(transport)
            if left < size:
                self._lingering[transport] = (now, left)
            elif now - moved > self.send_timeout or self.expired:
                del self._lingering[transport]
                abort(transport)
        if self.flights or self._lingering:
            self._watch()

    # ------------------------------------------------------------------ shutdown

    def begin(self) -> None:
        """SIGTERM: not ready from now on; what is in flight has `seconds` to finish."""
        if self.began is not None:
            return
        self.began = self.loop.time()
        self.readiness.draining = True
        log.info(
            "draining: %d requests in flight get up to %gs (server.drain); /readyz answers 503",
            len(self.flights),
            self.seconds,
        )
        self.loop.call_later(self.seconds, self.expire)

    def expire(self) -> None:
        """The drain time is over: end every request still in flight."""
        if self.expired:
            return
        self.expired = True
        if self.flights:
            log.warning(
                "drain over (%gs): ending %d requests still in flight", self.seconds, len(self)
            )
        for flight in list(self.flights):
            flight.stop("shutdown")
        for hurry in self.on_expire:
            hurry()
        self._watch()

    def __len__(self) -> int:
        return len(self.flights)

    async def settle(self, forced: Callable[[], bool] = lambda: False) -> None:
        """Until nothing is in flight, or the drain has ended and its streams had `GRACE`
        to take their error event; new requests are still served meanwhile."""
        ends = None
        while not forced():
            if self.expired:
                ends = ends or self.loop.time() + GRACE + self._period
                if not self.flights and not self._lingering:
                    return
                if self.loop.time() > ends:
                    for flight in list(self.flights):
                        flight.stop("shutdown")
                    return
            elif not self.flights:
                return
            await asyncio.sleep(0.05)

    # ------------------------------------------------------------------ metrics

    def metrics(self) -> Iterator[Metric]:
        cut = CounterMetricFamily(
            "failsoft_requests_cut",
            "Requests failsoft ended itself: slow_reader (nothing read for "
            "server.send_timeout), deadline (answer not taken by deadlines.total), "
            "shutdown (still in flight when server.drain ended).",
            labels=["reason"],
        )
        for reason in REASONS:
            cut.add_metric([reason], self.cut[reason])
        yield cut
        yield GaugeMetricFamily(
            "failsoft_draining", "1 once shutdown has begun (SIGTERM).", self.began is not None
        )
        yield GaugeMetricFamily(
            "failsoft_requests_watched", "Proxied requests in flight.", len(self.flights)
        )
