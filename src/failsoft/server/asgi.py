"""The few ASGI helpers the server needs, without a framework on the hot path."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from failsoft.errors import PayloadTooLarge

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

JSON = b"application/json"


class ClientGone(Exception):
    """The client went away before its request was complete: nothing to answer."""


HEADERS = "failsoft.headers"
"""The scope key of the request headers the chat endpoints read (`header_map` of their
names), when the app has already picked them out."""


def header_map(scope: Scope, wanted: frozenset[bytes]) -> dict[bytes, bytes]:
    """The request headers named in `wanted` (lower-case), in one pass."""
    return {name: value for name, value in scope["headers"] if name in wanted}


async def read_body(receive: Receive, limit: int, declared: int | None) -> bytes:
    """The whole request body, refusing anything above `limit` bytes before buffering it."""
    if declared is not None and declared > limit:
        raise PayloadTooLarge(too_large(declared, limit))
    first = await receive()
    body: bytes = first.get("body", b"")
    if not first.get("more_body"):
        if len(body) > limit:
            raise PayloadTooLarge(too_large(len(body), limit))
        return body
    parts = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone("the client disconnected while sending its body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(too_large(size, limit))
        parts.append(chunk)
        if not message.get("more_body"):
            return b"".join(parts)


def too_large(size: int, limit: int) -> str:
    """The 413's message."""
    return f"the request body ({size} bytes) exceeds this gateway's limit of {limit} bytes"


def ascii_header(value: str) -> bytes:
    """Header values must be Latin-1; percent-encode the rare non-ASCII model name."""
    try:
        return value.encode("ascii")
    except UnicodeEncodeError:
        from urllib.parse import quote

        return quote(value, safe="/:,.-_@=+ ").encode("ascii")


async def send_bytes(send: Send, status: int, headers: Headers, body: bytes) -> None:
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


WATCH_DELAY = 0.05
"""How long a request runs before its `DisconnectWatch` starts watching."""


class DisconnectWatch:
    """Cancels the handler's task when the client goes away before the response ends.

    uvicorn silently drops writes to a closed connection, so without this a relay would
    keep reading (and paying for) an upstream stream nobody receives. The watching task
    starts only once a request has run for `delay` seconds: model calls take seconds, so
    they are all watched, while the many quick answers never pay for a task. Given
    `starter` (one per server), the watches share its timer rather than each scheduling
    and cancelling one of its own.
    """

    __slots__ = ("_handle", "_receive", "_starter", "_task", "_watcher", "disconnected", "finished")

    def __init__(
        self,
        receive: Receive,
        delay: float = WATCH_DELAY,
        starter: WatchStarter | None = None,
        task: asyncio.Task[Any] | None = None,
    ) -> None:
        """`task`: the handler's task, when the caller has it already (finding it again
        costs a `getpid` system call, in `asyncio.get_running_loop`)."""
        self.finished = False
        self.disconnected = False
        self._receive = receive
        self._task = task if task is not None else asyncio.current_task()
        self._watcher: asyncio.Future[None] | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._starter: WatchStarter | None = None
        loop = task.get_loop() if task is not None else None
        if starter is not None and starter.add(self, delay, loop):
            self._starter = starter
        else:
            loop = loop if loop is not None else asyncio.get_running_loop()
            self._handle = loop.call_later(delay, self._start)

    def _start(self) -> None:
        self._handle = None
        self._starter = None
        if not self.finished:
            self._watcher = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                if not self.finished and self._task is not None:
                    self.disconnected = True
                    self._task.cancel("client disconnected")
                return

    def stop(self) -> None:
        """The response is complete. A started watcher's `receive()` now returns at once and
        its task ends by itself; cancelling it instead would leave a CancelledError, its
        traceback and frames in reference cycles for the garbage collector, per request."""
        self.finished = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        starter = self._starter
        if starter is not None:
            self._starter = None
            starter.waiting.pop(self, None)

    def absorb(self) -> bool:
        """After a CancelledError: True (and the cancel is undone) if it was our disconnect."""
        if not self.disconnected:
            return False
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        return True


class WatchStarter:
    """Starts the `DisconnectWatch`es of one event loop once their delay is over, from one
    timer: a request adds itself to a dict and takes itself out, where a timer of its own
    would be a heap push and a cancel per request. A watch starts no earlier than its
    delay after it began, and (with the delays of a server all alike) when it is due."""

    __slots__ = ("_loop", "_timer", "waiting")

    def __init__(self) -> None:
        self.waiting: dict[DisconnectWatch, float] = {}
        """watch → loop time it is due, in the order added."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None

    def add(
        self, watch: DisconnectWatch, delay: float, loop: asyncio.AbstractEventLoop | None = None
    ) -> bool:
        """Start `watch` after `delay`; False if this starter serves another loop (`loop`:
        the running one, when the caller knows it)."""
        if loop is None:
            loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None and self.waiting:
                return False
            self._loop = loop
            self._timer = None
        due = loop.time() + delay
        self.waiting[watch] = due
        if self._timer is None:
            self._timer = loop.call_at(due, self._run)
        return True

    def _run(self) -> None:
        loop = self._loop
        if loop is None or asyncio.get_running_loop() is not loop:
            return  # a timer left on a loop this starter no longer serves
        self._timer = None
        now = loop.time()
        waiting = self.waiting
        while waiting:
            watch = next(iter(waiting))
            due = waiting[watch]
            if due > now:
                self._timer = loop.call_at(due, self._run)
                return
            del waiting[watch]
            watch._start()
