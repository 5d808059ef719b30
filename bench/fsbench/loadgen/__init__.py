"""A small, fast HTTP/1.1 load generator: asyncio Protocols + httptools on uvloop.

Two shapes of load, both over a fixed pool of keep-alive connections to 127.0.0.1:

* `open_loop`: requests are *scheduled* at a fixed rate, whatever the responses do
  (a timerfd with ns precision drives the schedule on Linux). Latency is kept twice:
  from the actual send time (uncorrected, like wrk2's uncorrected histogram) and from
  the scheduled send time (corrected for coordinated omission: a request that waits
  for a free connection counts its wait).
* `closed_loop`: every connection sends its next request as soon as the previous
  answer is complete (wrk-style maximum throughput). With an `Sse` spec it measures
  streams instead: time to first content event, gaps between content events and,
  when the upstream stamps its events, the relay latency of each event.

All times come from `time.perf_counter_ns` (CLOCK_MONOTONIC on Linux, so stamps written
by another process on this machine are comparable).

Modules: `client` (the HTTP/1.1 client protocol), `sse` (reading event streams), `pool`
(keep-alive connections), `timer` (the timerfd schedule), `openloop` and `closedloop`
(the two shapes of load), `tally` (what a load observed).
"""

from fsbench.loadgen.client import build_request
from fsbench.loadgen.closedloop import closed_loop, one_exchange, one_request
from fsbench.loadgen.openloop import open_loop
from fsbench.loadgen.sse import ANTHROPIC_SSE, OPENAI_SSE, Sse
from fsbench.loadgen.tally import Tally
from fsbench.loadgen.timer import precise_timer_available

__all__ = [
    "ANTHROPIC_SSE",
    "OPENAI_SSE",
    "Sse",
    "Tally",
    "build_request",
    "closed_loop",
    "one_exchange",
    "one_request",
    "open_loop",
    "precise_timer_available",
]
