"""What one load phase observed, kept as raw ns arrays until the end so that the
percentiles are exact (nearest rank) rather than bucketed."""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fsbench.loadgen.sample import Sample
from fsbench.loadgen.sse import Sse


def percentiles(values_ns: Sequence[int] | array[int]) -> dict[str, float]:
    """p50/p90/p99/p99.9/max/mean in µs (nearest rank); empty dict for no values."""
    if not values_ns:
        return {}
    ordered = sorted(values_ns)
    n = len(ordered)

    def rank(q: float) -> float:
        index = min(n - 1, max(0, int(q * n + 0.999999) - 1))
        return ordered[index] / 1000.0

    return {
        "n": n,
        "p50": rank(0.50),
        "p90": rank(0.90),
        "p99": rank(0.99),
        "p99.9": rank(0.999),
        "max": ordered[-1] / 1000.0,
        "mean": sum(ordered) / n / 1000.0,
    }


@dataclass(slots=True)
class Tally:
    """Everything one load phase observed."""

    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latency: array[int] = field(default_factory=lambda: array("q"))
    """Response complete minus actual send (ns)."""
    latency_sched: array[int] = field(default_factory=lambda: array("q"))
    """Response complete minus scheduled send (ns); open loop only."""
    ttfb: array[int] = field(default_factory=lambda: array("q"))
    ttfc: array[int] = field(default_factory=lambda: array("q"))
    gaps: array[int] = field(default_factory=lambda: array("q"))
    relay: array[int] = field(default_factory=lambda: array("q"))
    content_events: int = 0
    incomplete_streams: int = 0
    attempts: Counter[str] = field(default_factory=Counter)
    connects: int = 0
    reconnects: int = 0
    late_ticks: int = 0
    window_s: float = 0.0

    def add(self, sample: Sample, error: str | None, sse: Sse | None, open_loop: bool) -> None:
        if error is None and sample.status != 200:
            error = f"HTTP {sample.status}"
        if error is None and sse is not None and (not sample.terminal or sample.stream_error):
            error = "stream without terminal event" if not sample.terminal else "in-band error"
        if sample.attempts is not None:
            self.attempts[sample.attempts.decode("latin-1")] += 1
        if error is not None:
            self.errors[error] += 1
            return
        self.ok += 1
        self.latency.append(sample.t_done - sample.t_send)
        if open_loop:
            self.latency_sched.append(sample.t_done - sample.t_sched)
        if sample.t_first:
            self.ttfb.append(sample.t_first - sample.t_send)
        if sse is not None:
            self.content_events += sample.content_events
            if sample.t_first_content:
                self.ttfc.append(sample.t_first_content - sample.t_send)
            if sample.gaps:
                self.gaps.extend(sample.gaps)
            if sample.relay:
                self.relay.extend(sample.relay)

    def summary(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "ok": self.ok,
            "errors": dict(self.errors),
            "error_count": sum(self.errors.values()),
            "window_s": round(self.window_s, 3),
            "ok_per_s": round(self.ok / self.window_s, 1) if self.window_s else 0.0,
            "latency_us": percentiles(self.latency),
            "connects": self.connects,
            "reconnects": self.reconnects,
        }
        if self.latency_sched:
            result["latency_sched_us"] = percentiles(self.latency_sched)
            result["late_ticks"] = self.late_ticks
        if self.ttfc or self.gaps or self.relay:
            result["ttfb_us"] = percentiles(self.ttfb)
            result["ttfc_us"] = percentiles(self.ttfc)
            result["gap_us"] = percentiles(self.gaps)
            result["content_events"] = self.content_events
            result["events_per_stream"] = round(self.content_events / self.ok, 2) if self.ok else 0
        if self.relay:
            result["relay_us"] = percentiles(self.relay)
        if self.attempts:
            result["attempts_header"] = dict(self.attempts)
        return result
