"""The fixed choices of the benchmark in one place, so that the phases, the report and
the JSON describe the same run (answer sizes, stream pacing, targets, path names)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
API_KEY = "sk-bench"
ANSWER_WORDS = 16
"""Generated words per answer; with the simulator's 4-word prefix: 20 content events."""
LONG_ANSWER_WORDS = 196
"""The long-answer test: 200 content events (tokens)."""
CHUNK_DELAY = 0.002
"""Seconds between content events in the streaming tests."""
STREAM_CHUNKS = 20
REQUEST_BYTES = 2000

TARGETS = {
    "added_p50_us_at_500": 500.0,
    "added_p99_us_at_500": 2000.0,
    "throughput_rps": 3000.0,
    "idle_rss_mb": 80.0,
}

SECTIONS = ("fixed", "throughput", "length", "streaming", "relay", "failover")
"""What `--only` can select, in the order the phases run."""

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

    @classmethod
    def for_mode(cls, quick: bool, scale: float) -> Durations:
        if quick:
            base = cls(1.0, 0.3, 1.0, 0.3, 0.7, 0.3, 1.0, 0.3)
        else:
            base = cls(15.0, 2.0, 10.0, 2.0, 5.0, 1.0, 10.0, 2.0)
        return cls(*(round(v * scale, 3) for v in _values(base)))


def _values(d: Durations) -> list[float]:
    return [getattr(d, name) for name in d.__slots__]
