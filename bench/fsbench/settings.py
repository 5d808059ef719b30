"""The fixed choices of the benchmark in one place, so that the phases, the report and
the JSON describe the same run (answer sizes, stream pacing, targets, path names)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
API_KEY = "sk-bench"
PREFIX_WORDS = 4
"""The simulator's "Simulated answer from MODEL:" prefix, one content event per word."""
ANSWER_TOKENS = 50
"""Non-streaming answers of the main sections (issue 18's targets are for 50-token answers)."""
ANSWER_WORDS = ANSWER_TOKENS - PREFIX_WORDS
LONG_ANSWER_TOKENS = 500
"""The long-answer row (2b), also the other end of "CPU per answered token"."""
LONG_ANSWER_WORDS = LONG_ANSWER_TOKENS - PREFIX_WORDS
MAX_TOKENS = 1024
"""`max_tokens` of every request: above the long answer, so the simulator never cuts it."""
CHUNK_DELAY = 0.002
"""Seconds between content events in the streaming tests."""
STREAM_CHUNKS = 20
"""Content events of the paced streams (sections 3 and 4): 20, so that a stream lasts
~40 ms and a phase gathers enough first-content samples; TTFC does not depend on length."""
STREAM_WORDS = STREAM_CHUNKS - PREFIX_WORDS
REQUEST_BYTES = 2000
OPEN_STREAMS = 100
"""Streams held open at once for "memory per open stream"."""
OPEN_STREAM_DELAY = 0.05
"""Seconds between the content events of those streams (50 tokens: 2.5 s per stream)."""
OUTAGE_RATE = 50
"""Requests per second of the outage section (issue 18: primary 529 at 50 req/s)."""
TARGET_RATE = 1000
"""The fixed rate at which issue 18 sets the CPU and added-latency targets."""

TARGETS = {
    "as_on_vs_floor": 1.0,
    "as_off_vs_floor": 1.5,
    "cpu_us_at_1000": 250.0,
    "added_p50_us_at_1000": 300.0,
    "added_p99_us_at_1000": 1000.0,
    "stream_ttfc_added_us": 300.0,
    "relay_cpu_us_same": 15.0,
    "relay_cpu_us_translated": 25.0,
    "cpu_us_per_token": 1.0,
    "idle_rss_mb": 60.0,
    "outage_p99_added_us": 5000.0,
}
"""Issue 18's targets; throughput is a ratio to the floor measured in the same run."""

SECTIONS = (
    "fixed",
    "throughput",
    "length",
    "streaming",
    "relay",
    "failover",
    "outage",
    "memory",
    "compare",
)
"""What `--only` can select, in the order the phases run ("compare" only with --compare)."""

# Paths through which requests go. "direct" hits the simulator; "floor" a minimal
# pass-through proxy on the gateway's stack (bench/floor_proxy.py); the others the gateway.
# "direct stream" (section 1 only) asks the simulator for the stream that gw as=on asks for.
DIRECT = "direct"
DIRECT_STREAM = "direct stream"
FLOOR = "floor"
GW_AS = "gw as=on"
GW_NS = "gw as=off"
PATH_NOTES = {
    DIRECT: "straight to the simulator",
    DIRECT_STREAM: "straight to the simulator with stream: true + include_usage, complete at "
    "the end of the chunked body (section 1): the upstream work of gw as=on",
    FLOOR: "via a minimal uvicorn+ASGI+aiohttp pass-through (no timeouts, failover or "
    "validation): a lower bound for any proxy on failsoft's stack",
    GW_AS: "via gateway, always_stream: true (default): upstream asked for a stream, "
    "answer assembled",
    GW_NS: "via gateway, always_stream: false: non-streaming request forwarded as is",
}


TRANSLATED_RELAY = "openai->anthropic"
"""The relay section's translated case: caller's dialect -> upstream's dialect."""


def upstream_dialect(dialect: str) -> str:
    """The dialect whose direct row a streaming row is compared with."""
    return dialect.rsplit("->", 1)[-1]


def is_direct(path: str) -> bool:
    return path.startswith(DIRECT)


def proxy_of(path: str) -> str:
    """Which process under test a path goes through: "floor" or "gateway" (also for direct
    rows, where the gateway is idle)."""
    return "floor" if path == FLOOR else "gateway"


@dataclass(frozen=True, slots=True)
class Durations:
    fixed: float
    fixed_warmup: float
    closed: float
    closed_warmup: float
    stream: float
    stream_warmup: float
    failover: float
    failover_warmup: float
    outage: float

    @classmethod
    def for_mode(cls, quick: bool, scale: float) -> Durations:
        if quick:
            base = cls(1.0, 0.3, 1.0, 0.3, 0.7, 0.3, 1.0, 0.3, 2.0)
        else:
            base = cls(15.0, 2.0, 10.0, 2.0, 5.0, 1.0, 10.0, 2.0, 15.0)
        return cls(*(round(v * scale, 3) for v in _values(base)))


def _values(d: Durations) -> list[float]:
    return [getattr(d, name) for name in d.__slots__]
