"""Turn a response plus an optional fault into timed writes, and play them.

A response is planned as a flat list of steps (bytes to write, seconds to wait, a
final action) before anything is sent. Planning is pure, so each fault's effect on
the wire can be checked without a socket, and a plan without waits is written
synchronously: the common zero-latency case costs no task and no timer.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from failsoft.clock import Clock
from failsoft.sim.faults import Fault
from failsoft.sim.http import Connection
from failsoft.sim.wire import StreamPlan, renumber


class Action(enum.Enum):
    FINISH = "finish"
    """The response is complete; the connection may serve the next request."""
    CLOSE = "close"
    """FIN without finishing the body (no last chunk, or fewer bytes than Content-Length)."""
    RESET = "reset"
    """TCP RST."""
    ABANDON = "abandon"
    """Send nothing more but keep the socket open (hang, stall)."""


class Repeat(bytes):
    """The last step of an answer that never ends: these bytes, written again and again
    (each write waiting until the client has taken the last) until the client goes away."""


Step = bytes | float | Action | Repeat

LAST_CHUNK = b"0\r\n\r\n"
_INTERRUPTING = frozenset({"cut", "stall", "malformed", "mid_stream_error", "endless", "huge_line"})
ENDLESS_WRITE = 64 * 1024
"""About how many bytes each write of an endless answer carries."""


def chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunk, so each SSE event is flushed as its own piece."""
    return b"%x\r\n%s\r\n" % (len(data), data)


class _Plan:
    """Collects steps, merging adjacent writes into one."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        self._pending.append(data)

    def wait(self, seconds: float) -> None:
        if seconds > 0:
            self._flush()
            self.steps.append(float(seconds))

    def forever(self, data: bytes) -> list[Step]:
        self._flush()
        self.steps.append(Repeat(data))
        return self.steps

    def end(self, action: Action) -> list[Step]:
        self._flush()
        self.steps.append(action)
        return self.steps

    def _flush(self) -> None:
        if self._pending:
            self.steps.append(b"".join(self._pending))
            self._pending = []


def _cut_action(fault: Fault) -> Action:
    return Action.RESET if fault.mode == "reset" else Action.CLOSE


def cut_json(event: bytes) -> bytes:
    """A dialect-neutral corruption: the event without its closing braces and brackets."""
    body = event.rstrip()
    return body[: len(body.rstrip(b"}]"))] + event[len(body) :]


def stream_steps(
    head: bytes,
    plan: StreamPlan,
    fault: Fault | None,
    *,
    before_head: float,
    first_wait: float,
    chunk_delay: float,
    malformed: bytes,
    error_event: bytes,
    corrupt: Callable[[bytes], bytes] = cut_json,
) -> list[Step]:
    steps = _Plan()
    steps.wait(before_head)
    steps.write(head)
    for event in plan.preamble:
        steps.write(chunk(event))
    kind = fault.kind if fault is not None else None
    at = fault.events_before if fault is not None and kind in _INTERRUPTING else -1
    content = plan.content
    corrupting = fault is not None and kind == "malformed" and fault.target == "content"
    if corrupting and content:
        at = min(at, len(content) - 1)  # a short answer: its last content event
    pause = 0.0  # a stall that ends, before the next event
    for index in range(len(content) + 1):
        wait = first_wait if index == 0 else chunk_delay
        item = content[index] if index < len(content) else None
        if index == at or (item is None and at > index):
            assert fault is not None
            if kind == "cut":
                return steps.end(_cut_action(fault))
            if kind == "stall":
                if fault.delay is None:
                    return steps.end(Action.ABANDON)
                if fault.then != "continue":
                    steps.wait(fault.delay)
                    return steps.end(Action.CLOSE)
                pause = fault.delay
            elif kind == "endless":
                # The same content event forever: a model that never stops talking.
                again = chunk(item if item is not None else content[-1]) if content else b""
                return steps.forever(again * max(1, ENDLESS_WRITE // max(1, len(again))))
            elif kind == "huge_line":
                # One `data:` line that never ends: no newline, ever.
                steps.write(chunk(b'data: {"filler": "'))
                return steps.forever(chunk(b"a" * ENDLESS_WRITE))
            elif kind == "mid_stream_error":
                steps.wait(wait)
                if plan.numbered:
                    error_event = renumber(error_event, len(plan.preamble) + index)
                steps.write(chunk(error_event) + LAST_CHUNK)
                return steps.end(Action.FINISH)
            elif corrupting and item is not None:
                item = corrupt(item)
            else:
                steps.wait(wait)
                steps.write(chunk(malformed))
                wait = chunk_delay
        if item is None:
            steps.wait(pause)
            break
        steps.wait(wait + pause)
        pause = 0.0
        steps.write(chunk(item))
    for event in plan.close:
        steps.write(chunk(event))
    if kind != "no_terminal":
        for event in plan.terminal:
            steps.write(chunk(event))
        if kind != "no_done":
            for event in plan.marker:
                steps.write(chunk(event))
    steps.write(LAST_CHUNK)
    return steps.end(Action.FINISH)


def body_steps(
    head: Callable[[int], bytes],
    body: bytes,
    fault: Fault | None,
    *,
    wait: float,
    text_end: int | None = None,
) -> list[Step]:
    """A Content-Length response: cut/stall send half the body (a stall with `delay` then
    closes or sends the rest); malformed truncates the JSON, at `text_end` (just after the
    answer text) for `target: content`, else at half."""
    steps = _Plan()
    steps.wait(wait)
    kind = fault.kind if fault is not None else None
    if kind == "endless":
        # A JSON body that never ends: half the answer, then filler inside its string.
        steps.write(head(-1) + chunk(body[: len(body) // 2]))
        return steps.forever(chunk(b"a" * ENDLESS_WRITE))
    if kind in ("cut", "stall"):
        assert fault is not None
        half = len(body) // 2
        steps.write(head(len(body)) + body[:half])
        if kind == "cut":
            return steps.end(_cut_action(fault))
        if fault.delay is None:
            return steps.end(Action.ABANDON)
        steps.wait(fault.delay)
        if fault.then != "continue":
            return steps.end(Action.CLOSE)
        steps.write(body[half:])
        return steps.end(Action.FINISH)
    if kind == "malformed":
        assert fault is not None
        content = fault.target == "content" and text_end is not None
        body = body[:text_end] if content else body[: len(body) // 2]
    steps.write(head(len(body)) + body)
    return steps.end(Action.FINISH)


def is_immediate(steps: list[Step]) -> bool:
    return not any(isinstance(step, (float, Repeat)) for step in steps)


def play_now(conn: Connection, steps: list[Step]) -> None:
    """Play a plan that has no waits, synchronously."""
    for step in steps:
        if isinstance(step, bytes):
            conn.write(step)
        elif isinstance(step, Action):
            _act(conn, step)


async def play(conn: Connection, steps: list[Step], clock: Clock) -> None:
    for step in steps:
        if conn.closed:
            return
        if isinstance(step, Repeat):
            await _forever(conn, step, clock)
            return
        if isinstance(step, bytes):
            conn.write(step)
            await conn.drain()
        elif isinstance(step, Action):
            _act(conn, step)
        else:
            await clock.sleep(step)


async def _forever(conn: Connection, data: bytes, clock: Clock) -> None:
    """Write `data` again and again until the client goes away (an endless answer)."""
    while not conn.closed:
        conn.write(data)
        await conn.drain()
        await clock.sleep(0)  # a client that reads as fast: let the others run


def _act(conn: Connection, action: Action) -> None:
    if action is Action.FINISH:
        conn.finish()
    elif action is Action.CLOSE:
        conn.close()
    elif action is Action.RESET:
        conn.reset()
    else:
        conn.abandon()
