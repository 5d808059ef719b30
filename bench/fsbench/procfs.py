"""What /proc says about the processes under test: CPU time, RSS, per-core busy time and
TCP socket states, which is all the measuring this benchmark does outside its load
generator."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def cpu_ns(pid: int) -> int:
    """utime + stime of a whole process (all threads), in ns (10 ms resolution)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * _TICK_NS


def memory_kb(pid: int) -> dict[str, int]:
    result: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                result[key] = int(value.split()[0])
    return result


def core_times() -> dict[str, dict[str, int]]:
    """Per-core jiffies (as ns): busy, idle, steal."""
    result: dict[str, dict[str, int]] = {}
    with open("/proc/stat") as f:
        for line in f:
            if not line.startswith("cpu") or line.startswith("cpu "):
                continue
            name, *values = line.split()
            v = [int(x) for x in values[:8]]
            user, nice, system, idle, iowait, irq, softirq, steal = v + [0] * (8 - len(v))
            result[name] = {
                "busy": (user + nice + system + irq + softirq) * _TICK_NS,
                "idle": (idle + iowait) * _TICK_NS,
                "steal": steal * _TICK_NS,
            }
    return result


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    return inodes


_ESTABLISHED = "01"
_TIME_WAIT = "06"


def tcp_snapshot(gateway_pid: int | None, ports: Mapping[str, int]) -> dict[str, int]:
    """Connections of interest from /proc/net/tcp.

    `gw_to_<name>`: the gateway's open connections to that port (its upstream pool);
    `time_wait_<name>`: sockets in TIME_WAIT on that port (either end): connections
    closed in the last 60 s, so a growing count means connection churn.
    """
    owned = _socket_inodes(gateway_pid) if gateway_pid is not None else set()
    counts = {f"gw_to_{name}": 0 for name in ports} | {f"time_wait_{name}": 0 for name in ports}
    by_port = {port: name for name, port in ports.items()}
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                parts = line.split()
                local = int(parts[1].rsplit(":", 1)[1], 16)
                remote = int(parts[2].rsplit(":", 1)[1], 16)
                state, inode = parts[3], parts[9]
                if state == _TIME_WAIT:
                    for port in (local, remote):
                        if port in by_port:
                            counts[f"time_wait_{by_port[port]}"] += 1
                            break
                elif state == _ESTABLISHED and inode in owned and remote in by_port:
                    counts[f"gw_to_{by_port[remote]}"] += 1
    except OSError:
        pass
    return counts


@dataclass(slots=True)
class Meter:
    """CPU of the processes under test plus per-core busy time, between two marks."""

    pids: dict[str, int]
    gateway_pid: int | None
    ports: dict[str, int]
    readings: dict[str, dict[str, Any]] = field(default_factory=dict)

    def mark(self, label: str) -> None:
        reading: dict[str, Any] = {"t": time.perf_counter_ns(), "self": time.process_time_ns()}
        for name, pid in self.pids.items():
            try:
                reading[name] = cpu_ns(pid)
            except OSError:
                reading[name] = 0
        reading["cores"] = core_times()
        reading["tcp"] = tcp_snapshot(self.gateway_pid, self.ports)
        self.readings[label] = reading

    def result(self, side_core: int | None, gateway_core: int | None) -> dict[str, Any]:
        """CPU used in the window, in ns and as % of one core."""
        a, b = self.readings.get("start"), self.readings.get("end")
        if a is None or b is None:
            return {}
        wall = b["t"] - a["t"]
        out: dict[str, Any] = {"wall_s": wall / 1e9}
        ours = 0
        for name in [*self.pids, "self"]:
            used = b[name] - a[name]
            ours += used
            out[f"{name}_cpu_ns"] = used
            out[f"{name}_cpu_pct"] = 100.0 * used / wall if wall else 0.0
        cores = {}
        total_busy = 0
        total_steal = 0
        for core, after in b["cores"].items():
            before = a["cores"].get(core)
            if before is None:
                continue
            busy = after["busy"] - before["busy"]
            total_busy += busy
            total_steal += after["steal"] - before["steal"]
            cores[core] = 100.0 * busy / wall if wall else 0.0
        out["core_busy_pct"] = cores
        if side_core is not None:
            out["side_core_busy_pct"] = cores.get(f"cpu{side_core}", 0.0)
        if gateway_core is not None:
            out["gateway_core_busy_pct"] = cores.get(f"cpu{gateway_core}", 0.0)
        out["other_cpu_pct"] = max(0.0, 100.0 * (total_busy - ours) / wall) if wall else 0.0
        out["steal_pct"] = 100.0 * total_steal / wall if wall else 0.0
        out["tcp_start"] = a["tcp"]
        out["tcp_end"] = b["tcp"]
        return out
