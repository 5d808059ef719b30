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


def header_map(scope: Scope, wanted: frozenset[bytes]) -> dict[bytes, bytes]:
    """The request headers named in `wanted` (lower-case), in one pass."""
    return {name: value for name, value in scope["headers"] if name in wanted}


async def read_body(receive: Receive, limit: int, declared: int | None) -> bytes:
    """The whole request body, refusing anything above `limit` bytes before buffering it."""
    if declared is not None and declared > limit:
        raise PayloadTooLarge(_too_large(declared, limit))
    first = await receive()
    body: bytes = first.get("body", b"")
    if not first.get("more_body"):
        if len(body) > limit:
            raise PayloadTooLarge(_too_large(len(body), limit))
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
            raise PayloadTooLarge(_too_large(size, limit))
        parts.append(chunk)
        if not message.get("more_body"):
            return b"".join(parts)


def _too_large(size: int, limit: int) -> str:
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


class DisconnectWatch:
    """Cancels the handler's task when the client goes away before the response ends.

    uvicorn silently drops writes to a closed connection, so without this a relay would
    keep reading (and paying for) an upstream stream nobody receives. The watching task
    starts only once a request has run for `delay` seconds: model calls take seconds, so
    they are all watched, while the many quick answers never pay for a task.
    """

    __slots__ = ("_handle", "_receive", "_task", "_watcher", "disconnected", "finished")

    def __init__(self, receive: Receive, delay: float = 0.05) -> None:
        self.finished = False
        self.disconnected = False
        self._receive = receive
        self._task = asyncio.current_task()
        self._watcher: asyncio.Future[None] | None = None
        self._handle: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(
            delay, self._start
        )

    def _start(self) -> None:
        self._handle = None
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

    def absorb(self) -> bool:
        """After a CancelledError: True (and the cancel is undone) if it was our disconnect."""
        if not self.disconnected:
            return False
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        return True
