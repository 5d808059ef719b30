"""The committed relay's per-chunk work, done inside the upstream connection's callback.

Relaying an event used to cost a task wake-up (the upstream's `data_received` resolving
the future `readany` waited on), an async-generator hop and an ASGI `send` per event:
about a quarter of the instructions of one relayed event (docs/benchmark.md). In relay
mode (transport/h1.py `Connection.relay_to`) the body pieces the upstream's parser
produces from one socket read come here at once (`piece`), and after that read (`flush`)
the events they complete are checked by the stream's own `_scan` (every event is still
classified, metered, translated and observed as before), and what the caller gets is
written to its connection at once by the server's direct writer (server/direct.py). The
relay's task sleeps meanwhile, and is woken only when something needs it:

- the stream ended (its terminal event, held for the task to yield: the server sends
  it with the response's last chunk, in one write) or broke (a break found in the
  events, the answer size cap, an oversized event): it finishes as the generic loop
  would;
- the caller's writes are paused (its buffer is above the high-water mark): the batch
  is held, relay mode ends, and the task hands the batch to the ASGI `send`, which waits
  for the caller (the drain's slow-reader watch times that wait); upstream reading pauses
  as usual once `READ_BUFSIZE` waits unread;
- a bug in a check (an exception the generic loop would have raised in the task);
- the connection ended, failed or closed (the connection wakes the task itself).

The idle deadline is re-armed per read by an attribute write on the attempt's timer
(`IdleTimer.arm`); when it fires, the task is cancelled as before, and a piece that comes
after that is dropped, as the generic loop drops what it has not read.
"""

from __future__ import annotations

from collections.abc import Callable

from failsoft.errors import AnswerTooLarge, UpstreamError
from failsoft.router.phases import IdleTimer
from failsoft.router.timer import PhaseTimer
from failsoft.transport.h1 import Connection

Scan = Callable[[], tuple[bytes, bool, UpstreamError | None]]


class DirectRelay:
    """The sink of one relay-mode stretch, and what it leaves for the task."""

    __slots__ = (
        "_cap",
        "_conn",
        "_decoder_push",
        "_idle",
        "_scan",
        "_timer",
        "_write",
        "broken",
        "failure",
        "held",
        "sent",
        "size",
        "stop",
    )

    def __init__(
        self,
        conn: Connection,
        push: Callable[[bytes], None],
        scan: Scan,
        write: Callable[[bytes], bool],
        timer: PhaseTimer,
        idle: IdleTimer,
        size: int,
        cap: int,
    ) -> None:
        self._conn = conn
        self._decoder_push = push
        self._scan = scan
        self._write = write
        self._timer = timer
        self._idle = idle
        self._cap = cap
        self.size = size
        """Answer bytes received so far (for the cap), kept in step with the task's."""
        self.stop = False
        """The stream ended with what was scanned: `broken` says how."""
        self.broken: UpstreamError | None = None
        self.failure: Exception | None = None
        """An unexpected exception from the checks, for the task to raise."""
        self.held = b""
        """Bytes for the caller that could not be written directly (paused writes)."""
        self.sent = b""
        """The last bytes written directly."""

    def attach(self) -> bool:
        """Enter relay mode, unless pieces already wait (then `readany` first)."""
        return self._conn.relay_to(self.piece, self.flush)

    async def wait(self) -> None:
        try:
            await self._conn.relay_wait()
        finally:
            self._conn.relay_stop()

    def piece(self, chunk: bytes) -> None:
        """One body piece: counted against the cap and kept for `flush`."""
        if self._timer.expired:
            self._end()  # the idle deadline passed: the task ends the stream
            return
        try:
            self.size += len(chunk)
            if self.size > self._cap:
                raise AnswerTooLarge(self._cap)
            self._decoder_push(chunk)
        except UpstreamError as exc:
            self.stop = True
            self.broken = exc
            self._end()

    def flush(self) -> None:
        """The events completed by one read: checked, and written as one batch."""
        try:
            data, stop, broken = self._scan()
        except Exception as exc:  # raised in the task, as the generic loop would
            self.failure = exc
            self._end()
            return
        if data:
            if stop and broken is None:
                self.held = data  # the end: the server writes it with the response's end
            elif self._write(data):
                self.sent = data
            else:
                self.held = data
        if stop:
            self.stop = True
            self.broken = broken
            self._end()
        elif self.held:
            self._end()
        else:
            self._idle.arm()

    def _end(self) -> None:
        conn = self._conn
        conn.relay_stop()
        conn.relay_wake()
