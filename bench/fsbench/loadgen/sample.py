"""The timeline of one exchange, written by the connection and the stream reader and read
by the tally.

All times come from `time.perf_counter_ns` (CLOCK_MONOTONIC on Linux), so stamps written
by another process on this machine are comparable.
"""

from __future__ import annotations

import time

now_ns = time.perf_counter_ns


class Sample:
    """The timeline of one request/response exchange (ns, perf_counter_ns)."""

    __slots__ = (
        "attempts",
        "content_events",
        "gaps",
        "relay",
        "status",
        "stream_error",
        "t_done",
        "t_first",
        "t_first_content",
        "t_last_content",
        "t_sched",
        "t_send",
        "terminal",
    )

    def __init__(self, t_sched: int) -> None:
        self.t_sched = t_sched
        self.t_send = 0
        self.t_first = 0
        self.t_first_content = 0
        self.t_last_content = 0
        self.t_done = 0
        self.status = 0
        self.content_events = 0
        self.terminal = False
        self.stream_error = False
        self.attempts: bytes | None = None
        self.gaps: list[int] | None = None
        self.relay: list[int] | None = None
