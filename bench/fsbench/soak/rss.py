"""RSS (and CPU) of the processes under test, sampled every few seconds of the soak, and
the verdict on whether the gateway's RSS stayed flat.

The limit, and why (issue 18: "flat RSS over a 30-minute run at 1,000 req/s"): after the
warm-up, the least-squares slope of the gateway's RSS must be at most `MAX_SLOPE_MB`
(2 MB) per 10 minutes, and the RSS at the end at most `MAX_GROWTH_MB` (5 MB) above the RSS
after the warm-up. At 1,000 req/s, 10 minutes are 600,000 requests, so 2 MB per 10 minutes
is 3.5 bytes per request: keeping even one small Python object (a 50-100 byte string or
dict entry) for every tenth request shows as several times the limit, while a cache or
window that is bounded has filled up during the warm-up (5 minutes, 300,000 requests, in
the default run) and stops growing. The 5 MB bound leaves room for what the allocator does
without a trend (pymalloc arenas are 1 MiB, glibc keeps or returns free heap as it sees
fit: RSS steps by a few MB either way), and catches a late step up that a slope over the
whole window would average away. Both are compared with medians of a minute of samples
(`EDGE_S`), not single readings, so one sample taken mid-burst does not decide.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from fsbench import procfs

MAX_SLOPE_MB = 2.0
"""MB per 10 minutes after the warm-up (least-squares slope of the samples)."""
MAX_GROWTH_MB = 5.0
"""End RSS minus RSS after the warm-up, MB."""
EDGE_S = 60.0
"""The RSS "after the warm-up" and "at the end" are the medians of this many seconds of
samples (or a quarter of the window after the warm-up, if that is shorter)."""
JUDGED_WINDOW_S = 600.0
"""A window after the warm-up shorter than this gives an indicative verdict only: the
slope of a few minutes says little about a trend."""
MIN_RATE_SHARE = 0.99
"""The load counts as delivered when at least this share of the scheduled requests per
second was answered."""
MAX_ERROR_SHARE = 0.001
"""... and at most this share of them failed (a gateway that errs could keep flat RSS)."""


def fd_count(pid: int) -> int | None:
    with contextlib.suppress(OSError):
        return len(os.listdir(f"/proc/{pid}/fd"))
    return None


@dataclass(slots=True)
class Sampler:
    """Readings of RSS (MB), CPU time and open file descriptors of each process, with the
    time since the schedule's t=0 (s)."""

    pids: dict[str, int]
    t0_ns: int = 0
    samples: list[dict[str, Any]] = field(default_factory=list)

    def read(self) -> dict[str, Any]:
        t = time.perf_counter_ns()
        row: dict[str, Any] = {"t": round((t - self.t0_ns) / 1e9, 3)}
        for name, pid in self.pids.items():
            try:
                row[f"{name}_rss_mb"] = round(procfs.memory_kb(pid)["VmRSS"] / 1024, 3)
                row[f"{name}_cpu_s"] = round(procfs.cpu_ns(pid) / 1e9, 2)
            except (OSError, KeyError):
                row[f"{name}_rss_mb"] = None
                row[f"{name}_cpu_s"] = None
        row["gateway_fds"] = fd_count(self.pids["gateway"]) if "gateway" in self.pids else None
        self.samples.append(row)
        return row


def slope_per_s(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of y over x; None for fewer than two distinct x."""
    if len(points) < 2:
        return None
    mean_x = statistics.fmean(x for x, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx


def flatness(
    samples: list[dict[str, Any]],
    warmup_s: float,
    key: str = "gateway_rss_mb",
    max_slope: float = MAX_SLOPE_MB,
    max_growth: float = MAX_GROWTH_MB,
) -> dict[str, Any]:
    """RSS at the start, after the warm-up and at the end, the slope after the warm-up in MB
    per 10 minutes, and PASS/MISS against the limits (see the module's docstring)."""
    points = [(s["t"], s[key]) for s in samples if s.get(key) is not None]
    after = [(t, y) for t, y in points if t >= warmup_s]
    out: dict[str, Any] = {
        "key": key,
        "warmup_s": warmup_s,
        "limits": {"slope_mb_per_10min": max_slope, "growth_mb": max_growth},
        "start_mb": points[0][1] if points else None,
        "max_mb": max((y for _, y in points), default=None),
        "samples_after_warmup": len(after),
    }
    if len(after) < 2:
        out.update(verdict="MISS", reason="fewer than two samples after the warm-up")
        return out
    window = after[-1][0] - after[0][0]
    edge = min(EDGE_S, window / 4)
    warm = statistics.median(y for t, y in after if t <= after[0][0] + edge)
    end = statistics.median(y for t, y in after if t >= after[-1][0] - edge)
    slope = slope_per_s(after)
    per_10 = slope * 600 if slope is not None else None
    out.update(
        window_s=round(window, 1),
        edge_s=round(edge, 1),
        warm_mb=round(warm, 3),
        end_mb=round(end, 3),
        growth_mb=round(end - warm, 3),
        slope_mb_per_10min=round(per_10, 3) if per_10 is not None else None,
        judged=window >= JUDGED_WINDOW_S,
    )
    ok = per_10 is not None and per_10 <= max_slope and end - warm <= max_growth
    out["verdict"] = "PASS" if ok else "MISS"
    if not ok:
        out["reason"] = (
            f"slope {per_10:+.2f} MB/10 min (limit {max_slope})" if per_10 is not None else ""
        ) + f", end - warm-up {end - warm:+.2f} MB (limit {max_growth})"
    return out


def load_delivered(rate: float, ok_per_s: float, errors: int, scheduled: int) -> dict[str, Any]:
    """Whether the soak put the load it was asked for on the gateway."""
    error_share = errors / scheduled if scheduled else 1.0
    delivered = ok_per_s >= MIN_RATE_SHARE * rate and error_share <= MAX_ERROR_SHARE
    return {
        "delivered": delivered,
        "ok_per_s": round(ok_per_s, 1),
        "rate": rate,
        "error_share": error_share,
        "limits": {"min_rate_share": MIN_RATE_SHARE, "max_error_share": MAX_ERROR_SHARE},
    }
