"""One measurement: run a load under the CPU meter, keep the quietest of its runs and
collect the rows every phase adds, so that all phases are measured the same way."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fsbench import loadgen
from fsbench.loadgen.tally import Tally
from fsbench.noise import Noise
from fsbench.settings import Durations, is_direct, proxy_of
from fsbench.testbed import Setup

Load = Callable[[Callable[[str], None]], Awaitable[Tally]]
"""A load gets the meter's `mark` to call at the edges of its measuring window."""


def open_load(port: int, request: bytes, **settings: Any) -> Load:
    """`loadgen.open_loop(port, request, **settings)` as a `Load` for `Bench.measure`."""
    return lambda mark: loadgen.open_loop(port, request, mark=mark, **settings)


def closed_load(port: int, request: bytes, **settings: Any) -> Load:
    """`loadgen.closed_loop(port, request, **settings)` as a `Load` for `Bench.measure`."""
    return lambda mark: loadgen.closed_loop(port, request, mark=mark, **settings)


class Bench:
    def __init__(self, setup: Setup, durations: Durations, noise: Noise, verbose: bool) -> None:
        self.setup = setup
        self.noise = noise
        self.d = durations
        self.verbose = verbose
        self.results: dict[str, Any] = {
            "fixed_rate": [],
            "throughput": [],
            "streaming": [],
            "relay": [],
            "failover": [],
            "length": [],
            "outage": [],
            "compare": [],
        }

    def timing(self, phase: str) -> dict[str, float]:
        """The window and warm-up of `phase` ("fixed", "closed", "stream", "failover"), as
        the keyword arguments of a load."""
        return {"duration": getattr(self.d, phase), "warmup": getattr(self.d, f"{phase}_warmup")}

    async def measure(
        self, section: str, labels: dict[str, Any], load: Load, proxy: str | None = None
    ) -> dict[str, Any]:
        """Run one load; re-run it (up to `retries` times) when other processes were busy.
        `proxy` names the process under test when the path does not ("ref": the gateway of
        the --compare revision)."""
        pin = self.setup.pinning
        best: dict[str, Any] | None = None
        proxy = proxy or proxy_of(labels.get("path", ""))
        for attempt in range(1 + self.noise.retries):
            quiet = await self.noise.wait_quiet()
            meter = self.setup.meter(proxy)
            tally = await load(meter.mark)
            row = {**labels, **tally.summary()}
            row["cpu"] = meter.result(pin.side_core, pin.gateway_core)
            row["runs"] = attempt + 1
            row["quiet_before"] = quiet
            gw_ns = row["cpu"].get(f"{proxy}_cpu_ns")
            if gw_ns is not None and not is_direct(labels.get("path", "")):
                units = row.get("content_events") if section in ("streaming", "relay") else tally.ok
                if units:
                    row["gw_cpu_us_per_unit"] = gw_ns / units / 1000.0
            other = row["cpu"].get("other_cpu_pct", 0.0)
            if best is None or other < best["cpu"].get("other_cpu_pct", 0.0):
                best = row
            if other <= self.noise.max_other:
                break
            if self.verbose and attempt < self.noise.retries:
                print(f"    (other processes used {other:.0f}% of a core: again)", flush=True)
        assert best is not None
        best["runs"] = attempt + 1
        self.results[section].append(best)
        if self.verbose:
            lat = best.get("latency_us", {})
            print(
                f"  {section:<10} {' '.join(f'{k}={v}' for k, v in labels.items()):<46} "
                f"ok={best['ok']:<7} err={best['error_count']:<4} ok/s={best['ok_per_s']:<8} "
                f"p50={lat.get('p50', 0):.0f}us p99={lat.get('p99', 0):.0f}us "
                f"other={best['cpu'].get('other_cpu_pct', 0):.0f}%",
                flush=True,
            )
        return best
